// Locks and per-run jobs (issue 22), on an in-memory Azurite behind a counting proxy:
//   1. a contended lock: 10 waiters on one name; acquisition latency after a release (p50/p99) and
//      storage requests per waiter-hour while waiting;
//   2. per-run jobs: 3 replicas ticking once per second (wall clocks offset by 0, +1.2 s and −2.5 s),
//      each tick through LockManager.runOnce: missed and doubled ticks, share per replica, requests
//      per tick.
// Replicas are LockManagers in this one process, each with its own AzureBlobLeaseStore (its own HTTP
// pipeline), as separate processes would have. Run under the shared lock:
//   flock /tmp/nle-heavy.lock npx tsx bench/perf/locks.ts [--per-run-seconds 600] [--handovers 60]
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import { LockManager } from '../../lib/locks/lock-manager.js';
import { AzureBlobLeaseStore } from '../../lib/stores/azure-blob/azure-blob-lease-store.js';
import { startAzurite } from '../../test/support/azurite.mjs';
import { connectionStringFor } from './support/azurite-connection.js';
import { CountingProxy, diffCounts, type RequestCounts } from './support/proxy.js';
import { percentile } from './support/stats.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const PER_RUN_SECONDS = arg('per-run-seconds', 600);
const HANDOVERS = arg('handovers', 60);
/** Random pause before each tick's attempt (@OnOneReplica's default at 1 tick/s: 500 ms). */
const SPREAD_MS = arg('spread-ms', 500);
const ONLY_PER_RUN = process.argv.includes('--only-per-run');
const WAITERS = 10;
const HOLD_MS = 1_000;
const WAIT_WINDOW_MS = arg('wait-window-seconds', 60) * 1000;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const now = (): number => performance.timeOrigin + performance.now();

const azurite = await startAzurite();
const proxy = await new CountingProxy(azurite.port).start();
const connectionString = connectionStringFor(proxy.port);
const containerName = `bench-locks-${randomUUID().slice(0, 8)}`;
const managers: LockManager[] = [];

function manager(identity: string): LockManager {
  const created = new LockManager(new AzureBlobLeaseStore({ connectionString, containerName }), { identity });
  managers.push(created);
  return created;
}

function perHour(counts: RequestCounts, ms: number, divisor: number): Record<string, number> {
  return Object.fromEntries(
    Object.entries(counts.byKind).map(([kind, n]) => [kind, Math.round((n / divisor) * (3_600_000 / ms))]),
  );
}

async function contended(): Promise<void> {
  const name = `contended-${randomUUID().slice(0, 8)}`;
  const waiters = Array.from({ length: WAITERS }, (_, i) => manager(`waiter-${i}`));
  // Warm up: create the blob and connections.
  await waiters[0]!.withLock(name, () => undefined);

  // (a) Requests while waiting: one holder keeps the lock for the window, 10 others wait.
  const holder = manager('holder');
  let releaseHolder!: () => void;
  const holding = holder.withLock(name, () => new Promise<void>((resolve) => (releaseHolder = resolve)));
  await sleep(200);
  const before = proxy.snapshot();
  const windowStart = now();
  const stopWaiting = new AbortController();
  const waiting = waiters.map((w) =>
    w
      .tryWithLock(name, () => undefined, { waitMs: Infinity, signal: stopWaiting.signal })
      .catch(() => undefined),
  );
  await sleep(WAIT_WINDOW_MS);
  const during = diffCounts(proxy.snapshot(), before);
  const windowMs = now() - windowStart;
  stopWaiting.abort();
  await Promise.all(waiting);
  releaseHolder();
  await holding;
  const renewals = during.byKind['Renew Lease'] ?? 0;
  const waiterRequests = during.total - renewals;
  console.log(
    `\n## Contended lock: ${WAITERS} waiters while one replica holds it for ${Math.round(windowMs / 1000)} s`,
  );
  console.log(`requests by kind in the window: ${JSON.stringify(during.byKind)}`);
  console.log(
    `per waiter: ${Math.round((waiterRequests / WAITERS) * (3_600_000 / windowMs))} requests/hour ` +
      `(${JSON.stringify(perHour({ ...during, byKind: Object.fromEntries(Object.entries(during.byKind).filter(([k]) => k !== 'Renew Lease')) }, windowMs, WAITERS))}); ` +
      `holder renewals: ${Math.round(renewals * (3_600_000 / windowMs))}/hour`,
  );

  // (b) Hand-overs: 10 replicas loop (wait for the lock, hold it 1 s, release, rest 3 s, again).
  const latencies: number[] = [];
  const holders = new Map<string, number>();
  let releasedAt: number | undefined;
  let handovers = 0;
  let active = true;
  const loops = waiters.map(async (w) => {
    while (active) {
      const result = await w
        .tryWithLock(
          name,
          async () => {
            const start = now();
            if (releasedAt !== undefined) latencies.push(start - releasedAt);
            releasedAt = undefined;
            holders.set(w.identity, (holders.get(w.identity) ?? 0) + 1);
            await sleep(HOLD_MS);
            releasedAt = now(); // fn ends: the release request is sent next
          },
          { waitMs: 30_000 },
        )
        .catch(() => ({ acquired: false }));
      if (result.acquired) {
        handovers++;
        if (handovers >= HANDOVERS) active = false;
        await sleep(3_000);
      }
    }
  });
  const handoverStart = proxy.snapshot();
  const started = now();
  await Promise.all(loops);
  const handoverCounts = diffCounts(proxy.snapshot(), handoverStart);
  const sorted = [...latencies].sort((a, b) => a - b);
  console.log(`\n## Hand-overs: ${latencies.length} acquisitions after a release (hold ${HOLD_MS} ms)`);
  console.log(
    `latency from the holder's fn end (release sent) to the next holder's fn start, ms: min ${sorted[0]?.toFixed(0)} p50 ` +
      `${percentile(sorted, 50).toFixed(0)} p90 ${percentile(sorted, 90).toFixed(0)} p99 ` +
      `${percentile(sorted, 99).toFixed(0)} max ${sorted.at(-1)?.toFixed(0)}`,
  );
  console.log(`acquisitions per waiter: ${JSON.stringify(Object.fromEntries([...holders].sort()))}`);
  console.log(
    `requests in ${Math.round((now() - started) / 1000)} s: ${handoverCounts.total} ` +
      `(${JSON.stringify(handoverCounts.byKind)})`,
  );
}

