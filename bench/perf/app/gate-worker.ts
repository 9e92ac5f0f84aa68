/**
 * Benchmark worker: the cost of the @LeaderOnly gate, in one process, against real Azurite.
 *
 *   1. lock-per-run: what per-job lock libraries do: Acquire Lease → run → Release Lease around
 *      each run, on a blob of the same Azurite (winner path and loser path: lease held elsewhere).
 *      Latency per run measured direct to Azurite; storage requests per run counted at the HTTP
 *      level through a counting proxy.
 *   2. gate: tinybench ns/call of the same trivial method undecorated vs @LeaderOnly, on the leader
 *      and on a follower (sync and async), with storage requests counted during the bench window.
 *   3. ticks: the same gated methods driven by @nestjs/schedule @Interval(10) for a while, with
 *      storage requests counted: they are the background renew/poll traffic, not per tick.
 *
 * Built by `npm run build:apps`; run by bench/perf/run.ts as
 *   AZURITE_PORT=… RESULT_FILE=… node dist/bench/perf/app/gate-worker.js
 * Env: BENCH_TIME_MS (tinybench time per task and round, default 1000), ROUNDS (default 3),
 *      LOCK_RUNS (default 300),
 *      TICK_WINDOW_MS (default 20000).
 */
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Injectable, Module, type DynamicModule, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Interval, ScheduleModule } from '@nestjs/schedule';
import { BlobServiceClient, type ContainerClient, type BlobLeaseClient } from '@azure/storage-blob';
import { Bench, type FnReturnedObject } from 'tinybench';
import { LeaderElectionModule, LeaderElectionService, LeaderOnly } from 'nestjs-leader-election';
import { CountingProxy, diffCounts, type RequestCounts } from '../support/proxy.js';
import { connectionStringFor, envNumber, envString } from '../support/azurite-connection.js';
import { summarize, type Summary } from '../support/stats.js';

const azuritePort = envNumber('AZURITE_PORT');
const resultFile = envString('RESULT_FILE');
const benchTimeMs = envNumber('BENCH_TIME_MS', 1000);
const rounds = envNumber('ROUNDS', 3);
const lockRuns = envNumber('LOCK_RUNS', 300);
const tickWindowMs = envNumber('TICK_WINDOW_MS', 20_000);
const containerName = `bench-gate-${process.pid}`;

const hrMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
let sink: unknown;

// ------------------------------------------------------------------ 1. lock-per-run

function blobContainer(port: number): ContainerClient {
  return BlobServiceClient.fromConnectionString(connectionStringFor(port), {
    retryOptions: { maxTries: 1 },
  }).getContainerClient(containerName);
}

async function runWithLock(lease: BlobLeaseClient, job: () => unknown): Promise<boolean> {
  try {
    await lease.acquireLease(15);
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 409) return false; // someone else runs it
    throw error;
  }
  try {
    sink = job();
  } finally {
    await lease.releaseLease();
  }
  return true;
}

export interface LockPerRunResult {
  runs: number;
  winnerLatencyMs: Summary;
  loserLatencyMs: Summary;
  requestsPerWinnerRun: number;
  requestsPerLoserRun: number;
  winnerRequests: RequestCounts;
  loserRequests: RequestCounts;
}

async function lockPerRun(): Promise<LockPerRunResult> {
  const direct = blobContainer(azuritePort);
  await direct.createIfNotExists();
  const winnerBlob = direct.getBlockBlobClient('lock-per-run-job');
  const loserBlob = direct.getBlockBlobClient('lock-per-run-held');
  await winnerBlob.upload('', 0);
  await loserBlob.upload('', 0);
  await loserBlob.getBlobLeaseClient(randomUUID()).acquireLease(-1); // held by "another replica" for the whole phase
  let n = 0;
  const job = (): number => ++n;

  const timed = async (lease: BlobLeaseClient, count: number, expectRun: boolean): Promise<number[]> => {
    const latencies: number[] = [];
    for (let i = 0; i < count; i++) {
      const t0 = hrMs();
      const ran = await runWithLock(lease, job);
      latencies.push(hrMs() - t0);
      if (ran !== expectRun) throw new Error(`lock-per-run: expected ran=${expectRun}`);
    }
    return latencies;
  };
  const winnerLease = winnerBlob.getBlobLeaseClient(randomUUID());
  const loserLease = loserBlob.getBlobLeaseClient(randomUUID());
  await timed(winnerLease, 20, true); // warm-up (connections, JIT)
  await timed(loserLease, 20, false);
  const winnerLatency = await timed(winnerLease, lockRuns, true);
  const loserLatency = await timed(loserLease, lockRuns, false);

  // Count at the HTTP level: the same calls through a counting proxy.
  const proxy = await new CountingProxy(azuritePort).start();
  const proxied = blobContainer(proxy.port);
  const counted = 100;
  const before = proxy.snapshot();
  const proxiedWinner = proxied.getBlockBlobClient('lock-per-run-job').getBlobLeaseClient(randomUUID());
  for (let i = 0; i < counted; i++) await runWithLock(proxiedWinner, job);
  const mid = proxy.snapshot();
  const proxiedLoser = proxied.getBlockBlobClient('lock-per-run-held').getBlobLeaseClient(randomUUID());
  for (let i = 0; i < counted; i++) await runWithLock(proxiedLoser, job);
  const after = proxy.snapshot();
  await proxy.stop();
  await loserBlob.getBlobLeaseClient().breakLease(0);
  const winnerRequests = diffCounts(mid, before);
  const loserRequests = diffCounts(after, mid);
  return {
    runs: lockRuns,
    winnerLatencyMs: summarize(winnerLatency),
    loserLatencyMs: summarize(loserLatency),
    requestsPerWinnerRun: winnerRequests.total / counted,
    requestsPerLoserRun: loserRequests.total / counted,
    winnerRequests,
    loserRequests,
  };
}

