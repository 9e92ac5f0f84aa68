// Scale: 100 candidates on one lease in one process; 1 000 named leases across 3 replicas.
import { readFileSync } from 'node:fs';
import { BlobServiceClient } from '@azure/storage-blob';
import { join } from 'node:path';
import { processCpuMs, processRssMB } from '../support/proc-cpu.js';
import { CountingProxy } from '../support/proxy.js';
import { fmt } from '../support/report.js';
import { summarize, type Summary } from '../support/stats.js';
import type { Suite, SuiteContext } from './context.js';

interface LoopDelay {
  p50: number;
  p99: number;
  max: number;
  mean?: number;
}

interface CandidatesResult {
  candidates: number;
  durationMs: number;
  firstLeaderMs: number;
  samples: number;
  samplesWithLeaders: Record<string, number>;
  samplesWithMoreThanOneLeader: number;
  samplesWithNoLeader: number;
  handoffs: number;
  handoffGapMs: Summary;
  distinctTerms: number;
  cpu: { percentOfOneCore: number };
  eventLoopDelayMs: LoopDelay;
  memory: { rssMB: number; heapUsedMB: number };
}

interface LeasesResult {
  instanceId: string;
  leases: number;
  retryIntervalMs: number;
  windowStartAt: number;
  windowEndAt: number;
  startedLate: boolean;
  intervals: [lease: number, term: number, from: number, to: number | null][];
  startedInMs: number;
  windowMs: number;
  renewIntervalMs: number;
  leadingAtStart: number;
  leadingAtEnd: number;
  leadershipsLost: number;
  leadershipsGained: number;
  renewals: number;
  renewFailures: number;
  renewLatenessMs: Summary;
  renewsLaterThan1s: number;
  renewLatencyMs: Summary;
  calls: Record<string, { ok: number; failed: number; perSecond: number; meanMs: number }>;
  eventLoopDelayMs: LoopDelay;
  cpu: { percentOfOneCore: number };
  memory: { rssMB: number; heapUsedMB: number; rssBaselineMB: number; heapUsedBaselineMB: number };
}

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

async function candidates(
  ctx: SuiteContext,
): Promise<{ result: CandidatesResult; requestsPerSecond: number; azuriteCpuPercent?: number }> {
  const azurite = await ctx.azurite();
  const proxy = await new CountingProxy(azurite.port).start();
  try {
    const resultFile = join(ctx.runDir, 'candidates-worker.json');
    const cpu0 = processCpuMs(azurite.pid);
    const t0 = Date.now();
    const worker = ctx.spawnApp('candidates-worker', 'bench/perf/app/candidates-worker.js', {
      STORAGE_PORT: String(proxy.port),
      RESULT_FILE: resultFile,
      CANDIDATES: String(ctx.settings.candidates),
      DURATION_MS: String(ctx.settings.candidatesDurationMs),
      HANDOFF_EVERY_MS: '15000',
    });
    const { code } = await worker.exited;
    const elapsed = Date.now() - t0;
    const cpu1 = processCpuMs(azurite.pid);
    if (code !== 0) throw new Error(`candidates worker exited with ${code}; see logs/candidates-worker.log`);
    return {
      result: readJson<CandidatesResult>(resultFile),
      requestsPerSecond: proxy.counts.total / (elapsed / 1000),
      azuriteCpuPercent:
        cpu0 !== undefined && cpu1 !== undefined ? ((cpu1 - cpu0) / elapsed) * 100 : undefined,
    };
  } finally {
    await proxy.stop();
    await azurite.stop();
  }
}

interface OverlapCheck {
  leaderships: number;
  leasesEverLed: number;
  /** Pairs of leaderships of one lease by two replicas that overlapped in time. */
  overlaps: number;
  maxOverlapMs: number;
  examples: string[];
  /** Leaderships whose term was not greater than the previous leadership's term of the same lease. */
  termRegressions: number;
}

