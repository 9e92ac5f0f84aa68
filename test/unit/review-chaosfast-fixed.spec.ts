import { describe, expect, it } from '@jest/globals';
import { fastTakeoverBoundMs, longestPollGapMs, REQUEST_ALLOWANCE_MS } from '../../bench/chaos/bounds.js';
import { checkRun, exitCodeOf } from '../../bench/chaos/checker.js';
import type { FaultRecord, JournalEntry, RunRecord } from '../../bench/chaos/types.js';
import { fast3000, record, role, run, runsEvery, sigkill, write } from '../support/chaos-journal.js';

const beliefMs = fast3000.fastFailover!.livenessMs - fast3000.safetyMarginMs; // 2000

// Hostile review of the fault harness's fast-failover mode (issue 21), 2026-12-08: findings fixed
// (each test failed on main at a0ce53e). All seven findings are fixed here.

describe('review-chaosfast finding 1: in fast-failover mode the store-loss excuse lasts livenessMs − margin after the loss', () => {
  // Azurite restarted at 10 s (all blobs gone). In fast mode the old holder believes only until its
  // last successful heartbeat + livenessMs − margin, and no heartbeat can succeed on a store that
  // forgot the lease (404 on the missing blob, 412 on one re-created under another lease id): its
  // belief ends by 10 s + 2 s. A belief of the old tenure later than that is the fast belief not being
  // honoured; the checker still files every such overlap, conflict and regression under "store loss"
  // (info; a conflict only turns into a liveness warning above renewInterval + requestTimeout +
  // slack = 12 s, a bound for lease renewals, not heartbeats).
  const restart: FaultRecord = {
    id: 1,
    kind: 'azurite-restart',
    at: 10_000,
    healedAt: 10_500,
    params: { downMs: 500 },
    leaderSlot: 'r1',
    leaderPid: 1,
    termAtFault: 1,
  };
  const ops: RunRecord['ops'] = [
    { at: 10_000, op: 'azurite-stop' },
    { at: 10_500, op: 'azurite-start' },
  ];

  it('an overlap of both valid tenures 5–15 s after the loss (the old holder never stopped believing) fails the run', () => {
    // Control: right after the loss the old holder may rightly still believe (its belief from before
    // the loss, ≤ 10 s + 2 s): excused, as now.
    const early = checkRun(record([restart], ops), [
      role(1, 1000, 'leader', 1),
      ...runsEvery(1, 1, 1100, 10_200),
      role(2, 10_700, 'leader', 2),
      ...runsEvery(2, 2, 10_800, 30_000),
    ]);
    expect(early.safetyOk).toBe(true);
    expect(early.leadershipConflicts.storeLoss).toBeGreaterThan(0);
    // The old holder goes on believing (fast belief, 1.8 s at each run) for 15 s after the loss.
    const late = checkRun(record([restart], ops), [
      role(1, 1000, 'leader', 1),
      ...runsEvery(1, 1, 1100, 25_000),
      role(2, 15_000, 'leader', 2),
      ...runsEvery(2, 2, 15_100, 30_000),
    ]);
    expect(late.overlaps.storeLoss + late.overlaps.valid).toBeGreaterThan(0);
    expect(late.safetyOk).toBe(false); // a0ce53e: true (every overlap and conflict "after store data loss")
    expect(exitCodeOf(late)).toBe(1); // a0ce53e: 0
  });

  it('a term regression 15 s after the loss is a regression, not a store-loss regression', () => {
    const report = checkRun(record([restart], ops), [
      role(1, 1000, 'leader', 1),
      ...runsEvery(1, 1, 1100, 10_000),
      role(2, 15_000, 'leader', 2),
      ...runsEvery(2, 2, 15_100, 30_000),
      // r1 (term 1, tenure from before the loss) runs believing 1.8 s, 15 s after the loss.
      run(1, 1, 25_020),
    ]);
    expect(report.terms.storeLossRegressions + report.terms.regressions).toBe(1);
    expect(report.terms.regressions).toBe(1); // a0ce53e: 0 (storeLossRegressions 1)
    expect(report.safetyOk).toBe(false);
  });
});

