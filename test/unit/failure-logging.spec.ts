import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Injectable, type INestApplication } from '@nestjs/common';
import { Timeout } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import {
  LeaderElection,
  LeaderOnly,
  LeaderTask,
  type ElectionLogger,
  type OnLeadershipAcquired,
} from '../../lib/index.js';
import { LeaderElectionTesting, LeaderElectionTestingModule } from '../../lib/testing/index.js';

// Issue 19 item 5: failures of leader tasks, hooks and missed @Timeout runs are logged the way
// Nest's Logger.error(message, stack) logs them: the stack, and the cause chain, with credentials
// redacted and control characters stripped.

function refused(): Error {
  const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5672'), { code: 'ECONNREFUSED' });
  return new Error('consumer failed AccountKey=c2VjcmV0c2VjcmV0c2VjcmV0\u001b[31m', { cause });
}

@Injectable()
@LeaderElection()
class Failing implements OnLeadershipAcquired {
  @LeaderTask({ restartDelayMs: 60_000 })
  async consume(): Promise<void> {
    throw refused();
  }

  onLeadershipAcquired(): void {
    throw refused();
  }

  @Timeout(1)
  @LeaderOnly()
  warmUp(): void {
    throw refused();
  }
}

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

const flush = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 5));

function capture(): { logger: ElectionLogger; errors: [string, string | undefined][] } {
  const errors: [string, string | undefined][] = [];
  return {
    errors,
    logger: {
      log: () => undefined,
      warn: () => undefined,
      error: (message: string, stack?: string) => errors.push([message, stack]),
    },
  };
}

function expectFullChain(entry: [string, string | undefined] | undefined): void {
  expect(entry).toBeDefined();
  const [message, stack] = entry!;
  expect(message).not.toContain('c2VjcmV0c2VjcmV0c2VjcmV0');
  expect(stack).toBeDefined();
  expect(stack).toContain('consumer failed');
  expect(stack).toMatch(/\n\s+at /); // the stack frames
  expect(stack).toContain('Caused by: Error: connect ECONNREFUSED 127.0.0.1:5672');
  expect(stack).toContain('[REDACTED]');
  expect(stack).not.toContain('c2VjcmV0c2VjcmV0c2VjcmV0');
  expect(stack).not.toContain('\u001b');
}

describe('failures are logged with stack and cause chain (issue 19.5)', () => {
  it('leader task, hook and missed @Timeout', async () => {
    const { logger, errors } = capture();
    const moduleRef = await Test.createTestingModule({
      imports: [LeaderElectionTestingModule.forRoot({ role: 'follower', logger })],
      providers: [Failing],
    }).compile();
    app = moduleRef.createNestApplication();
    await app.init();
    app.get(Failing).warmUp(); // the @Timeout tick, skipped on a follower: runs on becoming leader
    app.get(LeaderElectionTesting).becomeLeader();
    await flush();

    const hook = errors.find(([message]) => message.includes('onLeadershipAcquired'));
    const task = errors.find(([message]) => message.includes('Failing.consume'));
    const missed = errors.find(([message]) => message.includes('Missed @Timeout'));
    expectFullChain(hook);
    expectFullChain(task);
    expectFullChain(missed);
  });
});