/** Across the replicas: did any lease ever have two leaders at once (by the electors' own deadlines)? */
function checkOverlaps(replicas: LeasesResult[]): OverlapCheck {
  const byLease = new Map<number, { replica: string; term: number; from: number; to: number }[]>();
  let leaderships = 0;
  for (const r of replicas) {
    for (const [lease, term, from, to] of r.intervals) {
      leaderships++;
      let list = byLease.get(lease);
      if (!list) byLease.set(lease, (list = []));
      list.push({ replica: r.instanceId, term, from, to: to ?? Number.POSITIVE_INFINITY });
    }
  }
  let overlaps = 0;
  let maxOverlapMs = 0;
  let termRegressions = 0;
  const examples: string[] = [];
  for (const [lease, list] of byLease) {
    list.sort((a, b) => a.from - b.from);
    for (let i = 1; i < list.length; i++) {
      if (list[i]!.term <= list[i - 1]!.term) termRegressions++;
      for (let j = 0; j < i; j++) {
        const a = list[j]!;
        const b = list[i]!;
        if (a.replica === b.replica || b.from >= a.to) continue;
        const ms = Math.min(a.to, b.to) - b.from;
        overlaps++;
        maxOverlapMs = Math.max(maxOverlapMs, ms);
        if (examples.length < 5)
          examples.push(
            `lease-${String(lease).padStart(4, '0')}: ${a.replica} (term ${a.term}) and ${b.replica} (term ${b.term}) for ${ms} ms`,
          );
      }
    }
  }
  return { leaderships, leasesEverLed: byLease.size, overlaps, maxOverlapMs, examples, termRegressions };
}

/**
 * How many Get Properties per second this Azurite serves on this machine (64 in flight, 5 s), and
 * how busy that keeps its single Node process: the capacity the 1 000-lease runs compete for.
 */
async function azuriteCapacity(
  ctx: SuiteContext,
): Promise<{ requestsPerSecond: number; latencyMs: Summary; azuriteCpuPercent?: number }> {
  const azurite = await ctx.azurite();
  try {
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(
      'capacity',
    );
    await container.createIfNotExists();
    const blobs = Array.from({ length: 64 }, (_, i) => container.getBlockBlobClient(`blob-${i}`));
    await Promise.all(blobs.map((blob) => blob.upload('', 0)));
    const latencies: number[] = [];
    const run = async (until: number, record: boolean): Promise<void> => {
      await Promise.all(
        blobs.map(async (blob) => {
          while (Date.now() < until) {
            const t = performance.now();
            await blob.getProperties();
            if (record) latencies.push(performance.now() - t);
          }
        }),
      );
    };
    await run(Date.now() + 1_000, false); // warm-up
    const cpu0 = processCpuMs(azurite.pid);
    const t0 = Date.now();
    await run(t0 + 5_000, true);
    const elapsed = Date.now() - t0;
    const cpu1 = processCpuMs(azurite.pid);
    return {
      requestsPerSecond: latencies.length / (elapsed / 1000),
      latencyMs: summarize(latencies),
      azuriteCpuPercent:
        cpu0 !== undefined && cpu1 !== undefined ? ((cpu1 - cpu0) / elapsed) * 100 : undefined,
    };
  } finally {
    await azurite.stop();
  }
}

interface LeasesRun {
  retryIntervalMs: number;
  replicas: LeasesResult[];
  overlapCheck: OverlapCheck;
  azuriteCpuPercent?: number;
  azuriteRssMB?: number;
  storageRequestsPerSecond: number;
}

