import { describe, expect, it } from '@jest/globals';
import { fastTakeoverBoundMs, longestPollGapMs, REQUEST_ALLOWANCE_MS } from '../../bench/chaos/bounds.js';
import { checkRun } from '../../bench/chaos/checker.js';
import type { FaultRecord, RunRecord } from '../../bench/chaos/types.js';
import { fast3000, record, role, runsEvery } from '../support/chaos-journal.js';

// Hostile review of the fault harness's fast-failover mode (`--fast <livenessMs>`, issue 21),
// 2026-12-08, on main at a0ce53e: every test here FAILS on that code (run them: see
// test/pending/README.md). Journals are hand-written as in test/unit/fast-chaos.spec.ts.

const beliefMs = fast3000.fastFailover!.livenessMs - fast3000.safetyMarginMs; // 2000

describe('review-chaosfast finding 5: the fast bound counts 3 requests, the library makes 5', () => {
  it('poll, conditional break, Acquire Lease, Get Properties and Set Metadata (term) before the tenure', () => {
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
  it('SIGSTOP 4 s (> L): nobody broke the lease, r1 re-acquires itself after SIGCONT: reported as a takeover in 4.3 s', () => {
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
  it('planned 2 s (short), SIGCONT sent 3.5 s after SIGSTOP (harness timer late): a takeover at 5.3 s is "over bound"', () => {
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
