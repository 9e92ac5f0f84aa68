import fc from 'fast-check';
import type { ContainerClient } from '@azure/storage-blob';
import { catchUpDue, type TickLedger } from '../../lib/core/tick-ledger.js';
import { AzureBlobTickLedger } from '../../lib/stores/azure-blob/azure-blob-tick-ledger.js';

/**
 * A model of @LeaderOnly({ catchUp }) over the REAL Azure tick ledger (AzureBlobTickLedger: read,
 * decideClaim, conditional write) on a fake blob with ETags, per-request latency and transient
 * failures, in virtual time. Leadership is a timeline of valid tenures (never overlapping, terms
 * increasing: what the election guarantees); every replica's cron fires every tick, a little late;
 * the replica that leads claims the tick and runs it if the claim answered inside its tenure (the
 * gate's order: claim, check the tenure, run), a follower notes the tick as skipped, and a new
 * tenure catches up the latest tick (catchUpDue). A request may land long after it was sent (an
 * ex-leader's stalled write). Invariants after each scenario:
 *   [once]     no tick runs twice;
 *   [tenure]   every run starts inside its runner's tenure;
 *   [liveness] (clean profile: short latencies, no failures) a tick is run when a tenure covers it,
 *              or when it fell in a gap and a leader was elected within deadlineMs (before the next
 *              tick); ticks whose claim answered after its tenure ended are the documented loss.
 */

export const PERIOD_MS = 60_000;
export const DEADLINE_MS = 45_000;
const JOB = 'Jobs.tick';
const LEASE = 'leader';

export interface Tenure {
  replica: number;
  start: number;
  end: number;
  term: number;
}

export interface CatchUpScenario {
  replicas: number;
  tenures: Tenure[];
  /** Per replica: how late its cron fires after each tick, ms. */
  lateness: number[];
  /** Latencies of successive store requests, ms (cycled). */
  latencies: number[];
  /** Which successive requests fail (cycled). */
  failures: boolean[];
  /** Whether latencies may exceed a tenure (a write lands after its sender lost the lease). */
  clean: boolean;
}

/** A defect planted in the model or the store, to show the checker finds it. */
export type Mutation = 'none' | 'run-before-claim' | 'ignore-if-match' | 'no-catch-up' | 'no-deadline';

interface Run {
  /** For a catch-up run: when its tenure began. */
  caughtUpAt?: number;
  tick: number;
  replica: number;
  term: number;
  at: number;
}

/** Virtual time: timers in a queue, run in time order; microtasks drained between them. */
class VirtualTime {
  now = 0;
  private seq = 0;
  private readonly queue: { at: number; seq: number; fire: () => void }[] = [];

  at(time: number, fire: () => void): void {
    this.queue.push({ at: Math.max(time, this.now), seq: this.seq++, fire });
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.at(this.now + ms, resolve));
  }

  async run(until: number): Promise<void> {
    for (;;) {
      await drain();
      this.queue.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.queue.shift();
      if (!next || next.at > until) return;
      this.now = next.at;
      next.fire();
    }
  }
}

async function drain(): Promise<void> {
  for (let i = 0; i < 50; i++) await Promise.resolve();
}

/** One blob container with ETags (If-Match / If-None-Match), delays and failures per request. */
class FakeContainer {
  private readonly blobs = new Map<string, { body: string; etag: string }>();
  private etags = 0;
  private requests = 0;

  constructor(
    private readonly time: VirtualTime,
    private readonly scenario: CatchUpScenario,
    private readonly mutation: Mutation,
  ) {}

  /** Delay, then fail or go on; the state is read/written at the END (when the request lands). */
  private async request(): Promise<void> {
    const n = this.requests++;
    const latency = this.scenario.latencies[n % this.scenario.latencies.length]!;
    const fails = this.scenario.failures[n % this.scenario.failures.length]!;
    await this.time.sleep(latency);
    if (fails) throw Object.assign(new Error('injected'), { statusCode: 503 });
  }