async function leases(ctx: SuiteContext, retryIntervalMs: number): Promise<LeasesRun> {
  const azurite = await ctx.azurite();
  try {
    const ids = ['r1', 'r2', 'r3'];
    const files = ids.map((id) => join(ctx.runDir, `leases-worker-r${retryIntervalMs}-${id}.json`));
    // One measurement window for all three (wall clock), after start-up (≤ 15 s here) and the warm-up.
    const windowStartAt = Date.now() + 15_000 + ctx.settings.leasesWarmupMs;
    const windowEndAt = windowStartAt + ctx.settings.leasesDurationMs;
    const workers = ids.map((id, i) =>
      ctx.spawnApp(
        `leases-r${retryIntervalMs}-${id}`,
        'bench/perf/app/leases-worker.js',
        {
          AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
          RESULT_FILE: files[i]!,
          INSTANCE_ID: id,
          LEASES: String(ctx.settings.leases),
          WINDOW_START_AT: String(windowStartAt),
          WINDOW_END_AT: String(windowEndAt),
          RETRY_INTERVAL_MS: String(retryIntervalMs),
        },
        ['--expose-gc'],
      ),
    );
    // Azurite CPU over the same window.
    await new Promise((resolve) => setTimeout(resolve, windowStartAt - Date.now()));
    const cpu0 = processCpuMs(azurite.pid);
    const t0 = Date.now();
    await new Promise((resolve) => setTimeout(resolve, windowEndAt - Date.now()));
    const cpu1 = processCpuMs(azurite.pid);
    const elapsed = Date.now() - t0;
    const azuriteRssMB = processRssMB(azurite.pid);
    const exits = await Promise.all(workers.map((worker) => worker.exited));
    exits.forEach(({ code }, i) => {
      if (code !== 0)
        throw new Error(
          `leases worker ${ids[i]} exited with ${code}; see logs/leases-r${retryIntervalMs}-${ids[i]}.log`,
        );
    });
    const replicas = files.map((file) => readJson<LeasesResult>(file));
    const overlapCheck = checkOverlaps(replicas);
    for (const r of replicas) r.intervals = []; // checked; too bulky for results.json
    return {
      retryIntervalMs,
      replicas,
      overlapCheck,
      storageRequestsPerSecond: replicas.reduce(
        (sum, r) => sum + Object.values(r.calls).reduce((s2, c) => s2 + c.perSecond, 0),
        0,
      ),
      azuriteCpuPercent:
        cpu0 !== undefined && cpu1 !== undefined ? ((cpu1 - cpu0) / elapsed) * 100 : undefined,
      azuriteRssMB,
    };
  } finally {
    await azurite.stop();
  }
}

