import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Controller, Get, Injectable, Module, UseInterceptors, type INestApplication } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { Interval, ScheduleModule, Timeout } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import {
  LeaderElectionHealthIndicator,
  LeaderElectionModule,
  LeaderElectionService,
  LeaderOnly,
  LeaderOnlyInterceptor,
  MemoryLeaseStore,
  currentLeadership,
  type LeaderElectionModuleOptions,
  type LeadershipContext,
} from '../../lib/index.js';
import { azuriteConnectionString, freePort, startAzurite } from '../support/azurite.mjs';

const connectionString = process.env.AZURITE_CONNECTION_STRING!;
let containerSeq = 0;
const container = (): string => `e2e-module-${process.pid}-${++containerSeq}`;

const fast: Partial<LeaderElectionModuleOptions> = {
  retryIntervalMs: 200,
  retryJitter: 0.1,
  startupTimeoutMs: 5_000,
  logger: false,
};

async function until(condition: () => boolean, timeoutMs: number, stepMs = 25): Promise<number> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
  return Date.now() - started;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------- fixtures

@Injectable()
class Jobs {
  intervalRuns = 0;
  reversedRuns = 0;
  timeoutRuns = 0;
  terms: number[] = [];

  // @LeaderOnly below @Interval: LeaderOnly wraps first, Interval marks the wrapper.
  @Interval(50)
  @LeaderOnly()
  tick(): string {
    this.intervalRuns++;
    this.terms.push(currentLeadership()!.term);
    return 'sync-result';
  }

  // The other order: Interval marks the original, LeaderOnly copies its metadata onto the wrapper.
  @LeaderOnly()
  @Interval(50)
  async reversed(): Promise<string> {
    this.reversedRuns++;
    return 'async-result';
  }

  @Timeout(10)
  @LeaderOnly()
  once(): void {
    this.timeoutRuns++;
  }
}

@Controller()
class LeaderController {
  @Get('leader-only')
  @UseInterceptors(LeaderOnlyInterceptor)
  @LeaderOnly()
  leaderOnly(): { ok: true } {
    return { ok: true };
  }

  @Get('leader-only-bare')
  @LeaderOnly()
  bare(): { ok: true } {
    return { ok: true };
  }

  @Get('open')
  @UseInterceptors(LeaderOnlyInterceptor)
  open(): { ok: true } {
    return { ok: true };
  }
}

async function createApp(
  options: LeaderElectionModuleOptions,
  extra: { providers?: unknown[]; controllers?: unknown[] } = {},
): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [ScheduleModule.forRoot(), LeaderElectionModule.forRoot({ ...fast, ...options })],
    providers: (extra.providers ?? [Jobs]) as never[],
    controllers: (extra.controllers ?? []) as never[],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  apps.push(app);
  return app;
}

let apps: INestApplication[] = [];
const closeAll = async (): Promise<void> => {
  await Promise.allSettled(apps.map((app) => app.close()));
  apps = [];
};
afterEach(closeAll);

// ---------------------------------------------------------------------------- tests