  getBlockBlobClient(name: string): unknown {
    return {
      download: async () => {
        await this.request();
        const blob = this.blobs.get(name);
        if (!blob) throw Object.assign(new Error('missing'), { statusCode: 404, code: 'BlobNotFound' });
        const body = Buffer.from(blob.body);
        return {
          etag: blob.etag,
          readableStreamBody: {
            async *[Symbol.asyncIterator]() {
              yield body;
            },
          },
        };
      },
      upload: async (
        body: string,
        _length: number,
        options: { conditions: { ifMatch?: string; ifNoneMatch?: string } },
      ) => {
        await this.request();
        const blob = this.blobs.get(name);
        const { ifMatch, ifNoneMatch } = options.conditions;
        if (this.mutation !== 'ignore-if-match') {
          if (ifNoneMatch === '*' && blob)
            throw Object.assign(new Error('exists'), { statusCode: 409, code: 'BlobAlreadyExists' });
          if (ifMatch !== undefined && blob?.etag !== ifMatch)
            throw Object.assign(new Error('condition'), { statusCode: 412, code: 'ConditionNotMet' });
        }
        this.blobs.set(name, { body, etag: `"${++this.etags}"` });
        return {};
      },
    };
  }
}

/** Totals over the scenarios run, so a test can show the model exercised what it checks. */
export const stats = { runs: 0, caughtUp: 0, lostAfterClaim: 0 };

export async function runCatchUpScenario(
  scenario: CatchUpScenario,
  mutation: Mutation = 'none',
): Promise<void> {
  const time = new VirtualTime();
  const container = new FakeContainer(time, scenario, mutation);
  const ledger: TickLedger = new AzureBlobTickLedger(container as unknown as ContainerClient);
  const runs: Run[] = [];
  const recordedWithoutRun = new Set<number>();
  const latestSkipped = new Map<number, number>();
  const tenureAt = (replica: number, at: number): Tenure | undefined =>
    scenario.tenures.find((t) => t.replica === replica && t.start <= at && at < t.end);
  const signal = new AbortController().signal;
  const horizon = Math.max(...scenario.tenures.map((t) => t.end), PERIOD_MS) + PERIOD_MS;

  /** The gate's order: claim under the term, check the tenure is still current, run. */
  async function claimAndRun(
    replica: number,
    tenure: Tenure,
    tick: number,
    caughtUpAt?: number,
  ): Promise<void> {
    if (mutation === 'run-before-claim') {
      runs.push({ tick, replica, term: tenure.term, at: time.now, caughtUpAt });
      await ledger
        .claim({ leaseName: LEASE, job: JOB, tickAt: tick, term: tenure.term }, signal)
        .catch(() => undefined);
      return;
    }
    let claimed: boolean;
    try {
      claimed = (await ledger.claim({ leaseName: LEASE, job: JOB, tickAt: tick, term: tenure.term }, signal))
        .claimed;
    } catch {
      return; // ledger unavailable: not run
    }
    if (!claimed) return;
    if (time.now >= tenure.end) {
      recordedWithoutRun.add(tick);
      return;
    }
    runs.push({ tick, replica, term: tenure.term, at: time.now, caughtUpAt });
  }

  for (let tick = 0; tick <= horizon; tick += PERIOD_MS)
    for (let replica = 0; replica < scenario.replicas; replica++)
      time.at(tick + scenario.lateness[replica]!, () => {
        const tenure = tenureAt(replica, time.now);
        if (!tenure) {
          latestSkipped.set(replica, Math.max(latestSkipped.get(replica) ?? -1, tick));
          return;
        }
        void claimAndRun(replica, tenure, tick);
      });

  for (const tenure of scenario.tenures)
    time.at(tenure.start, () => {
      void (async () => {
        if (mutation === 'no-catch-up') return;
        const now = time.now;
        const deadlineMs = mutation === 'no-deadline' ? Number.MAX_SAFE_INTEGER : DEADLINE_MS;
        const latestTick = Math.floor(now / PERIOD_MS) * PERIOD_MS;
        if (now - latestTick > deadlineMs) return;
        let recorded;
        try {
          recorded = await ledger.lastTick(LEASE, JOB, signal);
        } catch {
          return;
        }
        const due = catchUpDue({
          latestTick,
          now,
          deadlineMs,
          recorded,
          latestSkipped: latestSkipped.get(tenure.replica),
        });
        if (due && time.now < tenure.end) await claimAndRun(tenure.replica, tenure, latestTick, now);
      })();
    });

  await time.run(horizon + 10 * PERIOD_MS);

  // [once]
  const byTick = new Map<number, Run[]>();
  for (const run of runs) byTick.set(run.tick, [...(byTick.get(run.tick) ?? []), run]);
  for (const [tick, list] of byTick)
    if (list.length > 1)
      throw new Error(`[once] tick ${tick} ran ${list.length} times: ${JSON.stringify(list)}`);
  // [tenure]
  for (const run of runs) {
    const tenure = tenureAt(run.replica, run.at);
    if (!tenure || tenure.term !== run.term)
      throw new Error(`[tenure] run outside its tenure: ${JSON.stringify(run)}`);
  }
  // [deadline]
  for (const run of runs)
    if (run.caughtUpAt !== undefined && run.caughtUpAt - run.tick > DEADLINE_MS)
      throw new Error(`[deadline] tick ${run.tick} caught up ${run.caughtUpAt - run.tick} ms after it`);
  stats.runs += runs.length;
  stats.caughtUp += runs.filter((run) => run.caughtUpAt !== undefined).length;
  stats.lostAfterClaim += recordedWithoutRun.size;
  if (!scenario.clean) return;
  // [liveness]
  const margin = 5_000; // > lateness + a claim's latency in the clean profile
  for (let tick = 0; tick + PERIOD_MS <= horizon; tick += PERIOD_MS) {
    if (byTick.has(tick) || recordedWithoutRun.has(tick)) continue;
    const covering = scenario.tenures.find((t) => t.start <= tick && tick + margin <= t.end);
    const nearBoundary = scenario.tenures.some(
      (t) => Math.abs(t.start - tick) < margin || Math.abs(t.end - tick) < margin,
    );
    const next = scenario.tenures.find((t) => t.start > tick);
    const gapCaught =
      !scenario.tenures.some((t) => t.start <= tick && tick < t.end) &&
      next !== undefined &&
      next.start - tick <= DEADLINE_MS &&
      next.start < tick + PERIOD_MS &&
      next.end - next.start >= margin;
    if (covering || (gapCaught && !nearBoundary))
      throw new Error(`[liveness] tick ${tick} never ran (tenures ${JSON.stringify(scenario.tenures)})`);
  }
}

