import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Injectable, Scope, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LeadershipEndedError } from '../../lib/core/errors.js';
import { LeaderElector } from '../../lib/core/leader-elector.js';
import { runWhileLeader } from '../../lib/core/leader-task.js';
import { LeaseLostError } from '../../lib/core/lease-store.js';
import { RenewalThread } from '../../lib/renewal/renewal-thread.js';
import {
  ElectorStoppedError,
  InvalidElectionOptionError,
  LeaderElectionError,
  LeaderElectionModule,
  LeaderElectionService,
  LeaderElectionSetupError,
  LeaderOnly,
  LeaderTask,
  MemoryLeaseStore,
  NotLeaderError,
  UnknownLeaseError,
  LeadershipEndedError as EntryLeadershipEndedError,
} from '../../lib/index.js';
import { LeaderElectionTesting, LeaderElectionTestingModule } from '../../lib/testing/index.js';
import { resolveLeaderElectionOptions } from '../../lib/nest/leader-election-options.resolver.js';

// Errors users can catch: one base class, typed subclasses, exported from the package entry.

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

describe('LeaderElectionError and its subclasses', () => {
  it('are exported, share the base class and carry their name', () => {
    for (const type of [
      InvalidElectionOptionError,
      LeaderElectionSetupError,
      NotLeaderError,
      ElectorStoppedError,
      UnknownLeaseError,
      // The class core/leader-elector.ts is to re-export (see the branch report); until then the
      // package exports the elector's own class.
      LeadershipEndedError,
    ]) {
      expect(type.prototype).toBeInstanceOf(LeaderElectionError);
    }
    const error = new NotLeaderError('jobs');
    expect(error.name).toBe('NotLeaderError');
    expect(error.leaseName).toBe('jobs');
  });

  it('option and setup errors of the module are LeaderElectionErrors naming the option', () => {
    const invalid = thrown(() =>
      resolveLeaderElectionOptions({ store: new MemoryLeaseStore(), leaseDurationSeconds: 5 }),
    );
    expect(invalid).toBeInstanceOf(InvalidElectionOptionError);
    expect(invalid).toBeInstanceOf(LeaderElectionError);
    expect((invalid as InvalidElectionOptionError).option).toBe('leaseDurationSeconds');
    expect(thrown(() => resolveLeaderElectionOptions({}))).toBeInstanceOf(LeaderElectionSetupError);
    expect(
      thrown(() =>
        resolveLeaderElectionOptions({
          store: new MemoryLeaseStore(),
          connectionString: 'UseDevelopmentStorage=true',
        }),
      ),
    ).toBeInstanceOf(LeaderElectionSetupError);
  });

  it('decorating something that is not a method is a setup error', () => {
    const descriptor = { value: 42 } as PropertyDescriptor;
    expect(thrown(() => LeaderOnly()({}, 'x', descriptor))).toBeInstanceOf(LeaderElectionSetupError);
    expect(thrown(() => LeaderTask()({}, 'x', descriptor))).toBeInstanceOf(LeaderElectionSetupError);
  });

  it('leader work on a request-scoped provider is refused at boot with a setup error', async () => {
    @Injectable({ scope: Scope.REQUEST })
    class PerRequest {
      @LeaderTask()
      async run(): Promise<void> {}
    }
    const moduleRef = await Test.createTestingModule({
      imports: [LeaderElectionModule.forRoot({ store: new MemoryLeaseStore(), logger: false })],
      providers: [PerRequest],
    }).compile();
    app = moduleRef.createNestApplication();
    await expect(app.init()).rejects.toBeInstanceOf(LeaderElectionSetupError);
  });

  it('service and testing kit: unknown lease, stopped election, bad arguments', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [LeaderElectionTestingModule.forRoot()],
    }).compile();
    app = moduleRef.createNestApplication();
    await app.init();
    const service = app.get(LeaderElectionService);
    const unknown = thrown(() => service.getState('from-input'));
    expect(unknown).toBeInstanceOf(UnknownLeaseError);
    expect((unknown as UnknownLeaseError).leaseName).toBe('from-input');
    await expect(service.waitForLeadership('from-input')).rejects.toBeInstanceOf(LeaderElectionError);
    expect(thrown(() => app!.get(LeaderElectionTesting).elector('nope'))).toBeInstanceOf(UnknownLeaseError);
    expect(thrown(() => service.leaderOnly(42 as never))).toBeInstanceOf(InvalidElectionOptionError);
    expect(thrown(() => app!.get(LeaderElectionTesting).becomeLeader(undefined, { term: 0 }))).toBeInstanceOf(
      InvalidElectionOptionError,
    );
    await service.shutdown();
    expect(thrown(() => service.runWhileLeader(() => undefined))).toBeInstanceOf(ElectorStoppedError);
  });
});

describe('errors from the core, the stores and the renewal thread', () => {
  it('no throw in lib/ uses a plain Error, TypeError or RangeError, and no error class bypasses the base', () => {
    const libRoot = fileURLToPath(new URL('../../lib', import.meta.url));
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        // The worker source is eval'd in a thread of its own and cannot import the error classes;
        // what it throws is caught there and posted back as a message.
        else if (path.endsWith('.ts') && !path.endsWith('renewal-worker-source.ts')) {
          readFileSync(path, 'utf8')
            .split('\n')
            .forEach((line, i) => {
              if (/throw new (Error|TypeError|RangeError)\(|class \w+ extends Error\b/.test(line))
                offenders.push(`${path.slice(libRoot.length + 1)}:${i + 1}`);
            });
        }
      }
    };
    walk(libRoot);
    expect(offenders).toEqual(['core/errors.ts:9']);
  });

  it('the package entry exports the one LeadershipEndedError, and store errors are LeaderElectionErrors', () => {
    expect(EntryLeadershipEndedError).toBe(LeadershipEndedError);
    expect(new LeadershipEndedError('stopped')).toBeInstanceOf(LeaderElectionError);
    expect(new LeaseLostError('gone')).toBeInstanceOf(LeaderElectionError);
  });

  it('the elector: yieldTo on a follower is NotLeaderError, bad cooldown an InvalidElectionOptionError', async () => {
    const elector = new LeaderElector(new MemoryLeaseStore(), { leaseName: 'jobs', identity: 'a' });
    await expect(elector.yieldTo('b')).rejects.toBeInstanceOf(NotLeaderError);
    await expect(elector.stepDown({ cooldownMs: -1 })).rejects.toBeInstanceOf(InvalidElectionOptionError);
    await elector.stop();
  });

  it('runWhileLeader and the renewal thread refuse bad options with a LeaderElectionSetupError', () => {
    const elector = new LeaderElector(new MemoryLeaseStore(), { leaseName: 'jobs', identity: 'a' });
    expect(thrown(() => runWhileLeader(elector, 42 as never))).toBeInstanceOf(LeaderElectionSetupError);
    expect(thrown(() => new RenewalThread({ maxBlockedMs: 5 } as never))).toBeInstanceOf(
      LeaderElectionSetupError,
    );
  });
});