describe('LeaderElectionModule with @nestjs/schedule on Azurite', () => {
  it('runs @LeaderOnly jobs on exactly one of three app instances, in both decorator orders', async () => {
    const containerName = container();
    const instances = await Promise.all(
      ['a', 'b', 'c'].map((identity) => createApp({ connectionString, containerName, identity })),
    );
    const services = instances.map((app) => app.get(LeaderElectionService));
    expect(services.filter((service) => service.isLeader()).length).toBe(1);
    await sleep(1_000);
    const jobs = instances.map((app) => app.get(Jobs));
    const leaderIndex = services.findIndex((service) => service.isLeader());
    jobs.forEach((job, i) => {
      if (i === leaderIndex) {
        expect(job.intervalRuns).toBeGreaterThan(5);
        expect(job.reversedRuns).toBeGreaterThan(5);
        expect(job.timeoutRuns).toBe(1);
      } else {
        expect([job.intervalRuns, job.reversedRuns, job.timeoutRuns]).toEqual([0, 0, 0]);
      }
    });
    expect(new Set(jobs[leaderIndex]!.terms)).toEqual(new Set([services[leaderIndex]!.getState().term]));
    // Followers know who leads.
    for (const [i, service] of services.entries()) {
      if (i !== leaderIndex)
        expect(service.currentLeader()).toMatchObject({
          identity: ['a', 'b', 'c'][leaderIndex],
          self: false,
        });
    }
  }, 30_000);

  it('keeps sync handlers sync and async handlers async; followers skip without error', async () => {
    const containerName = container();
    const leader = await createApp({ connectionString, containerName, identity: 'leader' });
    const follower = await createApp({ connectionString, containerName, identity: 'follower' });
    expect(leader.get(LeaderElectionService).isLeader()).toBe(true);
    const leaderJobs = leader.get(Jobs);
    const followerJobs = follower.get(Jobs);
    expect(leaderJobs.tick()).toBe('sync-result');
    const asyncResult = leaderJobs.reversed();
    expect(asyncResult).toBeInstanceOf(Promise);
    await expect(asyncResult).resolves.toBe('async-result');
    expect(followerJobs.tick()).toBeUndefined();
    const skipped = followerJobs.reversed();
    expect(skipped).toBeInstanceOf(Promise);
    await expect(skipped).resolves.toBeUndefined();
    expect(followerJobs.intervalRuns).toBe(0);
  }, 30_000);

  it('takes over within about one retry interval when the leader app closes, and runs the jobs there', async () => {
    const containerName = container();
    const first = await createApp({ connectionString, containerName, identity: 'first' });
    const second = await createApp({ connectionString, containerName, identity: 'second' });
    const firstTerm = first.get(LeaderElectionService).getState().term!;
    const closedAt = Date.now();
    await first.close();
    const service = second.get(LeaderElectionService);
    const takeoverMs = await until(() => service.isLeader(), 5_000, 10);
    const runsAtTakeover = second.get(Jobs).intervalRuns;
    await sleep(300);
    expect(second.get(Jobs).intervalRuns).toBeGreaterThan(runsAtTakeover);
    expect(service.getState().term).toBeGreaterThan(firstTerm);
    // retryInterval 200 ms ± 10 %, plus request time: well under a second; the lease is 15 s.
    expect(Date.now() - closedAt).toBeLessThan(5_000);
    console.log(`graceful takeover after app.close(): ${takeoverMs} ms`);
  }, 30_000);
});

@Injectable()
class LongJob {
  started = 0;
  abortedWithTerm: number | undefined;
  context: LeadershipContext | undefined;
  finished = false;

  @LeaderOnly()
  async run(): Promise<void> {
    this.started++;
    const context = currentLeadership()!;
    this.context = context;
    await new Promise<void>((resolve) =>
      context.signal.addEventListener('abort', () => resolve(), { once: true }),
    );
    this.abortedWithTerm = context.term;
    await sleep(200); // cleanup after abort
    this.finished = true;
  }

  @LeaderOnly('billing')
  billing(): string {
    return `billing by ${currentLeadership()!.identity}`;
  }

  @LeaderOnly()
  async slow(): Promise<void> {
    await sleep(300);
  }

  @LeaderOnly({ allowOverlap: true })
  async slowOverlapping(): Promise<void> {
    await sleep(300);
  }
}

describe('leadership context, step-down, named leases, overlap, shutdown', () => {
  it('aborts the run’s AbortSignal on step-down, and the other replica leads', async () => {
    const containerName = container();
    const a = await createApp({ connectionString, containerName, identity: 'a' }, { providers: [LongJob] });
    const b = await createApp({ connectionString, containerName, identity: 'b' }, { providers: [LongJob] });
    const job = a.get(LongJob);
    const running = job.run();
    await until(() => job.started === 1, 2_000);
    expect(job.context!.isActive()).toBe(true);
    expect(a.get(LeaderElectionService).runningCount()).toBe(1);
    await a.get(LeaderElectionService).stepDown(undefined, { cooldownMs: 60_000 });
    expect(job.context!.signal.aborted).toBe(true);
    expect(job.context!.isActive()).toBe(false);
    await running;
    expect(job.abortedWithTerm).toBe(1);
    await until(() => b.get(LeaderElectionService).isLeader(), 5_000);
    expect(b.get(LeaderElectionService).getState().term).toBe(2);
  }, 30_000);

  it('elects named leases independently', async () => {
    const containerName = container();
    const a = await createApp({ connectionString, containerName, identity: 'a' }, { providers: [LongJob] });
    const b = await createApp({ connectionString, containerName, identity: 'b' }, { providers: [LongJob] });
    const serviceA = a.get(LeaderElectionService);
    const serviceB = b.get(LeaderElectionService);
    // Both leases were discovered from @LeaderOnly('billing') and started at init.
    expect(serviceA.leaseNames.sort()).toEqual(['billing', 'leader']);
    expect(serviceA.isLeader('billing')).toBe(true);
    expect(a.get(LongJob).billing()).toBe('billing by a');
    await serviceA.stepDown('billing', { cooldownMs: 60_000 });
    await until(() => serviceB.isLeader('billing'), 5_000);
    expect(serviceA.isLeader()).toBe(true); // still leads the default lease
    expect(serviceB.isLeader()).toBe(false);
    expect(b.get(LongJob).billing()).toBe('billing by b');
    expect(a.get(LongJob).billing()).toBeUndefined();
  }, 30_000);

  it('skips an overlapping run unless allowOverlap is set', async () => {
    const app = await createApp(
      { store: new MemoryLeaseStore(), identity: 'solo' },
      { providers: [LongJob] },
    );
    const job = app.get(LongJob);
    const service = app.get(LeaderElectionService);
    const first = job.slow();
    const second = job.slow();
    expect(service.runningCount()).toBe(1);
    await Promise.all([first, second]);
    const third = job.slowOverlapping();
    const fourth = job.slowOverlapping();
    expect(service.runningCount()).toBe(2);
    await Promise.all([third, fourth]);
    expect(service.runningCount()).toBe(0);
  });

  it('on close: aborts runs, waits for them, then releases, so a follower leads within one poll', async () => {
    const containerName = container();
    const a = await createApp({ connectionString, containerName, identity: 'a' }, { providers: [LongJob] });
    const b = await createApp({ connectionString, containerName, identity: 'b' }, { providers: [LongJob] });
    const job = a.get(LongJob);
    void job.run();
    await until(() => job.started === 1, 2_000);
    await a.close();
    // close() returned only after the job finished its cleanup.
    expect(job.finished).toBe(true);
    const takeoverMs = await until(() => b.get(LeaderElectionService).isLeader(), 5_000, 10);
    expect(takeoverMs).toBeLessThan(2_000);
  }, 30_000);
});

