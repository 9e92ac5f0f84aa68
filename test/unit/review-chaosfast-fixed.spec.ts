import { describe, expect, it } from '@jest/globals';
import { checkRun, exitCodeOf } from '../../bench/chaos/checker.js';
import type { FaultRecord, JournalEntry, RunRecord } from '../../bench/chaos/types.js';
import { record, role, run, runsEvery, sigkill, write } from '../support/chaos-journal.js';

// Hostile review of the fault harness's fast-failover mode (issue 21), 2026-12-08: findings fixed
// (each test failed on main at a0ce53e). Open findings: test/pending/review-chaosfast.spec.ts.

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