describe('review-chaosfast finding 2: a reused pid does not inherit the death of the earlier process', () => {
  // This machine: /proc/sys/kernel/pid_max = 32768 and about 5 new pids a second during a chaos run,
  // so a 100-minute run (--fast 3000 --duration 6000) wraps the pid counter about once. A restarted
  // replica that gets the pid of an earlier, killed one inherits that process's death: every
  // validity window of the new process is cut at the old death (zero length), so its overlaps
  // become "stale" (info) and its conflicts vanish.
  function journal(restartedPid: number) {
    const ops: RunRecord['ops'] = [
      { at: 10_000, op: 'sigkill', slot: 'r1', pid: 1 },
      { at: 10_050, op: 'exit', slot: 'r1', pid: 1, detail: 'SIGKILL' },
      { at: 20_000, op: 'spawn', slot: 'r1', pid: restartedPid },
    ];
    const entries: JournalEntry[] = [
      role(1, 1000, 'leader', 1),
      ...runsEvery(1, 1, 1100, 10_000),
      role(2, 15_000, 'leader', 2),
      ...runsEvery(2, 2, 15_100, 25_600),
      // r2 still believes (1.8 s from 25.55 s), never stepped down; the restarted r1 leads beside it.
      run(2, 2, 25_550),
      { event: 'boot', replica: 'r1', pid: restartedPid, at: 20_500 },
      role(restartedPid, 25_500, 'leader', 3, 'r1'),
      ...runsEvery(restartedPid, 3, 25_600, 30_000, 'r1'),
    ];
    return checkRun(record([sigkill(10_000, 1)], ops), entries);
  }

  it('a planted overlap inside both valid tenures is seen with a fresh pid and with a reused one', () => {
    const fresh = journal(3);
    expect(fresh.overlaps.valid).toBe(1);
    expect(fresh.leadershipConflicts.count).toBe(1);
    expect(fresh.safetyOk).toBe(false);
    const reused = journal(1);
    expect(reused.overlaps.valid).toBe(1); // a0ce53e: 0 (stale)
    expect(reused.leadershipConflicts.count).toBe(1); // a0ce53e: 0
    expect(reused.safetyOk).toBe(false); // a0ce53e: true
  });
});

describe('review-chaosfast finding 3: a term reused by another process is not a regression', () => {
  it('r2 takes over r1 (killed) with r1’s own term: both fenced writes of term 1 accepted, the run fails (fixed)', () => {
    // Terms are fencing tokens: a successor must write a term above every earlier tenure's. The
    // checker counts only term < highest, and the fenced register accepts equal terms, so two
    // leaders with one term (e.g. a breaker that reports the term it observed instead of the one it
    // wrote) pass every check.
    const ops: RunRecord['ops'] = [{ at: 10_000, op: 'sigkill', slot: 'r1', pid: 1 }];
    const report = checkRun(record([sigkill(10_000, 1)], ops), [
      role(1, 1000, 'leader', 1),
      ...runsEvery(1, 1, 1100, 10_000),
      role(2, 15_000, 'leader', 1),
      ...runsEvery(2, 1, 15_100, 30_000),
    ]);
    expect(report.fencing.rejected).toBe(0);
    expect(report.safetyOk).toBe(false); // was: true
    expect(report.failures.join('\n')).toMatch(/term/);
  });

  it('the same reuse across a store data loss (a replica that never saw the term) is the documented residual: info', () => {
    // Seen in the 631-fault run (seed 2112): r2, partitioned while r1 took term 382, led with 382
    // after an Azurite restart 16 s after r1's last run (GUARANTEES, "When the store loses the lease
    // record", residual). Not simultaneous; counted apart. The same reuse without a loss still fails.
    const lossAt = 12_000;
    const restart: FaultRecord = {
      id: 1,
      kind: 'azurite-restart',
      at: lossAt,
      healedAt: lossAt + 500,
      params: { downMs: 500 },
      leaderSlot: 'r1',
      leaderPid: 1,
      termAtFault: 1,
    };
    const ops: RunRecord['ops'] = [
      { at: lossAt, op: 'azurite-stop' },
      { at: lossAt + 500, op: 'azurite-start' },
    ];
    const entries = [
      role(1, 1000, 'leader', 1),
      ...runsEvery(1, 1, 1100, 10_000),
      role(1, 10_000, 'follower', 1),
      role(2, 28_000, 'leader', 1),
      ...runsEvery(2, 1, 28_100, 40_000),
    ];
    const report = checkRun(record([restart], ops), entries);
    expect(report.terms.regressions).toBe(0);
    expect(report.terms.reusedAcrossLoss).toBeGreaterThan(0);
    expect(report.failures.join('\n')).not.toMatch(/term/);
    const noLoss = checkRun(record([], []), entries);
    expect(noLoss.terms.regressions).toBeGreaterThan(0);
  });
});

