import { afterEach, describe, expect, it } from '@jest/globals';
import { D, leadersAmong, setup, stopAllElectors } from '../support/elector-harness.js';

// Hostile review of the new core, round 2 (issue 18): rules that held under attack, pinned.

afterEach(stopAllElectors);

describe('review-core-2: conditional acquire and acquires in doubt', () => {
  it('a conditional retry refused because our own earlier acquire landed meanwhile does not strand the lease: taken up on the next poll', async () => {
    // a's first acquire (on a free observation, version v0) times out but lands at 7.5 s; its retry
    // acts on a second observation of v0 made before that, lands after it and gets If-Match refused.
    const h = setup();
    const a = h.candidate('a');
    a.store.inject('acquire', { type: 'lands-late', ms: 7_500 });
    a.store.inject('acquire', { type: 'delay', ms: 1_000 });
    const started = a.elector.start(); // its first attempt ends with the acquire's timeout
    const b = h.candidate('b');
    let aLedAt: number | undefined;
    for (let t = 0; t < D; t += 100) {
      await h.clock.advance(100);
      if (t === 7_600) void b.elector.start();
      expect(leadersAmong(a, b).length).toBeLessThanOrEqual(1);
      if (aLedAt === undefined && a.elector.isLeader()) aLedAt = h.clock.now();
    }
    await started;
    // #1 timed out (landed at 7.5 s), #2 on the stale v0 was answered "not acquired", #3 took a's own lease.
    const acquires = a.store.callsOf('acquire').map((call) => [call.at, call.outcome]);
    expect(acquires).toEqual([
      [0, 'error'],
      [7_000, 'ok'],
      [10_000, 'ok'],
    ]);
    // Led on its own lease (same lease id) long before that lease could have expired.
    expect(aLedAt).toBeDefined();
    expect(aLedAt!).toBeLessThan(7_500 + D / 2);
    expect(b.elector.isLeader()).toBe(false);
    expect(a.elector.state.term).toBe(2);
  });
});
