/**
 * Issue 23 at scale on Azurite: replicas as separate processes (bench/perf/many-leases-replica.ts),
 * each electing LEASES leases in one container through its own counting proxy (requests counted per
 * replica at the HTTP level). D = 15 s, renew every 5 s, R = 2 s ± 20 %, presence off.
 *
 *   flock /tmp/nle-heavy.lock npx tsx bench/perf/many-leases.ts --scenario scale [--leases 1000]
 *     [--minutes 10] [--out bench/results/many-leases-scale.json]
 *   flock /tmp/nle-heavy.lock npx tsx bench/perf/many-leases.ts --scenario memory [--leases 1000]
 *     [--window-s 60] [--out bench/results/many-leases-memory.json]
 *
 * scale: 3 replicas started at the same instant, each starting all its elections at once (the
 *   start-up storm: requests in the first minute, time until every lease has a leader), steady-state
 *   requests/hour per replica, renew latency; then SIGKILL of r0 and, once its leases are taken over,
 *   SIGTERM of r1: takeover per lease (from the signal to another replica's leadership). Every
 *   leadership is an interval (a killed replica's end at the kill), checked for overlaps per lease.
 * memory: r1 leads every lease; r0 follows all of them, first from the shared listing
 *   (listingFromLeases 1), then with per-lease polls (listingFromLeases 1 000 000), each in a fresh
 *   process: RSS and heap after a full GC above the process's baseline, CPU seconds per minute.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { startAzurite } from '../../test/support/azurite.mjs';
import { CountingProxy, diffCounts, type RequestCounts } from './support/proxy.js';
import { processCpuMs } from './support/proc-cpu.js';
import type { ReplicaMessage } from './many-leases-replica.js';

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'scale' },
    leases: { type: 'string', default: '1000' },
    minutes: { type: 'string', default: '10' },
    'window-s': { type: 'string', default: '60' },
    'listing-from': { type: 'string', default: '13' },
    out: { type: 'string' },
  },
});
const leases = Number(values.leases);
const here = dirname(fileURLToPath(import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line: string): void => console.log(`${new Date().toISOString().slice(11, 19)} ${line}`);

interface Interval {
  replica: number;
  term: number;
  from: number;
  to?: number;
}

/** One replica process and what it reported. */
class Replica {
  readonly child: ChildProcess;
  readonly led = new Set<number>();
  readonly renewMs: number[] = [];
  readonly stats: Extract<ReplicaMessage, { t: 'stats' }>[] = [];
  baseline?: { rss: number; heapUsed: number };
  memory?: { rss: number; heapUsed: number };
  started?: { at: number; startMs: number };
  stoppedAt?: number;
  readonly exited: Promise<number | null>;
  recordRenewals = false;

