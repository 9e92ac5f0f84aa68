import { describe, expect, it } from '@jest/globals';
import { fastTakeoverBoundMs, faultBounds } from '../../bench/chaos/bounds.js';
import { checkRun, exitCodeOf } from '../../bench/chaos/checker.js';
import { parseChaosArgs } from '../../bench/chaos/cli.js';
import { defaultFaultKinds, resolveTimings, type ChaosOptions } from '../../bench/chaos/harness.js';
import { planFaults } from '../../bench/chaos/plan.js';
import { createPrng } from '../../bench/chaos/prng.js';
import { FAULT_KINDS, type FaultRecord, type JournalEntry, type RunRecord } from '../../bench/chaos/types.js';
import { record, role, run } from '../support/chaos-journal.js';

/** The fault harness in fast-failover mode (`--fast <livenessMs>`): bounds, plan, checker and CLI, on manual data. */
const fastOptions = (livenessMs: number, more: Partial<ChaosOptions> = {}): ChaosOptions => ({
  seed: 1,
  durationMs: 60_000,
  fastLivenessMs: livenessMs,
  ...more,
});
const fast3000 = resolveTimings(fastOptions(3000));

describe('fault harness, fast failover: the takeover bound', () => {
  it('is livenessMs + drift + max(2 s, R + a request) + R + 5 requests + slack', () => {
    // R = 300 ms + 20 % jitter = 360; drift = 1 % of livenessMs, at least 50 ms.
    expect(fastTakeoverBoundMs(fast3000)).toBe(3000 + 50 + 2000 + 360 + 500 + 2000);
    expect(fastTakeoverBoundMs(resolveTimings(fastOptions(5000)))).toBe(5000 + 50 + 2000 + 360 + 500 + 2000);
    // A poll gap above the header resolution takes its place.
    expect(fastTakeoverBoundMs(resolveTimings(fastOptions(6000, { retryIntervalMs: 3000 })))).toBe(
      6000 + 60 + 3600 + 100 + 3600 + 500 + 2000,
    );
  });

  it('holds crashes, partitions and long stops to it; a short stop to the stop plus a poll; SIGTERM and Azurite restarts unchanged', () => {
    const bound = faultBounds(fast3000);
    const plain = faultBounds(resolveTimings({ seed: 1, durationMs: 60_000 }));
    const fault = (kind: FaultRecord['kind'], more: Partial<FaultRecord> = {}): FaultRecord => ({
      id: 1,
      kind,
      at: 0,
      params: {},
      ...more,
    });
    const fastMs = fastTakeoverBoundMs(fast3000);
    expect(bound(fault('sigkill'))).toBe(fastMs);
    expect(bound(fault('partition', { variant: 'lease', params: { partitionMs: 18_000 } }))).toBe(fastMs);
    expect(bound(fault('sigstop', { variant: 'long', params: { stopMs: 4000 } }))).toBe(fastMs);
    expect(bound(fault('sigstop', { variant: 'short', params: { stopMs: 1200 } }))).toBe(
      1200 + 150 + 100 + 2 * 360 + 300 + 2000,
    );
    expect(bound(fault('latency', { variant: 'long', params: { latencyMs: 4000, delayMs: 2000 } }))).toBe(
      4000 + 2000 + fastMs,
    );
    expect(bound(fault('sigterm'))).toBe(plain(fault('sigterm')));
    expect(bound(fault('azurite-restart', { params: { downMs: 1500 } }))).toBe(
      plain(fault('azurite-restart', { params: { downMs: 1500 } })),
    );
    expect(fastMs).toBeLessThan(plain(fault('sigkill')));
  });
});

