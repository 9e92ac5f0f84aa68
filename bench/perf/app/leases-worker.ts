/**
 * Benchmark worker: one replica taking part in LEASES (default 1000) named elections through
 * LeaderElectionService (as @LeaderOnly('name') methods would), at default timings, on real
 * Azurite. Three of these run side by side. The store is the production AzureBlobLeaseStore wrapped
 * by a recorder that notes when each renewal is sent, how long it takes and how it ends, so
 * "renewals on time" is measured from inside: the gap between two renewals of one lease should be
 * renewIntervalMs (D/3); lateness is the excess. Event-loop delay (perf_hooks), CPU and memory are
 * measured over the steady-state window.
 *
 * Every leadership is also recorded as an interval [became leader, stepped down) in wall-clock ms,
 * its end capped at the deadline the elector itself uses (last successful acquire/renew send time +
 * D − safety margin), so the orchestrator can check across the three processes that no lease ever
 * had two leaders at once.
 *
 * Env: AZURE_STORAGE_CONNECTION_STRING, RESULT_FILE, INSTANCE_ID, LEASES (default 1000),
 *      WINDOW_START_AT / WINDOW_END_AT (epoch ms: the same measurement window for all replicas;
 *      default: WARMUP_MS (20000) after start-up, for DURATION_MS (60000)), CONTAINER_NAME,
 *      RETRY_INTERVAL_MS (follower poll; default: the library's 2000).
 * Run with --expose-gc for comparable heap figures (a full GC before each memory reading).
 */
import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  AzureBlobLeaseStore,
  LeaderElectionModule,
  LeaderElectionService,
  type AcquireRequest,
  type AcquireResult,
  type LeaseObservation,
  type LeaseStore,
} from 'nestjs-leader-election';
import { envNumber, envString } from '../support/azurite-connection.js';
import { summarize } from '../support/stats.js';
import { loopDelayMs, startLoopDelay } from '../support/loop-delay.js';

const connectionString = envString('AZURE_STORAGE_CONNECTION_STRING');
const resultFile = envString('RESULT_FILE');
const instanceId = envString('INSTANCE_ID', `leases-${process.pid}`);
const leaseCount = envNumber('LEASES', 1000);
const warmupMs = envNumber('WARMUP_MS', 20_000);
const durationMs = envNumber('DURATION_MS', 60_000);
const containerName = envString('CONTAINER_NAME', 'bench-leases');
const retryIntervalMs = process.env.RETRY_INTERVAL_MS ? envNumber('RETRY_INTERVAL_MS') : undefined;
const windowStartAt = envNumber('WINDOW_START_AT', 0);
const windowEndAt = envNumber('WINDOW_END_AT', 0);
const memoryAfterGc = (): NodeJS.MemoryUsage => {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage();
};
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface RenewRecord {
  sentAt: number;
  ms: number;
  ok: boolean;
}

/** Wraps a LeaseStore and records every call (renewals per lease in detail). */
class RecordingStore implements LeaseStore {
  readonly description: string;
  readonly renewals = new Map<string, RenewRecord[]>();
  readonly calls: Record<string, { ok: number; failed: number; totalMs: number }> = {};
  /** Per lease: wall-clock ms until which this replica may consider itself leader (as the elector computes it). */
  readonly validUntil = new Map<string, number>();
  recording = true;

  constructor(
    private readonly inner: LeaseStore,
    private readonly validityMs: number,
  ) {
    this.description = inner.description;
  }

  private async time<T>(
    operation: string,
    call: () => Promise<T>,
    onDone?: (sentAt: number, ms: number, ok: boolean) => void,
  ): Promise<T> {
    const sentAt = performance.now();
    let ok = false;
    try {
      const result = await call();
      ok = true;
      return result;
    } finally {
      const ms = performance.now() - sentAt;
      const entry = (this.calls[operation] ??= { ok: 0, failed: 0, totalMs: 0 });
      entry[ok ? 'ok' : 'failed']++;
      entry.totalMs += ms;
      onDone?.(sentAt, ms, ok);
    }
  }

  observe(leaseName: string, signal: AbortSignal): Promise<LeaseObservation> {
    return this.time('observe', () => this.inner.observe(leaseName, signal));
  }
  async acquire(request: AcquireRequest, signal: AbortSignal): Promise<AcquireResult> {
    const sentAtWall = Date.now();
    const result = await this.time('acquire', () => this.inner.acquire(request, signal));
    if (result.acquired) this.validUntil.set(request.leaseName, sentAtWall + this.validityMs);
    return result;
  }
  renew(leaseName: string, leaseId: string, signal: AbortSignal): Promise<void> {
    const sentAtWall = Date.now();
    return this.time(
      'renew',
      () => this.inner.renew(leaseName, leaseId, signal),
      (sentAt, ms, ok) => {
        if (ok) this.validUntil.set(leaseName, sentAtWall + this.validityMs);
        if (!this.recording) return;
        let list = this.renewals.get(leaseName);
        if (!list) this.renewals.set(leaseName, (list = []));
        list.push({ sentAt, ms, ok });
      },
    );
  }
  release(leaseName: string, leaseId: string, signal: AbortSignal): Promise<void> {
    return this.time('release', () => this.inner.release(leaseName, leaseId, signal));
  }
}