/** Tenures with gaps, terms increasing, over about an hour; clean or faulty networks. */
export function catchUpScenarioArbitrary(): fc.Arbitrary<CatchUpScenario> {
  return fc
    .record({
      replicas: fc.integer({ min: 2, max: 3 }),
      steps: fc.array(
        fc.record({
          replica: fc.nat(2),
          gap: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 90_000 })),
          length: fc.integer({ min: 1_000, max: 400_000 }),
        }),
        { minLength: 1, maxLength: 15 },
      ),
      lateness: fc.array(fc.integer({ min: 0, max: 1_500 }), { minLength: 3, maxLength: 3 }),
      clean: fc.boolean(),
      latencies: fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 20 }),
      slow: fc.array(fc.integer({ min: 1, max: 30_000 }), { minLength: 1, maxLength: 20 }),
      failures: fc.array(fc.boolean(), { minLength: 1, maxLength: 20 }),
    })
    .map(({ replicas, steps, lateness, clean, latencies, slow, failures }) => {
      const tenures: Tenure[] = [];
      let at = 0;
      steps.forEach((step, i) => {
        at += step.gap;
        tenures.push({ replica: step.replica % replicas, start: at, end: at + step.length, term: i + 1 });
        at += step.length;
      });
      return {
        replicas,
        tenures,
        lateness,
        latencies: clean ? latencies.map((ms) => Math.min(ms, 300)) : [...latencies, ...slow],
        failures: clean ? [false] : failures,
        clean,
      };
    });
}