describe('fault harness, fast failover: the plan', () => {
  const kinds = defaultFaultKinds({ fastLivenessMs: 3000 });

  it('draws short and long SIGSTOPs, long partitions and latency, scaled from livenessMs', () => {
    for (const livenessMs of [3000, 5000]) {
      const timings = resolveTimings(fastOptions(livenessMs));
      const D = timings.leaseMs;
      const plan = planFaults(createPrng(1), kinds, timings, 90);
      const of = (kind: string, variant?: string) =>
        plan.filter((f) => f.kind === kind && (variant === undefined || f.variant === variant));
      const inside = (ms: number, from: number, to: number) => ms >= from && ms <= to;
      expect(of('sigstop', 'short').length).toBeGreaterThan(5);
      for (const f of of('sigstop', 'short'))
        expect(inside(f.holdMs, 0.2 * livenessMs, 0.7 * livenessMs)).toBe(true);
      for (const kind of ['sigstop', 'partition']) {
        expect(of(kind, 'long').length).toBeGreaterThan(3);
        expect(of(kind, 'lease').length + of(kind, 'long').length).toBeGreaterThan(5);
        for (const f of of(kind, 'long'))
          expect(inside(f.holdMs, livenessMs + 500, livenessMs + 3000)).toBe(true);
        for (const f of of(kind, 'lease')) expect(inside(f.holdMs, D + 1000, D + 4000)).toBe(true);
      }
      expect(of('latency').length).toBeGreaterThan(5);
      for (const f of of('latency')) {
        expect(inside(f.holdMs, livenessMs + 500, livenessMs + 3000)).toBe(true);
        expect(2 * f.delayMs).toBeGreaterThan(livenessMs); // a heartbeat round trip above livenessMs
        expect(f.delayMs).toBeLessThanOrEqual(0.8 * livenessMs);
      }
      for (const kind of ['sigkill', 'sigterm', 'azurite-restart', 'block'])
        expect(of(kind).length).toBeGreaterThan(5);
    }
    // Block faults busy-loop for k × livenessMs.
    expect(fast3000.blockMs).toBe(6000);
  });

  it('is the same for the same seed, and differs for another', () => {
    const a = planFaults(createPrng(42), kinds, fast3000, 30);
    expect(planFaults(createPrng(42), kinds, fast3000, 30)).toEqual(a);
    expect(planFaults(createPrng(43), kinds, fast3000, 30)).not.toEqual(a);
  });

  it('leaves the default mode plan as it was (same draws, same order)', () => {
    const timings = resolveTimings({ seed: 7, durationMs: 60_000 });
    const prng = createPrng(7);
    let bag: string[] = [];
    const before = Array.from({ length: 20 }, () => {
      const gapMs = prng.between(1000, 2500);
      if (bag.length === 0) bag = prng.shuffle([...FAULT_KINDS]);
      return {
        gapMs,
        kind: bag.pop(),
        holdMs: Math.round(timings.leaseMs + prng.between(1000, 4000)),
        delayMs: Math.round(timings.renewIntervalMs * prng.between(0.6, 1)),
        downMs: Math.round(prng.between(500, 3000)),
        restartDelayMs: Math.round(prng.between(500, 2000)),
      };
    });
    expect(planFaults(createPrng(7), FAULT_KINDS, timings, 20)).toEqual(before);
  });
});

// ------------------------------------------------------------------ checker, on a hand-written journal

