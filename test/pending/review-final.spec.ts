import { afterEach, describe, expect, it } from '@jest/globals';
import { LeaderElector } from '../../lib/core/leader-elector.js';
import { FaultyStore } from '../support/faulty-store.js';
import { D, leadersAmong, setup, stopAllElectors, type Candidate } from '../support/elector-harness.js';
import { RecordingLogger } from '../support/recording-logger.js';

// Hostile review of 7ccfcfb (leaveToExpire rotates the lease id) and the gatefix2 merge (issues 18
// and 19), 2026-12-07: failing tests of the findings. Rules that held: test/unit/review-final.spec.ts.

afterEach(stopAllElectors);

describe('review-final finding 2: a hand-over left to expire does not keep its successor', () => {
  it('yieldTo(b) whose drain says work still runs: c takes the expired lease before b (GUARANTEES: "keeps its successor")', async () => {
    // The release that would have named b never goes out, so the record never names a successor:
    // only the yielder stays out for the extra window. Any other candidate polling first after the
    // lease expired takes it, and the hand-over to b is lost.
    const h = setup({ presence: true });
    let workRunning = false;
    const logger = new RecordingLogger();
    const store = new FaultyStore(h.memory, h.clock);
    const elector = new LeaderElector(
      store,
      { leaseName: 'jobs', identity: 'a', retryJitter: 0, presence: true },
      { clock: h.clock, logger, beforeHandover: () => Promise.resolve(!workRunning) },
    );
    h.electors.push(elector);
    const a: Candidate = { elector, store, logger, states: [] };
    await a.elector.start();
    expect(a.elector.isLeader()).toBe(true);
    const b = h.candidate('b');
    await b.elector.start();
    await h.clock.advance(1_000);
    const c = h.candidate('c');
    await c.elector.start();
    await h.clock.advance(500);
    workRunning = true;
    await a.elector.yieldTo('b');
    expect(logger.text()).toContain('Not releasing lease "jobs" to "b"');
    let first: string | undefined;
    for (let t = 0; t < 3 * D && first === undefined; t += 100) {
      await h.clock.advance(100);
      first = leadersAmong(a, b, c)[0]?.elector.identity;
    }
    expect(first).toBe('b');
  });
});
