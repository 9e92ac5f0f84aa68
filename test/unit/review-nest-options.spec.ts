import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { LeaderTask, type ElectionLogger } from '../../lib/index.js';
import { LeaderElectionTestingModule } from '../../lib/testing/index.js';

// Findings of the hostile review of the Nest layer (2026-12-07, issue 19), moved here from
// test/pending/review-nest.spec.ts once fixed: options that cannot apply, secrets, decorator options.

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function bootKit(
  providers: unknown[],
  options: Parameters<typeof LeaderElectionTestingModule.forRoot>[0] = {},
): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [LeaderElectionTestingModule.forRoot(options)],
    providers: providers as never[],
  }).compile();
  app = moduleRef.createNestApplication();
  await app.init();
  return app;
}

// ---------------------------------------------------------------------------------------------
// Finding: a password inside a URL (scheme://user:password@host) in a leader task failure's cause
// chain was logged as is; redactSecrets now redacts URL userinfo passwords.

@Injectable()
class FailingConsumer {
  @LeaderTask({ restartDelayMs: 60_000 })
  async consume(): Promise<void> {
    throw new Error('consumer failed', {
      cause: new Error('connect ECONNREFUSED amqp://orders:Hunter2SecretPw@rabbit:5672/prod'),
    });
  }
}

describe('review-nest: failure logging', () => {
  it('a password inside a URL in the cause chain of a leader task failure reaches the log', async () => {
    const lines: string[] = [];
    const logger: ElectionLogger = {
      log: () => undefined,
      warn: (message: string) => lines.push(message),
      error: (message: string, stack?: string) => lines.push(message, stack ?? ''),
    };
    await bootKit([FailingConsumer], { role: 'leader', logger });
    await flush();
    await flush();
    const text = lines.join('\n');
    expect(text).toContain('Caused by'); // the failure was logged with its cause chain
    expect(text).not.toContain('Hunter2SecretPw');
  });
});