describe('configuration', () => {
  it('works with forRootAsync and ConfigService', async () => {
    const containerName = container();
    process.env.TEST_LEADER_CONNECTION = connectionString;
    const moduleRef = await Test.createTestingModule({
      imports: [
        ConfigModule.forRoot({ ignoreEnvFile: true }),
        LeaderElectionModule.forRootAsync({
          imports: [ConfigModule],
          inject: [ConfigService],
          useFactory: (config: ConfigService) => ({
            connectionString: config.getOrThrow<string>('TEST_LEADER_CONNECTION'),
            containerName,
            identity: 'from-config',
            ...fast,
          }),
        }),
      ],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    apps.push(app);
    const service = app.get(LeaderElectionService);
    expect(service.identity).toBe('from-config');
    expect(service.isLeader()).toBe(true);
  }, 30_000);

  it('is usable from other modules when isGlobal is set', async () => {
    @Injectable()
    class Consumer {
      constructor(readonly election: LeaderElectionService) {}
    }
    @Module({ providers: [Consumer], exports: [Consumer] })
    class FeatureModule {}
    const moduleRef = await Test.createTestingModule({
      imports: [
        LeaderElectionModule.forRoot({
          store: new MemoryLeaseStore(),
          identity: 'g',
          isGlobal: true,
          logger: false,
        }),
        FeatureModule,
      ],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    apps.push(app);
    expect(app.get(Consumer).election.isLeader()).toBe(true);
  });

  const badOptions: Array<[string, Partial<LeaderElectionModuleOptions>, RegExp]> = [
    [
      'lease too short',
      { connectionString: 'UseDevelopmentStorage=true', leaseDurationSeconds: 5 },
      /"leaseDurationSeconds": got 5; allowed: a whole number of seconds from 15 to 60/,
    ],
    [
      'renew too slow',
      { connectionString: 'UseDevelopmentStorage=true', renewIntervalMs: 14_500 },
      /"renewIntervalMs": got 14500/,
    ],
    [
      'bad container',
      { connectionString: 'UseDevelopmentStorage=true', containerName: 'Bad_Name' },
      /"containerName": got "Bad_Name"/,
    ],
    ['no storage', {}, /no lease storage configured/],
    [
      'two storages',
      { connectionString: 'UseDevelopmentStorage=true', store: new MemoryLeaseStore() },
      /conflicting storage options "connectionString", "store"/,
    ],
    ['empty connection string', { connectionString: '' }, /"connectionString"/],
    ['account URL without credential', { accountUrl: 'https://acct.blob.core.windows.net' }, /"credential"/],
    [
      'bad shutdown timeout',
      { store: new MemoryLeaseStore(), shutdownTimeoutMs: -1 },
      /"shutdownTimeoutMs": got -1/,
    ],
    [
      'bad lease name',
      { store: new MemoryLeaseStore(), leaseName: 'has space' },
      /"leaseName": got "has space"/,
    ],
  ];

  it.each(badOptions)('fails boot with a clear error: %s', async (_label, options, expected) => {
    const boot = async (): Promise<void> => {
      const moduleRef = await Test.createTestingModule({
        imports: [LeaderElectionModule.forRoot({ logger: false, ...options })],
      }).compile();
      await moduleRef.close();
    };
    await expect(boot()).rejects.toThrow(expected);
  });

  it('never shows the connection string secret in a configuration error', async () => {
    const secret = 'c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LWxlYWs=';
    const boot = async (): Promise<void> => {
      const moduleRef = await Test.createTestingModule({
        imports: [
          LeaderElectionModule.forRoot({
            connectionString: `AccountName=x;AccountKey=${secret};BlobEndpoint=http://127.0.0.1:1/x`,
            leaseDurationSeconds: 100,
          }),
        ],
      }).compile();
      await moduleRef.close();
    };
    const error = await boot().catch((caught: unknown) => caught as Error);
    expect(String(error)).toMatch(/leaseDurationSeconds/);
    expect(`${String(error)} ${(error as Error).stack}`).not.toContain(secret);
  });
});

describe('storage outage at boot, health, and the interceptor', () => {
  it('boots as follower while storage is down, reports down after the outage bound, and leads once storage is back', async () => {
    const port = await freePort();
    const app = await createApp(
      {
        connectionString: azuriteConnectionString(port),
        containerName: container(),
        identity: 'patient',
        healthStoreOutageMs: 500,
        requestTimeoutMs: 1_000,
        healthDetails: 'full',
      },
      { providers: [Jobs] },
    );
    const service = app.get(LeaderElectionService);
    const health = app.get(LeaderElectionHealthIndicator);
    expect(service.isLeader()).toBe(false);
    expect(service.getState().lastError?.kind).toBe('transient');
    await sleep(700);
    const down = health.isHealthy('leaderElection').leaderElection!;
    expect(down).toMatchObject({ status: 'down', role: 'follower', identity: 'patient', leader: null });
    expect(down.reason).toMatch(/unreachable/);
    expect(app.get(Jobs).intervalRuns).toBe(0);

    const azurite = await startAzurite({ port });
    try {
      await until(() => service.isLeader(), 10_000);
      expect(health.isHealthy('leaderElection').leaderElection).toMatchObject({
        status: 'up',
        role: 'leader',
        leader: 'patient',
        term: 1,
      });
      await until(() => app.get(Jobs).intervalRuns > 0, 2_000);
    } finally {
      await closeAll();
      await azurite.stop();
    }
  }, 60_000);

  it('reports up for leader and follower, with role, leader identity and term', async () => {
    const containerName = container();
    const leader = await createApp({ connectionString, containerName, identity: 'L', healthDetails: 'full' });
    const follower = await createApp({
      connectionString,
      containerName,
      identity: 'F',
      healthDetails: 'full',
    });
    await sleep(500);
    const leaderHealth = leader.get(LeaderElectionHealthIndicator).isHealthy('election');
    const followerHealth = follower.get(LeaderElectionHealthIndicator).isHealthy('election');
    expect(leaderHealth.election).toMatchObject({
      status: 'up',
      role: 'leader',
      identity: 'L',
      leader: 'L',
      term: 1,
      leaseName: 'leader',
    });
    expect(followerHealth.election).toMatchObject({
      status: 'up',
      role: 'follower',
      identity: 'F',
      leader: 'L',
      term: 1,
    });
    expect(followerHealth.election!.lastStoreContactAt).toEqual(expect.any(String));
  }, 30_000);

  it('answers 503 with the leader and Retry-After on followers, 200 on the leader', async () => {
    const containerName = container();
    const leader = await createApp(
      { connectionString, containerName, identity: 'L' },
      { providers: [], controllers: [LeaderController] },
    );
    const follower = await createApp(
      { connectionString, containerName, identity: 'F' },
      { providers: [], controllers: [LeaderController] },
    );
    await sleep(400);
    await request(leader.getHttpServer()).get('/leader-only').expect(200, { ok: true });
    const refused = await request(follower.getHttpServer()).get('/leader-only').expect(503);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.body).toMatchObject({ statusCode: 503, leaseName: 'leader', leader: 'L', term: 1 });
    // Without the interceptor the route is still gated (no Retry-After header then).
    const bare = await request(follower.getHttpServer()).get('/leader-only-bare').expect(503);
    expect(bare.body).toMatchObject({ leader: 'L' });
    await request(leader.getHttpServer()).get('/leader-only-bare').expect(200);
    // Routes without @LeaderOnly pass through the interceptor.
    await request(follower.getHttpServer()).get('/open').expect(200);
  }, 30_000);
});