// D − safety margin at default timings (15 s − 1 s): how long after a send the elector trusts the lease.
const store = new RecordingStore(new AzureBlobLeaseStore({ connectionString, containerName }), 14_000);
const names = Array.from({ length: leaseCount }, (_, i) => `lease-${String(i).padStart(4, '0')}`);

@Module({
  imports: [
    LeaderElectionModule.forRoot({
      store,
      identity: instanceId,
      leaseName: names[0]!,
      startupTimeoutMs: 60_000,
      ...(retryIntervalMs !== undefined ? { retryIntervalMs } : {}),
    }),
  ],
})
class LeasesModule {}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(LeasesModule, { logger: ['warn', 'error'] });
  const memoryBaseline = memoryAfterGc(); // the app with one election, before the other leases
  const election = app.get(LeaderElectionService);

  // Leadership intervals and counts, subscribed as each election is created (before its first attempt).
  const intervals: [lease: number, term: number, from: number, to: number | null][] = [];
  const open = new Map<string, number>(); // lease -> index in intervals
  const lost = new Map<string, number>();
  let gained = 0;
  let counting = false;
  const bootStart = performance.now();
  names.forEach((name, index) => {
    let previous: string | undefined;
    election.state$(name).subscribe((state) => {
      const now = Date.now();
      if (state.role === 'leader' && previous !== 'leader') {
        open.set(name, intervals.push([index, state.term ?? -1, now, null]) - 1);
        if (counting) gained++;
      } else if (previous === 'leader' && state.role !== 'leader') {
        const at = open.get(name);
        if (at !== undefined) intervals[at]![3] = Math.min(now, store.validUntil.get(name) ?? now);
        open.delete(name);
        if (counting && state.role === 'follower') lost.set(name, (lost.get(name) ?? 0) + 1);
      }
      previous = state.role;
    });
  });
  await election.start(names);
  const startedInMs = performance.now() - bootStart;
  const { renewIntervalMs, retryIntervalMs: pollMs } = election.electorFor(names[0]).options;

  const startAt = windowStartAt || Date.now() + warmupMs;
  const endAt = windowEndAt || startAt + durationMs;
  const startedLate = Date.now() > startAt;
  await sleep(startAt - Date.now());
  store.renewals.clear();
  for (const key of Object.keys(store.calls)) delete store.calls[key];
  counting = true;
  const loop = startLoopDelay();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const leadingAtStart = names.filter((name) => election.isLeader(name)).length;
  await sleep(endAt - Date.now());
  const leadingAtEnd = names.filter((name) => election.isLeader(name)).length;
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  counting = false;
  loop.disable();
  store.recording = false;
  const memory = memoryAfterGc();

  const lateness: number[] = [];
  const renewLatency: number[] = [];
  let renewFailures = 0;
  for (const list of store.renewals.values()) {
    for (let i = 0; i < list.length; i++) {
      const record = list[i]!;
      renewLatency.push(record.ms);
      if (!record.ok) renewFailures++;
      if (i > 0 && list[i - 1]!.ok) lateness.push(record.sentAt - list[i - 1]!.sentAt - renewIntervalMs);
    }
  }
  const calls = Object.fromEntries(
    Object.entries(store.calls).map(([op, c]) => [
      op,
      {
        ...c,
        perSecond: (c.ok + c.failed) / (wallMs / 1000),
        meanMs: c.totalMs / Math.max(1, c.ok + c.failed),
      },
    ]),
  );

  // Keep electing a little past the window so that no replica's shutdown (which releases its
  // leases) falls inside another replica's window; then stop and record the last intervals.
  await sleep(3_000);
  await app.close();
  writeFileSync(
    resultFile,
    JSON.stringify({
      instanceId,
      leases: leaseCount,
      windowStartAt: startAt,
      windowEndAt: endAt,
      startedLate,
      retryIntervalMs: pollMs,
      startedInMs: Math.round(startedInMs),
      windowMs: Math.round(wallMs),
      renewIntervalMs,
      leadingAtStart,
      leadingAtEnd,
      leadershipsLost: [...lost.values()].reduce((a, b) => a + b, 0),
      leadershipsGained: gained,
      renewals: renewLatency.length,
      renewFailures,
      renewLatenessMs: summarize(lateness),
      renewsLaterThan1s: lateness.filter((ms) => ms > 1000).length,
      renewLatencyMs: summarize(renewLatency),
      calls,
      eventLoopDelayMs: loopDelayMs(loop),
      cpu: { percentOfOneCore: ((cpu.user + cpu.system) / 1000 / wallMs) * 100 },
      memory: {
        rssMB: memory.rss / 2 ** 20,
        heapUsedMB: memory.heapUsed / 2 ** 20,
        rssBaselineMB: memoryBaseline.rss / 2 ** 20,
        heapUsedBaselineMB: memoryBaseline.heapUsed / 2 ** 20,
      },
      /** [lease index, term, from, to] in wall-clock ms; `to` null: still leading at exit. */
      intervals,
    }),
  );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error('leases worker failed:', error);
    process.exit(1);
  },
);
