import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  InvalidElectionOptionError,
  LeaderElectionModule,
  LeaderElectionSetupError,
  LeaderOnly,
  LeaderTask,
  MemoryLeaseStore,
  type ElectionLogger,
} from '../../lib/index.js';
import { LeaderElectionTestingModule } from '../../lib/testing/index.js';
import { bootTestingApp, flush } from '../support/nest-testing.js';

// Findings of the hostile review of the Nest layer (2026-12-07, issue 19), moved here from
// test/pending/review-nest.spec.ts once fixed: options that cannot apply, secrets, decorator options.

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function bootKit(
  providers: unknown[],
  options: Parameters<typeof LeaderElectionTestingModule.forRoot>[0] = {},
): Promise<INestApplication> {
  app = await bootTestingApp({
    imports: [LeaderElectionTestingModule.forRoot(options)],
    providers: providers as never[],
  });
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

// ---------------------------------------------------------------------------------------------
// Finding: containerName was silently ignored beside containerClient or a custom store, so two replicas
// could elect on different containers (two leaders). It is now refused at boot, like credential
// without accountUrl.

async function bootRejects(options: Record<string, unknown>): Promise<boolean> {
  try {
    // Options are resolved when the module's providers are instantiated (compile); the app is not
    // initialised, so nothing reaches the network.
    await Test.createTestingModule({
      imports: [LeaderElectionModule.forRoot({ logger: false, autoStart: false, ...options } as never)],
    }).compile();
    return false;
  } catch {
    return true;
  }
}

describe('review-nest: storage options that cannot apply', () => {
  it('containerName with an existing ContainerClient of another container is accepted and ignored', async () => {
    const { ContainerClient } = await import('@azure/storage-blob');
    const containerClient = new ContainerClient('https://account.blob.core.windows.net/other-container');
    expect(await bootRejects({ containerClient, containerName: 'leases' })).toBe(true);
  });

  it('containerName with a custom store is accepted and ignored', async () => {
    // Control: the same path refuses "credential" without accountUrl (an option that cannot apply).
    const credential = { getToken: async () => null };
    expect(await bootRejects({ store: new MemoryLeaseStore(), credential })).toBe(true);
    expect(await bootRejects({ store: new MemoryLeaseStore(), containerName: 'leases' })).toBe(true);
  });

  it("names containerName in the refusal, and accepts the ContainerClient's own container name", async () => {
    const { ContainerClient } = await import('@azure/storage-blob');
    const containerClient = new ContainerClient('https://account.blob.core.windows.net/leases');
    const refusal = Test.createTestingModule({
      imports: [
        LeaderElectionModule.forRoot({
          logger: false,
          autoStart: false,
          store: new MemoryLeaseStore(),
          containerName: 'leases',
        }),
      ],
    }).compile();
    await expect(refusal).rejects.toThrow(/"containerName" is only used with/);
    expect(await bootRejects({ containerClient, containerName: 'leases' })).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// Finding: an unknown option whose value is a bare storage account key (base64, no "AccountKey=") was
// echoed (80 of 88 characters) in the boot error. Unknown keys' values are now described by type only.

describe('review-nest: secrets in option errors', () => {
  it('a bare account key under an unknown option key is echoed (80 of 88 characters) in the boot error', async () => {
    const accountKey = Buffer.alloc(64, 0x5a).toString('base64').replace(/^.{8}/, 'Q2xhdWRl'); // 88 chars
    let message = '';
    let value: unknown = 'not set';
    try {
      await Test.createTestingModule({
        imports: [
          LeaderElectionModule.forRoot({
            accountUrl: 'https://account.blob.core.windows.net',
            accountKey,
          } as never),
        ],
      }).compile();
    } catch (error) {
      message = String((error as Error).message) + String((error as Error).stack);
      value = (error as InvalidElectionOptionError).value;
      expect((error as InvalidElectionOptionError).valueType).toBe('string');
    }
    expect(message).toContain('accountKey'); // refused, naming the option
    expect(message).toContain('got a string (value not shown)');
    expect(message).not.toContain(accountKey.slice(0, 24));
    expect(value).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------
// Finding: decorator options were not validated: an unknown key (leasename) gated on the default
// lease, and allowOverlap: "false" (an environment string) was read as true. Both are refused at
// decoration time now; the strings "true"/"false" are read as the module options read them.

describe('review-nest: decorator options', () => {
  it('@LeaderOnly accepts an unknown option key (leasename) and gates on the default lease instead', () => {
    const options = { leasename: 'billing', allowOverlap: false };
    expect(() => LeaderOnly(options as never)).toThrow(/leasename/);
    expect(() => LeaderOnly(options as never)).toThrow(LeaderElectionSetupError);
    expect(() => LeaderOnly(options as never)).toThrow('did you mean "leaseName"?');
  });

  it('@LeaderTask accepts an unknown option key (leasename) and runs on the default lease instead', () => {
    const options = { leasename: 'billing', restartDelayMs: 1000 };
    expect(() => LeaderTask(options as never)).toThrow(/leasename/);
    expect(() => LeaderTask(options as never)).toThrow('did you mean "leaseName"?');
  });

  it('@LeaderOnly({ allowOverlap: "false" }) (an environment string) is read as true: overlapping ticks both run', async () => {
    @Injectable()
    class SlowJob {
      running = 0;
      maxRunning = 0;
      release!: () => void;
      readonly released = new Promise<void>((resolve) => (this.release = resolve));
      @LeaderOnly({ allowOverlap: 'false' as unknown as boolean })
      async tick(): Promise<void> {
        this.running++;
        this.maxRunning = Math.max(this.maxRunning, this.running);
        await this.released;
        this.running--;
      }
    }
    let refused = false;
    try {
      await bootKit([SlowJob], { role: 'leader' });
    } catch {
      refused = true;
    }
    let maxRunning = 0;
    if (!refused) {
      const job = app!.get(SlowJob);
      const first = job.tick();
      const second = job.tick(); // overlapping tick: must be skipped ("false" means false)
      job.release();
      await Promise.all([first, second]);
      maxRunning = job.maxRunning;
    }
    // Refused at decoration/boot, or read as false: never two overlapping runs.
    expect(refused || maxRunning === 1).toBe(true);
  });

  it('refuses an allowOverlap or runMissedTimeout that is no boolean, naming the option', () => {
    expect(() => LeaderOnly({ allowOverlap: 'no' as never })).toThrow(/"allowOverlap" got "no"/);
    expect(() => LeaderOnly({ runMissedTimeout: 1 as never })).toThrow(/"runMissedTimeout" got a number/);
    expect(() =>
      LeaderOnly({ allowOverlap: 'true' as never, runMissedTimeout: 'false' as never }),
    ).not.toThrow();
  });
});