  constructor(
    readonly id: number,
    proxyPort: number,
    container: string,
    listingFrom: number,
    private readonly onMessage: (replica: Replica, message: ReplicaMessage) => void,
  ) {
    this.child = fork(join(here, 'many-leases-replica.ts'), [], {
      execArgv: ['--expose-gc', '--import', 'tsx'],
      env: {
        ...process.env,
        PORT: String(proxyPort),
        CONTAINER: container,
        REPLICA: String(id),
        LEASES: String(leases),
        LISTING_FROM: String(listingFrom),
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (message: ReplicaMessage) => {
      if (message.t === 'baseline') this.baseline = message;
      else if (message.t === 'memory') this.memory = message;
      else if (message.t === 'started') this.started = message;
      else if (message.t === 'stopped') this.stoppedAt = message.at;
      else if (message.t === 'stats') {
        this.stats.push(message);
        if (this.recordRenewals) this.renewMs.push(...message.renewMs);
      } else if (message.t === 'a') this.led.add(message.i);
      else if (message.t === 'l') this.led.delete(message.i);
      this.onMessage(this, message);
    });
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  async gcMemory(): Promise<{ rss: number; heapUsed: number }> {
    this.memory = undefined;
    this.child.send({ t: 'gc' });
    while (!this.memory) await sleep(50);
    return this.memory;
  }

  /** CPU ms reported in stats whose report time is in [from, to). */
  cpuMsBetween(from: number, to: number): number {
    return this.stats.filter((s) => s.at >= from && s.at < to).reduce((sum, s) => sum + s.cpuMs, 0);
  }
}

function percentiles(values: number[]): { n: number; p50: number; p95: number; p99: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number): number =>
    sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
  return {
    n: sorted.length,
    p50: at(0.5),
    p95: at(0.95),
    p99: at(0.99),
    max: sorted.at(-1) ?? NaN,
  };
}

function perHour(counts: RequestCounts, ms: number): { total: number; byKind: Record<string, number> } {
  const byKind: Record<string, number> = {};
  for (const [kind, count] of Object.entries(counts.byKind)) byKind[kind] = Math.round((count * 3.6e6) / ms);
  return { total: Math.round((counts.total * 3.6e6) / ms), byKind };
}

/** Per lease: intervals of different replicas that overlap in time, and terms that went backwards. */
function checkOverlaps(intervals: Interval[][]): {
  leaderships: number;
  overlaps: number;
  maxOverlapMs: number;
  termRegressions: number;
} {
  let overlaps = 0;
  let maxOverlapMs = 0;
  let termRegressions = 0;
  let leaderships = 0;
  for (const list of intervals) {
    const sorted = [...list].sort((a, b) => a.from - b.from);
    leaderships += sorted.length;
    for (let k = 1; k < sorted.length; k++) {
      const current = sorted[k]!;
      for (let j = 0; j < k; j++) {
        const earlier = sorted[j]!;
        if (earlier.replica === current.replica) continue;
        const end = earlier.to ?? Infinity;
        if (end > current.from) {
          overlaps += 1;
          maxOverlapMs = Math.max(maxOverlapMs, Math.min(end, current.to ?? end) - current.from);
        }
      }
      if (current.term <= sorted[k - 1]!.term) termRegressions += 1;
    }
  }
  return { leaderships, overlaps, maxOverlapMs, termRegressions };
}

async function scale(azurite: { port: number; pid: number }): Promise<unknown> {
  const minutes = Number(values.minutes);
  const listingFrom = Number(values['listing-from']);
  const container = `many-${randomBytes(3).toString('hex')}`;
  const proxies = await Promise.all([0, 1, 2].map(() => new CountingProxy(azurite.port).start()));
  const intervals: Interval[][] = Array.from({ length: leases }, () => []);
  const open = new Map<string, Interval>();
  const leaders = new Array<number>(leases).fill(0);
  let ledLeases = 0;
  let allLedAt: number | undefined;
  const takeovers = new Map<number, { since: number; from: number; ms: Map<number, number> }>();
  const onMessage = (replica: Replica, message: ReplicaMessage): void => {
    if (message.t === 'a') {
      const interval: Interval = { replica: replica.id, term: message.term, from: message.at };
      intervals[message.i]!.push(interval);
      open.set(`${replica.id}:${message.i}`, interval);
      if (leaders[message.i]!++ === 0) ledLeases += 1;
      if (ledLeases === leases && allLedAt === undefined) allLedAt = message.at;
      for (const takeover of takeovers.values())
        if (takeover.from !== replica.id && !takeover.ms.has(message.i) && message.at >= takeover.since)
          takeover.ms.set(message.i, message.at - takeover.since);
    } else if (message.t === 'l') {
      const interval = open.get(`${replica.id}:${message.i}`);
      if (interval) interval.to = message.at;
      open.delete(`${replica.id}:${message.i}`);
      if (--leaders[message.i]! === 0) ledLeases -= 1;
    }
  };
  /** Ends the open leaderships of a replica that can no longer act (killed, or exited). */
  const closeAll = (replica: Replica, at: number): void => {
    for (const i of replica.led) {
      const interval = open.get(`${replica.id}:${i}`);
      if (interval) interval.to = at;
      open.delete(`${replica.id}:${i}`);
      if (--leaders[i]! === 0) ledLeases -= 1;
    }
    replica.led.clear();
  };

  const azuriteCpu0 = processCpuMs(azurite.pid) ?? 0;
  const t0 = Date.now();
  const replicas = [0, 1, 2].map(
    (id) => new Replica(id, proxies[id]!.port, container, listingFrom, onMessage),
  );
  const snapshots: { at: number; counts: RequestCounts[] }[] = [];
  const snap = (): void => {
    snapshots.push({ at: Date.now(), counts: proxies.map((proxy) => proxy.snapshot()) });
  };
  snap();
  /** [ms since start, leases led, the machine's 1-minute load average] every second. */
  const ledOverTime: [number, number, number][] = [];
  const sampler = setInterval(() => ledOverTime.push([Date.now() - t0, ledLeases, loadavg()[0]!]), 1000);
  await sleep(60_000);
  snap(); // the first minute
  const firstMinute = snapshots[1]!;
  log(
    `first minute: ${proxies.map((_, r) => diffCounts(firstMinute.counts[r]!, snapshots[0]!.counts[r]!).total).join(' / ')} requests; led ${ledLeases}; all led at ${allLedAt === undefined ? '-' : allLedAt - t0} ms`,
  );
  // Steady state: from minute 2 to the end.
  await sleep(60_000);
  snap();
  const steadyFrom = snapshots.at(-1)!;
  const azuriteCpuSteady0 = processCpuMs(azurite.pid) ?? 0;
  for (const replica of replicas) replica.recordRenewals = true;
  const lostAtSteadyStart = intervals.flat().filter((i) => i.to !== undefined).length;
  let minLedInSteady = leases;
  const steadyEnd = t0 + minutes * 60_000;
  while (Date.now() < steadyEnd) {
    await sleep(1000);
    minLedInSteady = Math.min(minLedInSteady, ledLeases);
  }
  snap();
  const steadyTo = snapshots.at(-1)!;
  const steadyMs = steadyTo.at - steadyFrom.at;
  const azuriteCpuSteady = ((processCpuMs(azurite.pid) ?? 0) - azuriteCpuSteady0) / steadyMs;
  for (const replica of replicas) replica.recordRenewals = false;
  const endedInSteady = intervals.flat().filter((i) => i.to !== undefined).length - lostAtSteadyStart;
  const ledAtEnd = replicas.map((replica) => replica.led.size);
  const memoryAtEnd = await Promise.all(replicas.map((replica) => replica.gcMemory()));
  log(`steady state done: min led ${minLedInSteady}, leaderships ended ${endedInSteady}`);

  const fault = async (
    victim: Replica,
    signal: 'SIGKILL' | 'SIGTERM',
  ): Promise<{ leases: number; ms: ReturnType<typeof percentiles>; missing: number; stopMs?: number }> => {
    const theirs = [...victim.led];
    const since = Date.now();
    const takeover = { since, from: victim.id, ms: new Map<number, number>() };
    takeovers.set(victim.id, takeover);
    victim.child.kill(signal);
    if (signal === 'SIGKILL') closeAll(victim, since);
    const deadline = since + 90_000;
    while (Date.now() < deadline && theirs.some((i) => !takeover.ms.has(i))) await sleep(200);
    await Promise.race([victim.exited, sleep(10_000)]);
    if (signal === 'SIGTERM') closeAll(victim, Date.now());
    const ms = theirs.filter((i) => takeover.ms.has(i)).map((i) => takeover.ms.get(i)!);
    const result = {
      leases: theirs.length,
      ms: percentiles(ms),
      missing: theirs.length - ms.length,
      ...(victim.stoppedAt ? { stopMs: victim.stoppedAt - since } : {}),
    };
    log(`${signal} r${victim.id}: ${JSON.stringify(result)}`);
    return result;
  };
  const sigkill = await fault(replicas[0]!, 'SIGKILL');
  await sleep(5000);
  const sigterm = await fault(replicas[1]!, 'SIGTERM');
  await sleep(5000);
  replicas[2]!.child.kill('SIGTERM');
  await Promise.race([replicas[2]!.exited, sleep(30_000)]);
  closeAll(replicas[2]!, Date.now());
  clearInterval(sampler);
  snap();
  for (const proxy of proxies) await proxy.stop();

  const check = checkOverlaps(intervals);
  const firstMinuteCounts = proxies.map((_, r) => {
    const counts = diffCounts(firstMinute.counts[r]!, snapshots[0]!.counts[r]!);
    return { total: counts.total, byKind: counts.byKind };
  });
  const result = {
    leases,
    replicas: 3,
    listingFromLeases: listingFrom,
    minutes,
    startedAt: new Date(t0).toISOString(),
    loadAverageAtEnd: loadavg(),
    startup: {
      firstMinuteRequests: firstMinuteCounts,
      allLedAfterMs: allLedAt === undefined ? null : allLedAt - t0,
      startCallsSettledMs: replicas.map((replica) => replica.started?.startMs ?? null),
      ledAfterSeconds: Object.fromEntries(
        [5, 10, 15, 20, 30, 45, 60].map((s) => [s, ledOverTime.find(([ms]) => ms >= s * 1000)?.[1] ?? null]),
      ),
    },
    steady: {
      windowMs: steadyMs,
      perHour: proxies.map((_, r) =>
        perHour(diffCounts(steadyTo.counts[r]!, steadyFrom.counts[r]!), steadyMs),
      ),
      ledAtEnd,
      minLeasesLed: minLedInSteady,
      leadershipsEnded: endedInSteady,
      renewLatencyMs: percentiles(replicas.flatMap((replica) => replica.renewMs)),
      cpuPercentOfOneCore: replicas.map(
        (replica) => (replica.cpuMsBetween(steadyFrom.at, steadyTo.at) / steadyMs) * 100,
      ),
      azuriteCpuPercentOfOneCore: azuriteCpuSteady * 100,
      memoryAfterGcMB: memoryAtEnd.map((m, r) => ({
        rss: m.rss / 2 ** 20,
        heapUsed: m.heapUsed / 2 ** 20,
        rssBaseline: (replicas[r]!.baseline?.rss ?? 0) / 2 ** 20,
        heapBaseline: (replicas[r]!.baseline?.heapUsed ?? 0) / 2 ** 20,
      })),
    },
    faults: { sigkill, sigterm },
    check,
    azuriteCpuPercentOfOneCoreWholeRun:
      (((processCpuMs(azurite.pid) ?? 0) - azuriteCpu0) / (Date.now() - t0)) * 100,
    ledOverTime,
  };
  log(`check: ${JSON.stringify(check)}`);
  return result;
}

async function memory(azurite: { port: number; pid: number }): Promise<unknown> {
  const windowMs = Number(values['window-s']) * 1000;
  const container = `mem-${randomBytes(3).toString('hex')}`;
  const proxies = await Promise.all([0, 1].map(() => new CountingProxy(azurite.port).start()));
  const noop = (): void => {};
  const holder = new Replica(1, proxies[1]!.port, container, 13, noop);
  const holderDeadline = Date.now() + 120_000;
  while (holder.led.size < leases && Date.now() < holderDeadline) await sleep(500);
  log(`holder leads ${holder.led.size}`);
  const runs = [];
  for (const listingFrom of [1, 1_000_000]) {
    const follower = new Replica(0, proxies[0]!.port, container, listingFrom, noop);
    while (!follower.started) await sleep(200);
    await sleep(20_000);
    const before = proxies[0]!.snapshot();
    const from = Date.now();
    const azurite0 = processCpuMs(azurite.pid) ?? 0;
    const holderFrom = holder.stats.length;
    await sleep(windowMs);
    const to = Date.now();
    const counts = diffCounts(proxies[0]!.snapshot(), before);
    const azuriteCpu = (((processCpuMs(azurite.pid) ?? 0) - azurite0) / (to - from)) * 100;
    const mem = await follower.gcMemory();
    const cpuMs = follower.cpuMsBetween(from, to);
    const run = {
      mode: listingFrom === 1 ? 'shared listing' : 'per-lease polls',
      followerLeads: follower.led.size,
      holderLeads: holder.led.size,
      windowMs: to - from,
      cpuSecondsPerMinute: (cpuMs / 1000) * (60_000 / (to - from)),
      cpuPercentOfOneCore: (cpuMs / (to - from)) * 100,
      holderCpuSecondsPerMinute:
        (holder.stats.slice(holderFrom).reduce((sum, s) => sum + s.cpuMs, 0) / 1000) * (60_000 / (to - from)),
      rssMB: mem.rss / 2 ** 20,
      heapUsedMB: mem.heapUsed / 2 ** 20,
      rssBaselineMB: (follower.baseline?.rss ?? 0) / 2 ** 20,
      heapBaselineMB: (follower.baseline?.heapUsed ?? 0) / 2 ** 20,
      requestsPerHour: perHour(counts, to - from),
      azuriteCpuPercentOfOneCore: azuriteCpu,
      loadAverage: loadavg(),
    };
    log(JSON.stringify(run));
    runs.push(run);
    follower.child.kill('SIGTERM');
    await Promise.race([follower.exited, sleep(30_000)]);
  }
  holder.child.kill('SIGTERM');
  await Promise.race([holder.exited, sleep(30_000)]);
  for (const proxy of proxies) await proxy.stop();
  return { leases, windowMs, runs };
}

async function main(): Promise<void> {
  const azurite = await startAzurite();
  let result: unknown;
  try {
    result = values.scenario === 'memory' ? await memory(azurite) : await scale(azurite);
  } finally {
    await azurite.stop();
  }
  const out = values.out ?? `bench/results/many-leases-${values.scenario}.json`;
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    JSON.stringify({ at: new Date().toISOString(), command: process.argv.slice(2), result }, null, 2),
  );
  log(`written ${out}`);
}

void main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