describe('review-chaosfast finding 4: the documented check-then-run gap fails the run as UNSAFE', () => {
  it('a run whose first line ran at SIGCONT with no lease time left (BENCHMARKS §13, "one late run") is fenced, counted apart and does not fail the run (fixed)', () => {
    // docs/fast-failover.md ("Limits") and BENCHMARKS §13: a pause between the gate's check and the
    // job's first line lets that run start once after the pause; it reads remainingLeaseMs() 0, its
    // fenced write is rejected, and no gate can close the gap. The checker's own criteria for issue
    // 21 (no overlap inside valid tenures, no term regression) hold, but the run counts as "started
    // with no lease time left" AND as "a tick after SIGCONT on an expired tenure": exit 1. With ~160
    // SIGSTOPs that outlive the fast belief in a 100-minute run (1 in 51 in the benchmark), a correct
    // library is likely to fail the run. Fails too on test/unit/fast-chaos.spec.ts's "still counts a
    // tick after SIGCONT …" (a tick 100 ms after SIGCONT): a fix must tell the two apart (e.g. the
    // run's first line within a few ms of SIGCONT, the pid's previous run one job interval before the
    // stop, its fenced write rejected).
    const fault: FaultRecord = {
      id: 1,
      kind: 'sigstop',
      at: 10_000,
      healedAt: 14_000,
      slot: 'r1',
      pid: 1,
      leaderSlot: 'r1',
      leaderPid: 1,
      termAtFault: 1,
      params: { stopMs: 4000 },
      variant: 'long',
    };
    const ops: RunRecord['ops'] = [
      { at: 10_000, op: 'sigstop', slot: 'r1', pid: 1 },
      { at: 14_000, op: 'sigcont', slot: 'r1', pid: 1 },
    ];
    const entries: JournalEntry[] = [
      role(1, 1000, 'leader', 1),
      ...runsEvery(1, 1, 1350, 10_000), // last run at 9 850: the next tick was due as the stop came
      role(2, 13_000, 'leader', 2),
      ...runsEvery(2, 2, 13_100, 30_000),
      run(1, 1, 14_001, 0, { end: 14_101, activeAtEnd: false }),
      write(1, 1, 14_101),
      role(1, 14_001, 'follower', 2),
    ];
    const report = checkRun(record([fault], ops), entries);
    expect(report.overlaps.valid).toBe(0);
    expect(report.terms.regressions).toBe(0);
    expect(report.fencing.rejected).toBe(1);
    expect(report.safetyOk).toBe(true); // was: false (runsStartedWithoutLease 1, ticksAfterResume 1)
    expect(report.checkThenRunPauses).toBe(1);
    expect(report.runsStartedWithoutLease).toBe(0);
    expect(report.ticksAfterResume).toBe(0);
  });
});