// ------------------------------------------------------------------ 2. + 3. the gate in a Nest app

const FOLLOWER_LEASE = 'gate-follower';
const LEADER_LEASE = 'gate-leader';

@Injectable()
class GateJobs {
  n = 0;
  plain(): number {
    return ++this.n;
  }
  @LeaderOnly()
  gated(): number {
    return ++this.n;
  }
  @LeaderOnly(FOLLOWER_LEASE)
  gatedFollower(): number {
    return ++this.n;
  }
  async plainAsync(): Promise<number> {
    return ++this.n;
  }
  @LeaderOnly()
  async gatedAsync(): Promise<number> {
    return ++this.n;
  }
  @LeaderOnly(FOLLOWER_LEASE)
  async gatedFollowerAsync(): Promise<number> {
    return ++this.n;
  }
}

/** Scheduled ticks straight on @LeaderOnly methods, the way apps write them. */
@Injectable()
class ScheduledGated {
  leaderRuns = 0;
  followerRuns = 0;
  @Interval(10)
  @LeaderOnly()
  leader(): void {
    this.leaderRuns++;
  }
  @Interval(10)
  @LeaderOnly(FOLLOWER_LEASE)
  follower(): void {
    this.followerRuns++;
  }
}

@Injectable()
class HolderJob {
  @LeaderOnly()
  noop(): void {
    // only here so that the holder app takes part in FOLLOWER_LEASE
  }
}

function gateModule(port: number, withTicks: boolean): DynamicModule {
  @Module({})
  class GateModule {}
  return {
    module: GateModule,
    imports: [
      ...(withTicks ? [ScheduleModule.forRoot()] : []),
      LeaderElectionModule.forRoot({
        connectionString: connectionStringFor(port),
        containerName,
        leaseName: LEADER_LEASE,
        identity: 'bench-gate',
      }),
    ],
    providers: withTicks ? [GateJobs, ScheduledGated] : [GateJobs],
  };
}

function holderModule(port: number): DynamicModule {
  @Module({})
  class HolderModule {}
  return {
    module: HolderModule,
    imports: [
      LeaderElectionModule.forRoot({
        connectionString: connectionStringFor(port),
        containerName,
        leaseName: FOLLOWER_LEASE,
        identity: 'bench-holder',
      }),
    ],
    providers: [HolderJob],
  };
}

const logLevels = ['log', 'warn', 'error'] as const;

async function withApps<T>(
  withTicks: boolean,
  body: (app: INestApplicationContext, proxy: CountingProxy) => Promise<T>,
): Promise<T> {
  const holderProxy = await new CountingProxy(azuritePort).start();
  const proxy = await new CountingProxy(azuritePort).start();
  const holder = await NestFactory.createApplicationContext(holderModule(holderProxy.port), {
    logger: [...logLevels],
  });
  let app: INestApplicationContext | undefined;
  try {
    if (!holder.get(LeaderElectionService).isLeader())
      throw new Error('holder app did not become leader of the follower lease');
    app = await NestFactory.createApplicationContext(gateModule(proxy.port, withTicks), {
      logger: [...logLevels],
    });
    const election = app.get(LeaderElectionService);
    if (!election.isLeader(LEADER_LEASE)) throw new Error('gate app did not become leader of its lease');
    if (election.isLeader(FOLLOWER_LEASE)) throw new Error('gate app leads the follower lease');
    return await body(app, proxy);
  } finally {
    await app?.close();
    await holder.close();
    await proxy.stop();
    await holderProxy.stop();
  }
}

interface TaskResult {
  name: string;
  /** Per-call ns: p50/mean/p99 are the median over rounds of each round's figure; round p50s gives the spread. */
  nsPerCall: { p50: number; mean: number; p99: number; roundP50s: Summary };
  samples: number;
}