/** A run every 500 ms in [from, to), without fenced writes (chaos-journal's runsEvery writes). */
const runsEvery = (pid: number, term: number, from: number, to: number): JournalEntry[] => {
  const runs: JournalEntry[] = [];
  for (let at = from; at < to; at += 500) runs.push(run(pid, term, at));
  return runs;
};
/** A two-replica fast-failover run with one fault. */
const fastRecord = (fault: FaultRecord, ops: RunRecord['ops']): RunRecord => record([fault], ops);
/** r1 leads (term 1) until a SIGKILL at 10 s; r2 leads (term 2) `takeoverMs` later. */
function killed(takeoverMs: number, extra: JournalEntry[] = []) {
  const fault: FaultRecord = {
    id: 1,
    kind: 'sigkill',
    at: 10_000,
    slot: 'r1',
    pid: 1,
    leaderSlot: 'r1',
    leaderPid: 1,
    termAtFault: 1,
    params: {},
  };
  const led = 10_000 + takeoverMs;
  const entries = [
    role(1, 1000, 'leader', 1),
    ...runsEvery(1, 1, 1100, 10_000),
    role(2, led, 'leader', 2),
    ...runsEvery(2, 2, led + 100, 30_000),
    ...extra,
  ];
  return checkRun(fastRecord(fault, [{ at: 10_000, op: 'sigkill', slot: 'r1', pid: 1 }]), entries);
}
/** r1 (term 1) SIGSTOPped at 10 s for `stopMs`; r2 leads (term 2) at `ledAt`, if given. */
function stopped(stopMs: number, variant: 'short' | 'long', ledAt?: number, extra: JournalEntry[] = []) {
  const contAt = 10_000 + stopMs;
  const fault: FaultRecord = {
    id: 1,
    kind: 'sigstop',
    at: 10_000,
    healedAt: contAt,
    slot: 'r1',
    pid: 1,
    leaderSlot: 'r1',
    leaderPid: 1,
    termAtFault: 1,
    params: { stopMs },
    variant,
  };
  const entries = [
    role(1, 1000, 'leader', 1),
    ...runsEvery(1, 1, 1100, 10_000),
    ...(ledAt === undefined
      ? runsEvery(1, 1, contAt + 50, 30_000)
      : [
          role(1, contAt + 10, 'follower', 2),
          role(2, ledAt, 'leader', 2),
          ...runsEvery(2, 2, ledAt + 100, 30_000),
        ]),
    ...extra,
  ];
  const ops: RunRecord['ops'] = [
    { at: 10_000, op: 'sigstop', slot: 'r1', pid: 1 },
    { at: contAt, op: 'sigcont', slot: 'r1', pid: 1 },
  ];
  return checkRun(fastRecord(fault, ops), entries);
}

describe('fault harness, fast failover: the checker', () => {
  it('passes a crash takeover within the fast bound and reports it', () => {
    const report = killed(5000);
    expect(report.failures).toEqual([]);
    expect(report.livenessOk).toBe(true);
    expect(report.fast).toMatchObject({
      livenessMs: 3000,
      boundMs: fastTakeoverBoundMs(fast3000),
      takeovers: { count: 1, p50Ms: 5000, p95Ms: 5000, maxMs: 5000, overBound: 0 },
      allWithinBound: true,
      runsBeyondFastBelief: 0,
    });
    expect(exitCodeOf(report)).toBe(0);
  });

  it('flags a takeover over the fast bound (still far below the lease bound)', () => {
    const report = killed(fastTakeoverBoundMs(fast3000) + 1);
    expect(report.safetyOk).toBe(true);
    expect(report.livenessOk).toBe(false);
    expect(report.fast).toMatchObject({ takeovers: { overBound: 1 }, allWithinBound: false });
    expect(exitCodeOf(report)).toBe(3);
  });

  it('flags a planted overlap: the resumed holder runs inside its fast belief beside its successor', () => {
    const clean = stopped(4000, 'long', 15_000);
    expect(clean.failures).toEqual([]);
    expect(clean.fast?.takeovers).toMatchObject({ count: 1, maxMs: 5000 });
    const planted = stopped(4000, 'long', 15_000, [run(1, 1, 15_150, 1500)]);
    expect(planted.overlaps.valid).toBe(1);
    expect(planted.safetyOk).toBe(false);
    expect(planted.failures.join('\n')).toMatch(/overlap\(s\) of runs of different replicas/);
  });

  it('flags a run that believed in its lease deadline instead of the fast belief', () => {
    // Believing 12 s from 9.6 s (the 15 s lease) would reach over r2's tenure from 15 s.
    const report = killed(5000, [run(1, 1, 9_600, 12_000)]);
    expect(report.fast?.runsBeyondFastBelief).toBe(1);
    expect(report.failures.join('\n')).toMatch(/more than livenessMs − safetyMargin = 2000 ms/);
    expect(report.safetyOk).toBe(false);
  });

  it('does not demand a takeover after a SIGSTOP shorter than livenessMs, and still checks safety', () => {
    const kept = stopped(1500, 'short');
    expect(kept.failures).toEqual([]);
    expect(kept.faults[0]).toMatchObject({ recovered: true, keptThroughStop: true, withinBound: true });
    expect(kept.ticksAfterResume).toBe(0);
    expect(kept.fast?.shortStops).toEqual({ count: 1, kept: 1, reElected: 0 });
    expect(kept.worstByKind.sigstop?.worstTakeoverMs).toBe(-Infinity); // no takeover, shown as —
    // The belief ran out during the stop and r2 took over: a takeover, fine too.
    const reElected = stopped(2000, 'short', 12_300);
    expect(reElected.failures).toEqual([]);
    expect(reElected.fast?.shortStops).toEqual({ count: 1, kept: 0, reElected: 1 });
    // A resumed holder running beside the new leader's valid tenure is still caught.
    const overlap = stopped(2000, 'short', 12_300, [run(1, 1, 12_450, 1000)]);
    expect(overlap.overlaps.valid).toBe(1);
    expect(overlap.safetyOk).toBe(false);
  });

  it('still counts a tick after SIGCONT when the stop outlived the longest fast belief', () => {
    const report = stopped(4000, 'long', 15_000, [run(1, 1, 14_100, 0)]);
    expect(report.ticksAfterResume).toBe(1);
    expect(report.safetyOk).toBe(false);
  });
});

