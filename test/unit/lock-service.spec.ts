import 'reflect-metadata';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Injectable, type INestApplication } from '@nestjs/common';
import { Cron, Interval, Timeout } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import {
  currentLock,
  LeaderElectionModule,
  LeaderElectionSetupError,
  LockManagerStoppedError,
  LockNotAcquiredError,
  LockService,
  MemoryLeaseStore,
  OnOneReplica,
  WithLock,
  type JobRunEvent,
  type LockContext,
} from '../../lib/index.js';

const apps: INestApplication[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

let hold = gate();

@Injectable()
class Orders {
  readonly shipped: string[] = [];
  seen?: LockContext;

  @WithLock((orderId: string) => `order/${orderId}`)
  async ship(orderId: string): Promise<string> {
    this.seen = currentLock();
    await hold.promise;
    this.shipped.push(orderId);
    return `shipped ${orderId}`;
  }

  @WithLock('nightly', { ifLocked: 'skip' })
  async nightly(): Promise<string> {
    await hold.promise;
    return 'ran';
  }
}

@Injectable()
class Jobs {
  static runs: string[] = [];
  constructor(private readonly locks: LockService) {}

  @Interval(60_000)
  @OnOneReplica()
  async every(): Promise<string> {
    Jobs.runs.push(`every:${this.locks.identity}:${currentLock()?.term}`);
    return 'done';
  }

  @OnOneReplica({ job: 'other-order' })
  @Interval(60_000)
  async otherOrder(): Promise<void> {
    Jobs.runs.push(`other-order:${this.locks.identity}`);
  }
}

async function replica(store: MemoryLeaseStore, identity: string, providers: unknown[] = [Orders, Jobs]) {
  const moduleRef = await Test.createTestingModule({
    imports: [LeaderElectionModule.forRoot({ store, identity, logger: false, metrics: false })],
    providers: providers as never[],
  }).compile();
  const app = moduleRef.createNestApplication();
  await app.init();
  apps.push(app);
  return app;
}

describe('LockService and @WithLock', () => {
  it('LockService is provided by LeaderElectionModule and locks across replicas', async () => {
    const store = new MemoryLeaseStore();
    const [a, b] = [await replica(store, 'a'), await replica(store, 'b')];
    hold = gate();
    const held = a.get(LockService).withLock('report', () => hold.promise);
    await new Promise((resolve) => setImmediate(resolve));
    await expect(b.get(LockService).tryWithLock('report', () => 'x')).resolves.toEqual({
      acquired: false,
      holder: 'a',
    });
    hold.open();
    await held;
    await expect(b.get(LockService).tryWithLock('report', ({ term }) => term)).resolves.toEqual({
      acquired: true,
      value: 2,
      term: 2,
    });
  });

  it('@WithLock names the lock from the arguments; a held lock rejects with LockNotAcquiredError', async () => {
    const store = new MemoryLeaseStore();
    const [a, b] = [await replica(store, 'a'), await replica(store, 'b')];
    hold = gate();
    const first = a.get(Orders).ship('42');
    await new Promise((resolve) => setImmediate(resolve));
    await expect(b.get(Orders).ship('42')).rejects.toBeInstanceOf(LockNotAcquiredError);
    hold.open();
    await expect(first).resolves.toBe('shipped 42');
    expect(a.get(Orders).seen).toMatchObject({ name: 'order/42', term: 1 });
    await expect(b.get(Orders).ship('43')).resolves.toBe('shipped 43');
  });

  it("@WithLock({ ifLocked: 'skip' }) resolves undefined when the lock is held elsewhere", async () => {
    const store = new MemoryLeaseStore();
    const [a, b] = [await replica(store, 'a'), await replica(store, 'b')];
    hold = gate();
    const first = a.get(Orders).nightly();
    await new Promise((resolve) => setImmediate(resolve));
    await expect(b.get(Orders).nightly()).resolves.toBeUndefined();
    hold.open();
    await expect(first).resolves.toBe('ran');
  });

  it('@WithLock on an instance outside a Nest app refuses to run the method unlocked', async () => {
    await expect(new Orders().ship('1')).rejects.toBeInstanceOf(LeaderElectionSetupError);
  });

  it('refuses bad decorator options at decoration time, naming the option', () => {
    expect(() => WithLock('../x')).toThrow(/"@WithLock name"/);
    expect(() => WithLock('x', { waitMs: -5 })).toThrow(/"waitMs": got -5/);
    expect(() => WithLock('x', { ifLocked: 'wait' as 'skip' })).toThrow(/"@WithLock ifLocked": got "wait"/);
    expect(() => OnOneReplica({ periodMs: 0 })).toThrow(/"@OnOneReplica periodMs": got 0/);
    expect(() => OnOneReplica({ every: 5 } as never)).toThrow(/"@OnOneReplica every"/);
  });
});

describe('@OnOneReplica (per-run jobs)', () => {
  // A fixed wall clock inside one minute: the replicas' calls must not straddle a tick boundary.
  beforeEach(() => {
    jest.spyOn(Date, 'now').mockReturnValue(1_700_000_010_000);
  });
  afterEach(() => {
    jest.restoreAllMocks();
  });

  it('each tick runs on exactly one replica, in either decorator order; runs$ says who ran it', async () => {
    const store = new MemoryLeaseStore();
    const replicas = [await replica(store, 'a'), await replica(store, 'b'), await replica(store, 'c')];
    const events: JobRunEvent[] = [];
    for (const app of replicas) app.get(LockService).runs$.subscribe((event) => events.push(event));
    Jobs.runs = [];
    const results = await Promise.all(replicas.map((app) => app.get(Jobs).every()));
    await Promise.all(replicas.map((app) => app.get(Jobs).otherOrder()));
    expect(Jobs.runs.filter((run) => run.startsWith('every:'))).toHaveLength(1);
    expect(Jobs.runs.filter((run) => run.startsWith('other-order:'))).toHaveLength(1);
    expect(results.filter((result) => result === 'done')).toHaveLength(1);
    expect(Jobs.runs[0]).toMatch(/^every:[abc]:1$/);
    const every = events.filter((event) => event.job === 'Jobs.every');
    expect(every.map((event) => event.outcome).sort()).toEqual(['held-elsewhere', 'held-elsewhere', 'ran']);
    expect(every[0]!.tickAt).toBe(1_699_999_980_000);
    // The same tick, tried again later on the replica that ran it, stays done.
    Jobs.runs = [];
    await replicas[0]!.get(Jobs).every();
    expect(Jobs.runs).toEqual([]);
  });

  it('a tick after the locks stopped (shutdown) is skipped, not an error', async () => {
    const app = await replica(new MemoryLeaseStore(), 'a');
    const jobs = app.get(Jobs);
    await app.get(LockService).onModuleDestroy();
    Jobs.runs = [];
    await expect(jobs.every()).resolves.toBeUndefined();
    expect(Jobs.runs).toEqual([]);
  });

  it('refuses at boot a @Cron without periodMs and a @Timeout (no shared tick)', async () => {
    @Injectable()
    class CronJob {
      @Cron('*/5 * * * * *')
      @OnOneReplica()
      run(): void {}
    }
    @Injectable()
    class TimeoutJob {
      @Timeout(100)
      @OnOneReplica({ periodMs: 1000 })
      run(): void {}
    }
    await expect(replica(new MemoryLeaseStore(), 'a', [CronJob])).rejects.toThrow(
      /@OnOneReplica on CronJob.run needs periodMs/,
    );
    await expect(replica(new MemoryLeaseStore(), 'a', [TimeoutJob])).rejects.toThrow(/a @Timeout fires once/);
  });

  it('refuses at boot one job name on two different methods (e.g. two classes named alike)', async () => {
    // Hostile review of the locks, finding 1: default job names are "Class.method", so two modules'
    // `ReportJobs.nightly` shared one tick record and one of the two jobs silently never ran.
    const reportJobs = () => {
      @Injectable()
      class ReportJobs {
        @Interval(60_000)
        @OnOneReplica()
        nightly(): void {}
      }
      return ReportJobs;
    };
    const [billing, audit] = [reportJobs(), reportJobs()];
    await expect(replica(new MemoryLeaseStore(), 'a', [billing, audit])).rejects.toThrow(
      /@OnOneReplica job "ReportJobs.nightly" is used by two different methods .*distinct `job` option/,
    );
    // One class provided twice is one job (its instances share the tick): allowed.
    const shared = reportJobs();
    await expect(
      replica(new MemoryLeaseStore(), 'a', [shared, { provide: 'second', useClass: shared }]),
    ).resolves.toBeDefined();
  });

  it('an error the method throws rejects its tick, even a LockManagerStoppedError (it ran)', async () => {
    // Hostile review of the locks, finding 2: that error was taken for "the locks stopped before
    // the tick" and the tick resolved undefined, hiding the failure.
    @Injectable()
    class Failing {
      static ran = 0;
      @Interval(60_000)
      @OnOneReplica()
      async sync(): Promise<void> {
        Failing.ran++;
        throw new LockManagerStoppedError('inventory');
      }
    }
    const app = await replica(new MemoryLeaseStore(), 'a', [Failing]);
    await expect(app.get(Failing).sync()).rejects.toBeInstanceOf(LockManagerStoppedError);
    expect(Failing.ran).toBe(1);
  });

  it('a @Cron with periodMs keys ticks by the start of the period', async () => {
    @Injectable()
    class CronJob {
      static ran = 0;
      @Cron('0 * * * * *')
      @OnOneReplica({ periodMs: 60_000, job: 'minutely' })
      run(): void {
        CronJob.ran++;
      }
    }
    const store = new MemoryLeaseStore();
    const [a, b] = [await replica(store, 'a', [CronJob]), await replica(store, 'b', [CronJob])];
    const events: JobRunEvent[] = [];
    a.get(LockService).runs$.subscribe((event) => events.push(event));
    await a.get(CronJob).run();
    await b.get(CronJob).run();
    expect(CronJob.ran).toBe(1);
    expect(events[0]).toMatchObject({ job: 'minutely', identity: 'a', outcome: 'ran' });
    expect(events[0]!.tickAt).toBe(1_699_999_980_000);
  });
});

describe('lock metrics', () => {
  beforeEach(() => {
    jest.spyOn(Date, 'now').mockReturnValue(1_700_000_010_000);
  });
  afterEach(() => {
    jest.restoreAllMocks();
  });

  it('counts per-run ticks by job and outcome (the replica that ran it counts "ran"), and lock waits', async () => {
    const { TestMetrics } = await import('../support/metrics-reader.js');
    const store = new MemoryLeaseStore();
    const metrics = [new TestMetrics(), new TestMetrics()];
    const boot = async (identity: string, telemetry: InstanceType<typeof TestMetrics>) => {
      const moduleRef = await Test.createTestingModule({
        imports: [
          LeaderElectionModule.forRoot({
            store,
            identity,
            logger: false,
            metrics: { meterProvider: telemetry.provider, includeIdentity: true },
          }),
        ],
        providers: [Jobs],
      }).compile();
      const app = moduleRef.createNestApplication();
      await app.init();
      apps.push(app);
      return app;
    };
    const a = await boot('a', metrics[0]!);
    const b = await boot('b', metrics[1]!);
    await a.get(Jobs).every();
    await b.get(Jobs).every();
    await a.get(LockService).tryWithLock('m', () => 1);
    expect(await metrics[0]!.series('leader_election.job.runs')).toEqual(
      new Map([['identity=a,job=Jobs.every,outcome=ran', 1]]),
    );
    expect(await metrics[1]!.series('leader_election.job.runs')).toEqual(
      new Map([['identity=b,job=Jobs.every,outcome=held_elsewhere', 1]]),
    );
    const waits = await metrics[0]!.series('leader_election.lock.wait.duration');
    expect((waits.get('identity=a,outcome=acquired') as { count: number }).count).toBe(1);
  });
});