describe('review-chaosfast finding 5: the fast bound counts 3 requests, the library makes 5', () => {
  it('poll, conditional break, Acquire Lease, Get Properties and Set Metadata (term) before the tenure: the bound counts them all (fixed)', () => {
    // AzureBlobLeaseStore.acquire: Acquire Lease (If-Match), Get Blob Properties (previous term),
    // Set Blob Metadata (term, livenessms); the tenure begins only after the last. And the poll that
    // first sees the holder's last ETag answers one request after it was sent, so condition (2) of
    // bounds.ts is W + R + request + L + drift. Absorbed by the 2 s slack, but the bound "stated in the
    // checker" is not the library's arithmetic.
    const fast = fast3000.fastFailover!;
    const R = longestPollGapMs(fast3000);
    const req = REQUEST_ALLOWANCE_MS;
    const libraryBound =
      fast.livenessMs + fast.driftMs + Math.max(2000, R + req) + R + 5 * req + fast3000.slackMs;
    expect(fastTakeoverBoundMs(fast3000)).toBeGreaterThanOrEqual(libraryBound); // was: 7710 < 7910
    expect(beliefMs).toBe(2000);
  });
});

/** r1 (term 1) SIGSTOPped at 10 s; the harness sent SIGCONT at `contAt`. */
const stop = (stopMs: number, variant: 'short' | 'long', contAt: number): FaultRecord => ({
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
});
const stopOps = (contAt: number): RunRecord['ops'] => [
  { at: 10_000, op: 'sigstop', slot: 'r1', pid: 1 },
  { at: contAt, op: 'sigcont', slot: 'r1', pid: 1 },
];

describe('review-chaosfast finding 6: the silenced holder’s own return counts as a fast takeover', () => {
  it('SIGSTOP 4 s (> L): nobody broke the lease, r1 re-acquires itself after SIGCONT: reported apart from the takeovers (fixed)', () => {
    // A long SIGSTOP or partition (L + 0.5..3 s) may end before any follower has seen L + drift of
    // server silence (up to 2 s more through whole-second headers): the holder then steps down at
    // SIGCONT and re-acquires its own lease. The fast report's "takeovers of a holder silenced
    // longer than livenessMs" (count, p50, p95, max) includes these, so it mixes the holder's return
    // with real takeovers, and a follower that never breaks a stopped or partitioned holder is
    // hidden whenever the holder comes back within the bound. Report them apart.
    const contAt = 14_000;
    const report = checkRun(record([stop(4000, 'long', contAt)], stopOps(contAt)), [
      role(1, 1000, 'leader', 1),
      ...runsEvery(1, 1, 1100, 10_000),
      role(1, contAt + 5, 'follower', 1),
      role(1, contAt + 300, 'leader', 2),
      ...runsEvery(1, 2, contAt + 400, 30_000),
    ]);
    expect(report.safetyOk).toBe(true);
    expect(report.faults[0]!.newLeader?.pid).toBe(1);
    expect(report.fast?.takeovers.count).toBe(0); // was: 1 (4300 ms, "within the fast bound")
  });
});

describe('review-chaosfast finding 7: a SIGSTOP is judged by its planned length, not the one it had', () => {
  it('planned 2 s (short), SIGCONT sent 3.5 s after SIGSTOP (harness timer late): a takeover at 5.3 s is within its bound (fixed)', () => {
    // bounds.ts takes the short-stop bound from params.stopMs (the plan) and the class from the
    // plan's variant; the stop lasts until healedAt, recorded when SIGCONT was sent. A late timer
    // in the harness (2-core machine under load) makes the stop longer, so followers may rightly take
    // over (silence > L + drift), yet the bound is the planned stop + a poll.
    const contAt = 13_500;
    const report = checkRun(record([stop(2000, 'short', contAt)], stopOps(contAt)), [
      role(1, 1000, 'leader', 1),
      ...runsEvery(1, 1, 1100, 10_000),
      role(2, 15_300, 'leader', 2),
      ...runsEvery(2, 2, 15_400, 30_000),
      role(1, contAt + 5, 'follower', 2),
    ]);
    expect(report.safetyOk).toBe(true);
    expect(report.faults[0]!.takeoverMs).toBe(5300);
    expect(report.faults[0]!.withinBound).toBe(true); // was: false (bound 5170 ms from the planned 2 s)
  });
});
