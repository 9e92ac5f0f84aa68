/**
 * The seeded fault plan of the harness: which fault comes next and its parameters, drawn from the
 * PRNG only (never from what happened in the run), so one seed always gives the same plan.
 *
 * Default mode: every kind once per round, in shuffled order; stops, partitions and latency last
 * D + 1..4 s, latency delays 0.6..1 × renewInterval each way.
 * Fast-failover mode (timings.fastFailover, L = livenessMs): durations scale with L, not D.
 *   sigstop short  0.2..0.7 × L (the holder keeps leading, or re-acquires its own lease)
 *   sigstop long   L + 0.5..3 s, one in four D + 1..4 s
 *   partition      L + 0.5..3 s, one in four D + 1..4 s
 *   latency        L + 0.5..3 s long, 0.55..0.8 × L each way (a heartbeat round trip above L)
 * A round then holds sigstop twice (short and long).
 */
import type { Prng } from './prng.js';
import type { ChaosTimings, FaultKind, FaultVariant } from './types.js';

export interface PlannedFault {
  kind: FaultKind;
  /** Fast-failover mode: length class of a sigstop, partition or latency. */
  variant?: FaultVariant;
  /** SIGSTOP, partition or latency length, ms. */
  holdMs: number;
  /** Latency: one-way delay, ms. */
  delayMs: number;
  /** Azurite restart: downtime, ms. */
  downMs: number;
  /** Killed or terminated replica: restarted this long after the election recovered, ms. */
  restartDelayMs: number;
}

interface BagEntry {
  kind: FaultKind;
  variant?: FaultVariant;
}

export class FaultPlan {
  private bag: BagEntry[] = [];
  private readonly entries: BagEntry[];

  constructor(
    private readonly prng: Prng,
    kinds: readonly FaultKind[],
    private readonly timings: ChaosTimings,
  ) {
    this.entries = timings.fastFailover
      ? kinds.flatMap((kind): BagEntry[] =>
          kind === 'sigstop'
            ? [
                { kind, variant: 'short' },
                { kind, variant: 'long' },
              ]
            : kind === 'partition' || kind === 'latency'
              ? [{ kind, variant: 'long' }]
              : [{ kind }],
        )
      : kinds.map((kind) => ({ kind }));
  }

  /** The pause before the next fault, ms (drawn before the fault itself, as the harness waits first). */
  gapMs(): number {
    return this.prng.between(1000, 2500);
  }

  next(): PlannedFault {
    const { prng, timings } = this;
    if (this.bag.length === 0) this.bag = prng.shuffle(this.entries);
    const entry = this.bag.pop()!;
    // Draw every parameter up front, whatever the kind, so the plan depends on the seed only.
    const planned: PlannedFault = {
      kind: entry.kind,
      holdMs: Math.round(timings.leaseMs + prng.between(1000, 4000)),
      delayMs: Math.round(timings.renewIntervalMs * prng.between(0.6, 1)),
      downMs: Math.round(prng.between(500, 3000)),
      restartDelayMs: Math.round(prng.between(500, 2000)),
    };
    const fast = timings.fastFailover;
    if (!fast) return planned;
    const L = fast.livenessMs;
    const leaseScale = prng.next() < 0.25;
    const longMs = Math.round(L + prng.between(500, 3000));
    const shortMs = Math.round(L * prng.between(0.2, 0.7));
    const delayMs = Math.round(L * prng.between(0.55, 0.8));
    if (entry.kind === 'sigstop' && entry.variant === 'short') {
      planned.variant = 'short';
      planned.holdMs = shortMs;
    } else if (entry.kind === 'sigstop' || entry.kind === 'partition') {
      planned.variant = leaseScale ? 'lease' : 'long';
      if (!leaseScale) planned.holdMs = longMs; // lease-scale: D + 1..4 s, drawn above
    } else if (entry.kind === 'latency') {
      planned.variant = 'long';
      planned.holdMs = longMs;
      planned.delayMs = delayMs;
    }
    return planned;
  }
}

/** The first `count` faults of a seed's plan (for tests and for printing a plan). */
export function planFaults(
  prng: Prng,
  kinds: readonly FaultKind[],
  timings: ChaosTimings,
  count: number,
): (PlannedFault & { gapMs: number })[] {
  const plan = new FaultPlan(prng, kinds, timings);
  return Array.from({ length: count }, () => {
    const gapMs = plan.gapMs();
    return { gapMs, ...plan.next() };
  });
}
