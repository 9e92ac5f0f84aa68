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

describe('review-core-2: a hand-over whose release answer is lost', () => {
  it.each([
    ['the release succeeded but its answer was lost', 'succeed-then-fail'],
    ['the release reached the store after its timeout', 'lands-late'],
  ] as const)(
    'the named successor keeps its window (%s): neither the yielder nor a bystander takes the lease within it',
    async (_case, fault) => {
      const h = setup();
      const a = h.candidate('a');
      const b = h.candidate('b');
      await a.elector.start();
      await b.elector.start();
      expect(a.elector.isLeader()).toBe(true);
      a.store.inject('release', fault === 'lands-late' ? { type: 'lands-late', ms: 6_000 } : { type: fault });
      const handing = a.elector.handOver('c', 'review');
      const acquiredAt: number[] = [];
      let releasedAt: number | undefined;
      for (let t = 0; t < 40_000; t += 100) {
        await h.clock.advance(100);
        const seen = await h.memory.observe('jobs', new AbortController().signal);
        if (releasedAt === undefined && !seen.held && seen.successor === 'c') releasedAt = h.clock.now();
        expect(leadersAmong(a, b).length).toBeLessThanOrEqual(1);
        if (leadersAmong(a, b).length === 1 && acquiredAt.length === 0) acquiredAt.push(h.clock.now());
      }
      await handing;
      // c never comes: after its window someone else leads, never before.
      const window = 2 * 2_000 + 5_000;
      expect(releasedAt).toBeDefined();
      expect(acquiredAt).toHaveLength(1);
      expect(acquiredAt[0]! - releasedAt!).toBeGreaterThanOrEqual(window);
    },
  );
});
