import 'reflect-metadata';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Injectable, Module, type INestApplication } from '@nestjs/common';
import { ScheduleModule, SchedulerRegistry } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import {
  AzureBlobLeaseStore,
  LeaderElection,
  LeaderElectionModule,
  LeaderElectionService,
  LeaderTask,
  currentLeadership,
  type LeaderChangedEvent,
  type LeaderElectionModuleOptions,
  type Leadership,
  type LeadershipAcquiredEvent,
  type LeadershipLostEvent,
  type OnLeaderChanged,
  type OnLeadershipAcquired,
  type OnLeadershipLost,
} from '../../lib/index.js';

// Leader work beyond ticks (issue 8), on Azurite: two apps (replicas) in this process, one lease.

jest.setTimeout(20_000);

const connectionString = process.env.AZURITE_CONNECTION_STRING!;
let containerSeq = 0;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const live = (): AbortSignal => new AbortController().signal;

async function until(condition: () => boolean, timeoutMs: number, stepMs = 20): Promise<number> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
  return Date.now() - started;
}

/** A process-wide journal of task runs: which replica, which term, when it started and stopped. */
interface TaskRun {
  replica: string;
  term: number;
  startedAt: number;
  stoppedAt?: number;
}
const journal: TaskRun[] = [];

@Injectable()
class Consumer {
  /** How the next run behaves: 'polite' stops on abort; 'stubborn' ignores the signal until released. */
  static mode: 'polite' | 'stubborn' = 'polite';
  static releaseStubborn: (() => void) | undefined;

  constructor(private readonly election: LeaderElectionService) {}

  @LeaderTask()
  async consume(leadership: Leadership): Promise<void> {
    const run: TaskRun = { replica: this.election.identity, term: leadership.term, startedAt: Date.now() };
    journal.push(run);
    expect(currentLeadership()?.term).toBe(leadership.term);
    try {
      if (Consumer.mode === 'stubborn') {
        await new Promise<void>((resolve) => (Consumer.releaseStubborn = resolve));
        return;
      }
      while (!leadership.signal.aborted) await sleep(20); // the single reader's loop
    } finally {
      run.stoppedAt = Date.now();
    }
  }
}

const hookLog: string[] = [];

@Injectable()
@LeaderElection()
class Observer implements OnLeadershipAcquired, OnLeadershipLost, OnLeaderChanged {
  static throwOnAcquired = false;
  constructor(private readonly election: LeaderElectionService) {}

  onLeadershipAcquired(event: LeadershipAcquiredEvent): void {
    hookLog.push(`${this.election.identity}:acquired:${event.term}`);
    if (Observer.throwOnAcquired) throw new Error('hook failed');
  }

  onLeadershipLost(event: LeadershipLostEvent): void {
    hookLog.push(`${this.election.identity}:lost:${event.term}:${event.reason}`);
  }

  onLeaderChanged(event: LeaderChangedEvent): void {
    hookLog.push(`${this.election.identity}:leader:${event.leader}:${event.term}`);
  }
}

@Module({ providers: [Consumer, Observer] })
class WorkModule {}

const apps: INestApplication[] = [];
afterEach(async () => {
  Consumer.releaseStubborn?.();
  await Promise.allSettled(apps.splice(0).map((app) => app.close()));
  journal.length = 0;
  hookLog.length = 0;
  Consumer.mode = 'polite';
  Consumer.releaseStubborn = undefined;
  Observer.throwOnAcquired = false;
});

async function replica(
  identity: string,
  containerName: string,
  extra: Partial<LeaderElectionModuleOptions> = {},
): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      ScheduleModule.forRoot(),
      LeaderElectionModule.forRoot({
        connectionString,
        containerName,
        identity,
        retryIntervalMs: 200,
        retryJitter: 0,
        logger: false,
        ...extra,
      }),
      WorkModule,
    ],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  apps.push(app);
  return app;
}

const container = (): string => `e2e-work-${process.pid}-${++containerSeq}`;

