import { afterEach, describe, expect, it } from '@jest/globals';
import { setup, stopAllElectors } from '../support/elector-harness.js';

// Hostile review of fast failover (issue 21 part 1, merge 2e74b1f), 2026-12-07: rules that held, pinned
// where no test pinned them before. Tests of the findings, fixed: test/unit/review-fast-fixed.spec.ts.

afterEach(stopAllElectors);

describe('review-fast, held: the fast belief runs from the heartbeat send, not its answer', () => {
  it('a heartbeat sent at 1000 and answered at 1900: the belief still ends at 1000 + livenessMs − margin (livenessMs 4000, heartbeat every 1000)', async () => {
    // Without this test, heartbeated(clock.now()) in keepHeartbeating passed the unit suite and 6 000
    // fast simulation schedules: a slow answer would stretch the belief past what the write protects.
    const { candidate, clock } = setup({ fastFailover: { livenessMs: 4000 }, retryIntervalMs: 1000 });
    const a = candidate('a');
    await a.elector.start();
    const ends: number[] = [];
    a.elector.events$.subscribe((event) => event.type === 'lost' && ends.push(clock.now()));
    a.store.inject('heartbeat', { type: 'slow-answer', ms: 900 });
    await clock.advanceTo(1100);
    expect(a.store.callsOf('heartbeat').map((call) => call.at)).toEqual([1000]);
    a.store.always('heartbeat', { type: 'hang' }); // every later heartbeat: no answer
    await clock.advanceTo(3999);
    expect(a.store.callsOf('heartbeat')[0]!.outcome).toBe('ok');
    expect(a.elector.isLeader()).toBe(true);
    await clock.advanceTo(5500); // (it may take its own, still-held lease up again: a new tenure)
    expect(ends[0]).toBe(4000);
  });
});