async function perRun(): Promise<void> {
  const i = process.argv.indexOf('--offsets');
  const offsets = i >= 0 ? process.argv[i + 1]!.split(',').map(Number) : [0, 1_200, -2_500];
  const replicas = offsets.map((offset, i) => ({
    offset,
    manager: manager(`replica-${i}`),
    name: `replica-${i}`,
  }));
  const job = `bench-job-${randomUUID().slice(0, 8)}`;
  const runs = new Map<number, string[]>();
  const errors: string[] = [];
  const start = now();
  const end = start + PER_RUN_SECONDS * 1000;
  const before = proxy.snapshot();
  const timers = replicas.map(({ offset, manager: m, name }) => {
    const tick = (): void => {
      const tickAt = Math.floor((Date.now() + offset) / 1000) * 1000;
      m.runOnce(
        job,
        tickAt,
        () => {
          runs.set(tickAt, [...(runs.get(tickAt) ?? []), name]);
        },
        { spreadMs: SPREAD_MS },
      ).catch((error: unknown) => errors.push(`${name}: ${String(error)}`));
    };
    let interval: NodeJS.Timeout | undefined;
    const phase = setTimeout(() => {
      tick();
      interval = setInterval(tick, 1_000);
    }, Math.random() * 1_000);
    return () => {
      clearTimeout(phase);
      clearInterval(interval);
    };
  });
  while (now() < end) await sleep(1_000);
  for (const stop of timers) stop();
  await sleep(3_000);
  const counts = diffCounts(proxy.snapshot(), before);
  // Ticks every replica had the chance to try: from 5 s after the start to 5 s before the end (true time).
  const first = Math.ceil((start + 5_000) / 1000) * 1000;
  const last = Math.floor((end - 5_000) / 1000) * 1000;
  let missed = 0;
  let doubled = 0;
  const share = new Map<string, number>();
  for (let t = first; t <= last; t += 1000) {
    const ran = runs.get(t) ?? [];
    if (ran.length === 0) missed++;
    if (ran.length > 1) doubled++;
    for (const name of ran) share.set(name, (share.get(name) ?? 0) + 1);
  }
  const ticks = (last - first) / 1000 + 1;
  console.log(
    `\n## Per-run: 3 replicas, 1 tick/s for ${PER_RUN_SECONDS} s, wall clocks offset ${offsets.join(', ')} ms, spreadMs ${SPREAD_MS}`,
  );
  console.log(`ticks checked: ${ticks}; missed: ${missed}; doubled: ${doubled}; errors: ${errors.length}`);
  if (errors.length) console.log(errors.slice(0, 5).join('\n'));
  console.log(
    `share per replica: ${[...share]
      .sort()
      .map(([name, n]) => `${name} ${((100 * n) / ticks).toFixed(1)} %`)
      .join(', ')}`,
  );
  const allTicks = PER_RUN_SECONDS;
  console.log(
    `requests: ${counts.total} (${(counts.total / allTicks).toFixed(1)} per tick, all replicas): ` +
      JSON.stringify(counts.byKindStatus),
  );
}

try {
  if (!ONLY_PER_RUN) await contended();
  await perRun();
} finally {
  await Promise.all(managers.map((m) => m.stop(1_000)));
  await proxy.stop();
  await azurite.stop();
}