describe('fault harness: a blocked run that outlived its belief', () => {
  it('is explained by its block fault, not warned about as an unexplained stall', () => {
    const blocked = (withBlockLine: boolean) => {
      const fault: FaultRecord = {
        id: 1,
        kind: 'block',
        at: 9_950,
        slot: 'r1',
        pid: 1,
        leaderSlot: 'r1',
        leaderPid: 1,
        termAtFault: 1,
        params: { blockMs: 6000 },
      };
      const entries: JournalEntry[] = [
        role(1, 1000, 'leader', 1),
        ...runsEvery(1, 1, 1100, 9_900),
        {
          ...(run(1, 1, 10_000) as Extract<JournalEntry, { event: 'run' }>),
          end: 16_100,
          activeAtEnd: false,
        },
        ...(withBlockLine
          ? [
              {
                event: 'block-start',
                replica: 'r1',
                pid: 1,
                term: 1,
                at: 10_050,
                leaseLeftMs: 1750,
              } as JournalEntry,
            ]
          : []),
        role(2, 14_000, 'leader', 2),
        ...runsEvery(2, 2, 14_100, 30_000),
      ];
      return checkRun(fastRecord(fault, []), entries);
    };
    const explained = blocked(true);
    expect(explained.overlaps.stale).toBeGreaterThan(0);
    expect(explained.overlaps.valid).toBe(0);
    expect(explained.warnings.join('\n')).not.toMatch(/without a SIGSTOP or a block fault/);
    expect(blocked(false).warnings.join('\n')).toMatch(/without a SIGSTOP or a block fault to explain it/);
  });
});

describe('fault harness, fast failover: the command line', () => {
  it('takes --fast <livenessMs> and gives the replicas the library’s heartbeat and drift', () => {
    const parsed = parseChaosArgs(['--fast', '3000', '--seed', '1', '--duration', '180']);
    expect(parsed.help).toBe(false);
    if (parsed.help) return;
    expect(parsed.options.fastLivenessMs).toBe(3000);
    expect(resolveTimings(parsed.options).fastFailover).toEqual({
      livenessMs: 3000,
      heartbeatIntervalMs: 666,
      driftMs: 50,
    });
  });

  it('refuses --fast with --renewal thread, naming both', () => {
    expect(() => parseChaosArgs(['--fast', '3000', '--renewal', 'thread'])).toThrow(
      /--fast cannot be combined with --renewal thread/,
    );
    expect(() => resolveTimings(fastOptions(3000, { renewalThread: true }))).toThrow(
      /fast failover \(--fast\) cannot be combined with the renewal thread/,
    );
    expect(() => parseChaosArgs(['--renewal', 'thread'])).not.toThrow();
  });

  it('refuses a livenessMs the library would refuse, and a poll interval above livenessMs / 2', () => {
    expect(() => parseChaosArgs(['--fast', '2000'])).toThrow(/--fast \(livenessMs\) must be .* got 2000/);
    expect(() => parseChaosArgs(['--fast', '15000'])).toThrow(/below the lease duration \(15000 ms\)/);
    expect(() => parseChaosArgs(['--fast', 'soon'])).toThrow(/--fast must be livenessMs/);
    expect(() => parseChaosArgs(['--fast', '3000', '--retry', '2000'])).toThrow(/--retry 2000 ms is above/);
  });
});
