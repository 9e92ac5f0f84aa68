import 'reflect-metadata';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { LeaderElectionModule, MemoryLeaseStore, type ElectionLogger } from '../../lib/index.js';
import { LeaderElectionTestingModule } from '../../lib/testing/index.js';

// Issue 19 item 7: the real module under faked global timers warns once at init, naming the
// testing kit and the async advance (a synchronous advanceTimersByTime past the lease deadline
// ends leaderships before any renewal can run).

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
  jest.useRealTimers();
});

function capture(): { logger: ElectionLogger; warnings: string[] } {
  const warnings: string[] = [];
  return {
    warnings,
    logger: { log: () => undefined, warn: (message) => warnings.push(message), error: () => undefined },
  };
}

async function boot(module: unknown): Promise<void> {
  const moduleRef = await Test.createTestingModule({ imports: [module as never] }).compile();
  app = moduleRef.createNestApplication();
  await app.init();
}

const fakeTimerWarnings = (warnings: string[]): string[] =>
  warnings.filter((warning) => warning.includes('fake'));

describe('warning for the real module under fake timers (issue 19.7)', () => {
  it('warns once at init, naming the testing kit and the async advance', async () => {
    jest.useFakeTimers();
    const { logger, warnings } = capture();
    await boot(
      LeaderElectionModule.forRoot({ store: new MemoryLeaseStore(), logger, leaseName: 'a', identity: 'x' }),
    );
    const found = fakeTimerWarnings(warnings);
    expect(found).toHaveLength(1);
    expect(found[0]).toContain('LeaderElectionTestingModule');
    expect(found[0]).toContain('advanceTimersByTimeAsync');
  });

  it('says nothing with real timers', async () => {
    const { logger, warnings } = capture();
    await boot(LeaderElectionModule.forRoot({ store: new MemoryLeaseStore(), logger, identity: 'x' }));
    expect(fakeTimerWarnings(warnings)).toEqual([]);
  });

  it('says nothing for the testing kit under fake timers', async () => {
    jest.useFakeTimers();
    const { logger, warnings } = capture();
    await boot(LeaderElectionTestingModule.forRoot({ logger }));
    expect(fakeTimerWarnings(warnings)).toEqual([]);
  });
});
