import { afterEach, describe, expect, it } from '@jest/globals';
import { resolveElectionOptions } from '../../lib/core/election-options.js';
import { MemoryLeaseStore } from '../../lib/stores/memory/memory-lease-store.js';
import { setup, stopAllElectors, type Candidate } from '../support/elector-harness.js';
import { ManualClock } from '../support/manual-clock.js';

// Hostile review of fast failover (issue 21 part 1, merge 2e74b1f), 2026-12-07. Each test here failed
// on main at 2e74b1f (written in test/pending, moved once fixed). Findings:
//
// 1. (medium, liveness/validation) safetyMarginMs ≥ livenessMs − heartbeatIntervalMs is accepted, and
//    then heartbeatDeadlineAfter clamps the margin so the belief after a heartbeat sent at s ends at
//    s + heartbeatIntervalMs: exactly when the next heartbeat is due. keepHeartbeating wakes at that
//    instant, finds the tenure invalid and stops; the leader steps down after every heartbeat interval
//    and flaps. Fix: refuse it at boot (e.g. safetyMarginMs ≤ livenessMs − 2 × heartbeatIntervalMs,
//    naming both options), or keep the unclamped margin and refuse livenessMs − margin < 2h.
// 2. (low-medium, liveness + a false promise) With the defaults (livenessMs 3000 → heartbeat 1000,
//    margin 1000) the belief after a heartbeat is 2000 ms, so ONE heartbeat that hangs (a latency spike,
//    a dropped connection: its timeout is min(requestTimeoutMs, deadline − sentAt) = 1000 ms) ends
//    leadership. The heartbeatIntervalMs rule's message says "two heartbeats may fail before the holder
//    must step down". Fix: time heartbeats out at ≤ heartbeatIntervalMs / 2 (so a retry fits), or make
//    the bound livenessMs − margin ≥ 3h (default h = (livenessMs − margin) / 3), or reword the promise.
// 3. (low, model) The memory store's breakStale answers true for a lease that is not held (released or
//    expired); Azure answers 409 there (the store maps it to false, D4). The follower then acquires
//    at once where on Azure it keeps following until its next poll: unit tests on the memory store
//    exercise a path Azure never takes. Fix: `if (!lease || lease.etag !== ifMatch || !this.isHeld(lease))`
//    (the simulation's model already checks `record.leaseId === undefined`).
// 4. (medium, test strength; no failing test on main: proven by mutation) The simulation's 'fast' profile
//    rarely puts a break inside a holder's belief. A core that breaks after 0.4 × livenessMs of silence
//    (1.2 s, well inside the holder's 2 s belief; both thresholds in breakIfStale/isStaleHolder
//    changed) passed 4 000 schedules of `npm run simulate -- --profile fast --seed 2` and failed only at
//    run 2 117 with --seed 1; heartbeated(clock.now()) (belief from the answer, not the send) passed the
//    whole unit suite and 6 000 fast schedules (now pinned by test/unit/review-fast-held.spec.ts). And
//    overlapExcused's fast line (`drainMs >= margin`) excuses every run that drains ≥ 1 s (35 % of runs)
//    from (d), whatever its timing; narrowed to "only once the run outlived its tenure's belief deadline"
//    (read the core tenure's `deadline` when the run begins, excuse only if `now >= deadline`), 18 000
//    fast + 9 000 mixed/listing/handover schedules still pass on main: the excuse is wider than the
//    limit needs. Fix: narrow the excuse that way; add a fast-profile command that makes heartbeats
//    hang or fail for h … L + 2 s while renewals succeed, so breaks race the belief often.
//    Fixed in the simulation (branch simexcuse): both, plus late-answered heartbeats and livenessMs
//    10 000; numbers in docs/BENCHMARKS.md, the excuse's test in test/simulation/checker.spec.ts.
//
// Attacked and held (no test here; reasons in the review report): header resolution and Date vs
// Last-Modified clocks (the break also needs the follower's own-clock watch of the same version, and is
// conditional on it); a slow Get Properties (its Date is older, so the bound is conservative); listing
// page Date (same); a heartbeat in flight across a break (412 under the new lease); a break landing
// between another replica's Acquire Lease and its Set Metadata (that acquire fails, nobody leads);
// two breakers (the second break or acquire is 409/412 or lands before the winner's write); the
// holder's send time (SDK retries and queued requests only make the write later than sentAt); a lease
// left to expire after stepDown() is not broken by its own replica (its cooldown keeps it out; other
// followers break it after livenessMs: the known drain limit).

afterEach(stopAllElectors);

function lossesOf(candidate: Candidate, now: () => number): number[] {
  const losses: number[] = [];
  candidate.elector.events$.subscribe((event) => event.type === 'lost' && losses.push(now()));
  return losses;
}

describe('review-fast finding 1: a safety margin the fast belief cannot hold is accepted', () => {
  it('safetyMarginMs 2000 with livenessMs 3000 is refused at boot, or a healthy leader keeps leading', async () => {
    const options = { fastFailover: { livenessMs: 3000 }, retryIntervalMs: 1000, safetyMarginMs: 2000 };
    let refused = false;
    try {
      resolveElectionOptions({ leaseName: 'jobs', identity: 'a', ...options });
    } catch {
      refused = true;
    }
    if (refused) return; // the fix chose to refuse: fine
    const { candidate, clock } = setup(options);
    const a = candidate('a');
    await a.elector.start();
    const losses = lossesOf(a, () => clock.now());
    expect(a.elector.isLeader()).toBe(true);
    await clock.advanceTo(10_000); // no fault at all: every heartbeat and renewal answers at once
    expect({ losses, leading: a.elector.isLeader() }).toEqual({ losses: [], leading: true });
  });
});

describe('review-fast finding 2: one hung heartbeat costs leadership at the defaults', () => {
  it('livenessMs 3000, defaults otherwise: a single heartbeat that never answers does not end the tenure', async () => {
    // resolveFastFailover's message: "two heartbeats may fail before the holder must step down".
    const { candidate, clock } = setup({ fastFailover: { livenessMs: 3000 }, retryIntervalMs: 1000 });
    const a = candidate('a');
    await a.elector.start();
    const losses = lossesOf(a, () => clock.now());
    a.store.inject('heartbeat', { type: 'hang' }); // the first heartbeat (sent at 1000) hangs; later ones answer
    await clock.advanceTo(6000);
    expect(a.store.callsOf('heartbeat').length).toBeGreaterThan(1);
    expect({ losses, leading: a.elector.isLeader() }).toEqual({ losses: [], leading: true });
  });
});

describe('review-fast finding 3: the memory store breaks a lease nobody holds', () => {
  it('breakStale on a released lease answers false, as Azure (409) does', async () => {
    const clock = new ManualClock();
    const store = new MemoryLeaseStore(clock);
    const signal = new AbortController().signal;
    await store.acquire({ leaseName: 'jobs', leaseId: 'id-a', identity: 'a', durationSeconds: 15 }, signal);
    await store.release('jobs', 'id-a', signal);
    const seen = await store.observe('jobs', signal);
    expect(seen.held).toBe(false);
    expect(await store.breakStale('jobs', seen.etag!, signal)).toBe(false);
  });
});