export const scaleSuite: Suite = {
  name: 'scale',
  description: '100 candidates on one lease in one process; 1 000 named leases across 3 replicas',
  async run(ctx) {
    ctx.log(
      `scale: ${ctx.settings.candidates} candidates on one lease for ${ctx.settings.candidatesDurationMs / 1000} s`,
    );
    const c = await candidates(ctx);
    const capacity = await azuriteCapacity(ctx);
    ctx.log(
      `scale: Azurite serves ~${fmt(capacity.requestsPerSecond, 0)} Get Properties/s here (64 in flight), at ${fmt(capacity.azuriteCpuPercent, 0)} % of one core`,
    );
    const runs: LeasesRun[] = [];
    for (const retryMs of ctx.settings.leasesRetryIntervalsMs) {
      ctx.log(
        `scale: ${ctx.settings.leases} leases × 3 replicas, follower poll ${retryMs} ms (warm-up ${ctx.settings.leasesWarmupMs / 1000} s, window ${ctx.settings.leasesDurationMs / 1000} s)`,
      );
      runs.push(await leases(ctx, retryMs));
    }
    const r = c.result;
    const leaseRows = runs.flatMap((l) =>
      l.replicas.map((x) => [
        `R = ${fmt(l.retryIntervalMs / 1000, 0)} s`,
        x.instanceId,
        `${x.leadingAtStart} → ${x.leadingAtEnd}`,
        x.leadershipsLost,
        x.renewals,
        x.renewFailures,
        `${fmt(x.renewLatenessMs.p50, 1)} / ${fmt(x.renewLatenessMs.p90, 1)} / ${fmt(x.renewLatenessMs.max, 1)}`,
        `${fmt(x.renewLatencyMs.p50, 1)} / ${fmt(x.renewLatencyMs.p90, 1)} / ${fmt(x.renewLatencyMs.max, 1)}`,
        `${fmt(x.eventLoopDelayMs.p50, 1)} / ${fmt(x.eventLoopDelayMs.p99, 1)} / ${fmt(x.eventLoopDelayMs.max, 1)}`,
        fmt(x.cpu.percentOfOneCore, 0),
        `${fmt(x.memory.rssMB, 0)} (${fmt(x.memory.rssBaselineMB, 0)})`,
        `${fmt(x.memory.heapUsedMB, 0)} (${fmt(x.memory.heapUsedBaselineMB, 0)})`,
        fmt(
          Object.values(x.calls).reduce((s, v) => s + v.perSecond, 0),
          0,
        ),
      ]),
    );
    const perLeaseKB = runs.flatMap((l) =>
      l.replicas.map((x) => ((x.memory.heapUsedMB - x.memory.heapUsedBaselineMB) * 1024) / x.leases),
    );
    const first = runs[0]?.replicas[0];
    return {
      data: { candidates: c, azuriteCapacity: capacity, leases: runs },
      tables: [
        {
          title: `${r.candidates} candidates on one lease in one process (default timings, each with its own store), ${fmt(r.durationMs / 1000, 0)} s, the leader steps down every 15 s`,
          head: [
            'samples (every 100 ms)',
            'exactly 1 leader',
            '0 leaders',
            '> 1 leader',
            'handoffs',
            'handoff gap p50 / max',
            'first leader after start',
            'CPU (% of one core)',
            'loop delay p99 / max',
            'RSS / heap',
            'storage req/s',
            'Azurite CPU',
          ],
          rows: [
            [
              r.samples,
              r.samplesWithLeaders['1'] ?? 0,
              r.samplesWithNoLeader,
              r.samplesWithMoreThanOneLeader,
              r.handoffs,
              `${fmt(r.handoffGapMs.p50, 0)} / ${fmt(r.handoffGapMs.max, 0)} ms`,
              `${fmt(r.firstLeaderMs, 0)} ms`,
              `${fmt(r.cpu.percentOfOneCore, 1)} %`,
              `${fmt(r.eventLoopDelayMs.p99, 1)} / ${fmt(r.eventLoopDelayMs.max, 1)} ms`,
              `${fmt(r.memory.rssMB, 0)} / ${fmt(r.memory.heapUsedMB, 0)} MB`,
              fmt(c.requestsPerSecond, 1),
              c.azuriteCpuPercent === undefined ? '–' : `${fmt(c.azuriteCpuPercent, 0)} %`,
            ],
          ],
          notes: [
            'Loop delay: perf_hooks.monitorEventLoopDelay, 10 ms resolution, minus the resolution (0 = timers on time).',
          ],
        },
        {
          title: `${first?.leases ?? 0} named leases × 3 replicas (one process each; D = 15 s, renew every 5 s; follower poll R as shown), steady-state window ${fmt((first?.windowMs ?? 0) / 1000, 0)} s after ${ctx.settings.leasesWarmupMs / 1000} s warm-up`,
          head: [
            'poll',
            'replica',
            'leases led (start → end)',
            'leaderships lost',
            'renewals',
            'renew failures',
            'renew lateness p50 / p90 / max ms',
            'renew latency p50 / p90 / max ms',
            'loop delay p50 / p99 / max ms',
            'CPU %',
            'RSS MB (app baseline)',
            'heap MB (baseline)',
            'storage req/s',
          ],
          rows: leaseRows,
          notes: [
            `Renew lateness = gap between two renewals of the same lease minus renewIntervalMs (5 000 ms). Leadership must last while renewals are later than ~9 s (D − safety margin − renew interval).`,
            `Azurite capacity on this machine: ${fmt(capacity.requestsPerSecond, 0)} Get Properties/s with 64 in flight from one client (p50 ${fmt(capacity.latencyMs.p50, 1)} ms, Azurite at ${fmt(capacity.azuriteCpuPercent, 0)} % of one core).`,
            `Heap per lease (after a full GC, above the app baseline) ≈ ${perLeaseKB.map((kb) => fmt(kb, 1)).join(' / ')} KB.`,
            ...runs.map(
              (l) =>
                `R = ${fmt(l.retryIntervalMs / 1000, 0)} s: leases led by the three at the window end: ${l.replicas.reduce((sum, x) => sum + x.leadingAtEnd, 0)} of ${first?.leases ?? 0}${l.replicas.some((x) => x.startedLate) ? ' (a replica was still starting when the window began)' : ''}. Safety check over the whole run: ${l.overlapCheck.leaderships} leaderships of ${l.overlapCheck.leasesEverLed} leases, ${l.overlapCheck.overlaps} with two leaders at once${l.overlapCheck.overlaps ? ` (max ${l.overlapCheck.maxOverlapMs} ms: ${l.overlapCheck.examples.join('; ')})` : ''}, ${l.overlapCheck.termRegressions} term regressions. The three replicas made ${fmt(l.storageRequestsPerSecond, 0)} storage requests/s; Azurite (one process for all three): ${l.azuriteCpuPercent === undefined ? '–' : fmt(l.azuriteCpuPercent, 0)} % of one core, RSS ${fmt(l.azuriteRssMB, 0)} MB. The machine has 2 cores for Azurite + 3 replicas.`,
            ),
          ],
        },
      ],
    };
  },
};