describe('@LeaderTask on Azurite', () => {
  it('runs on exactly one of two replicas; stopping the leader starts it on the other within about one poll', async () => {
    const name = container();
    const a = await replica('a', name);
    const b = await replica('b', name);
    await until(() => journal.length === 1, 5_000);
    await sleep(500);
    expect(journal).toHaveLength(1);
    expect(journal[0]).toMatchObject({ replica: 'a', term: 1 });
    expect(journal[0]!.stoppedAt).toBeUndefined();

    const closedAt = Date.now();
    await a.close();
    apps.splice(apps.indexOf(a), 1);
    expect(journal[0]!.stoppedAt).toBeDefined(); // stopped (aborted, awaited) before the lease was released
    await until(() => journal.length === 2, 5_000);
    expect(journal[1]).toMatchObject({ replica: 'b', term: 2 });
    // The new run starts after the old one stopped: never two readers.
    expect(journal[1]!.startedAt).toBeGreaterThanOrEqual(journal[0]!.stoppedAt!);
    const gap = journal[1]!.startedAt - journal[0]!.stoppedAt!;
    expect(journal[1]!.startedAt - closedAt).toBeLessThan(10_000); // a bound on liveness, not a benchmark
    expect(gap).toBeGreaterThanOrEqual(0);
    expect(b.get(LeaderElectionService).isLeader()).toBe(true);
  });

  it('does not release the lease while a task ignores its signal past shutdownTimeoutMs; a follower takes over only after it expires', async () => {
    const name = container();
    Consumer.mode = 'stubborn';
    const a = await replica('a', name, { shutdownTimeoutMs: 200 });
    await until(() => journal.length === 1, 5_000);
    Consumer.mode = 'polite'; // for b's run
    await a.close();
    apps.splice(apps.indexOf(a), 1);
    const store = new AzureBlobLeaseStore({ connectionString, containerName: name });
    // Still held: the stubborn run goes on, so the lease was left to expire, not handed over.
    expect(await store.observe('leader', live())).toMatchObject({ held: true, holder: 'a' });
    expect(journal[0]!.stoppedAt).toBeUndefined();
    Consumer.releaseStubborn?.();
  });

  it('releases the lease at shutdown once the task has stopped in time', async () => {
    const name = container();
    const a = await replica('a', name, { shutdownTimeoutMs: 2_000 });
    await until(() => journal.length === 1, 5_000);
    await a.close();
    apps.splice(apps.indexOf(a), 1);
    const store = new AzureBlobLeaseStore({ connectionString, containerName: name });
    expect(await store.observe('leader', live())).toMatchObject({ held: false });
    expect(journal[0]!.stoppedAt).toBeDefined();
  });
});

describe('leadership hooks on Azurite', () => {
  it('fire once per transition, in order, on leader and follower; a throwing hook does not stop the election', async () => {
    const name = container();
    Observer.throwOnAcquired = true;
    const a = await replica('a', name);
    const b = await replica('b', name);
    await until(() => hookLog.includes('b:leader:a:1'), 5_000);
    await a.get(LeaderElectionService).stepDown(undefined, { cooldownMs: 60_000 });
    await until(() => hookLog.includes('b:acquired:2'), 5_000);
    await sleep(300);
    const aLines = hookLog.filter((line) => line.startsWith('a:'));
    const bLines = hookLog.filter((line) => line.startsWith('b:'));
    expect(aLines.slice(0, 3)).toEqual(['a:acquired:1', 'a:leader:a:1', 'a:lost:1:step-down']);
    expect(bLines).toEqual(['b:leader:a:1', 'b:acquired:2', 'b:leader:b:2']);
    expect(b.get(LeaderElectionService).isLeader()).toBe(true);
  }, 20_000);
});

describe('dynamic jobs (SchedulerRegistry)', () => {
  it('a leaderOnly() wrapper gates an interval added at run time: it runs on the leader only, inside the leadership context', async () => {
    const name = container();
    const a = await replica('a', name);
    const b = await replica('b', name);
    const runs: { replica: string; term: number | undefined }[] = [];
    for (const app of [a, b]) {
      const election = app.get(LeaderElectionService);
      const job = election.leaderOnly(
        () => {
          runs.push({ replica: election.identity, term: currentLeadership()?.term });
        },
        { name: 'dynamic-sync' },
      );
      app.get(SchedulerRegistry).addInterval('dynamic-sync', setInterval(job, 30));
    }
    await sleep(600);
    expect(runs.length).toBeGreaterThan(5);
    expect(new Set(runs.map((run) => run.replica))).toEqual(new Set(['a']));
    expect(runs.every((run) => run.term === 1)).toBe(true);
    expect(b.get(LeaderElectionService).skippedCount()).toBeGreaterThan(5);
  });
});