const INNER = 1000;

function batchedSync(fn: () => unknown): () => FnReturnedObject {
  return () => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < INNER; i++) sink = fn();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    return { overriddenDuration: ms / INNER, overriddenIterationCost: ms };
  };
}

function batchedAsync(fn: () => Promise<unknown>): () => Promise<FnReturnedObject> {
  return async () => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < INNER; i++) sink = await fn();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    return { overriddenDuration: ms / INNER, overriddenIterationCost: ms };
  };
}

async function gateBench(): Promise<{
  rounds: number;
  tasks: TaskResult[];
  windowMs: number;
  calls: number;
  requests: RequestCounts;
}> {
  return withApps(false, async (app, proxy) => {
    const jobs = app.get(GateJobs);
    const election = app.get(LeaderElectionService);
    const leaderSince = election.getState(LEADER_LEASE).since;
    const followerSince = election.getState(FOLLOWER_LEASE).since;
    const perTask = new Map<string, { p50: number[]; mean: number[]; p99: number[]; samples: number }>();
    let calls = 0;
    const before = proxy.snapshot();
    const t0 = Date.now();
    for (let round = 0; round < rounds; round++) {
      // Sync tasks never yield to the event loop while they run: give timers (renewals, polls) a
      // turn before each task so the app stays leader (resp. follower) throughout (checked below).
      const bench = new Bench({ time: benchTimeMs, warmupTime: 300, throws: true, setup: () => sleep(200) });
      bench
        .add(
          'undecorated (sync)',
          batchedSync(() => jobs.plain()),
        )
        .add(
          '@LeaderOnly on the leader (sync)',
          batchedSync(() => jobs.gated()),
        )
        .add(
          '@LeaderOnly on a follower (sync, skipped)',
          batchedSync(() => jobs.gatedFollower()),
        )
        .add(
          'undecorated (async)',
          batchedAsync(() => jobs.plainAsync()),
        )
        .add(
          '@LeaderOnly on the leader (async)',
          batchedAsync(() => jobs.gatedAsync()),
        )
        .add(
          '@LeaderOnly on a follower (async, skipped)',
          batchedAsync(() => jobs.gatedFollowerAsync()),
        );
      await bench.run();
      for (const task of bench.tasks) {
        const result = task.result;
        if (result.state !== 'completed') throw new Error(`task ${task.name}: ${result.state}`);
        const l = result.latency;
        let entry = perTask.get(task.name);
        if (!entry) perTask.set(task.name, (entry = { p50: [], mean: [], p99: [], samples: 0 }));
        entry.p50.push(l.p50 * 1e6);
        entry.mean.push(l.mean * 1e6);
        entry.p99.push(l.p99 * 1e6);
        entry.samples += l.samplesCount;
        calls += l.samplesCount * INNER;
      }
    }
    const windowMs = Date.now() - t0;
    const requests = diffCounts(proxy.snapshot(), before);
    const roleChanged =
      !election.isLeader(LEADER_LEASE) ||
      election.isLeader(FOLLOWER_LEASE) ||
      election.getState(LEADER_LEASE).since !== leaderSince ||
      election.getState(FOLLOWER_LEASE).since !== followerSince;
    if (roleChanged)
      throw new Error(
        'the gate app changed role during the benchmark: the figures would mix leader and follower paths',
      );
    const tasks: TaskResult[] = [...perTask.entries()].map(([name, entry]) => ({
      name,
      nsPerCall: {
        p50: summarize(entry.p50).p50,
        mean: summarize(entry.mean).p50,
        p99: summarize(entry.p99).p50,
        roundP50s: summarize(entry.p50),
      },
      samples: entry.samples,
    }));
    return { rounds, tasks, windowMs, calls, requests };
  });
}

async function ticks(): Promise<{
  windowMs: number;
  leaderRuns: number;
  followerRuns: number;
  requests: RequestCounts;
}> {
  return withApps(true, async (app, proxy) => {
    const scheduled = app.get(ScheduledGated);
    await sleep(500);
    const before = proxy.snapshot();
    const r0 = scheduled.leaderRuns;
    const t0 = Date.now();
    await sleep(tickWindowMs);
    const windowMs = Date.now() - t0;
    const requests = diffCounts(proxy.snapshot(), before);
    return {
      windowMs,
      leaderRuns: scheduled.leaderRuns - r0,
      followerRuns: scheduled.followerRuns,
      requests,
    };
  });
}

async function main(): Promise<void> {
  const lock = await lockPerRun();
  const gate = await gateBench();
  const tick = await ticks();
  writeFileSync(
    resultFile,
    JSON.stringify({ lockPerRun: lock, gate, ticks: tick, innerBatch: INNER, benchTimeMs, rounds }, null, 2),
  );
  void sink;
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error('gate worker failed:', error);
    process.exit(1);
  },
);
