import { describe, expect, it } from '@jest/globals';
import { drainWithin } from '../../lib/core/tenure.js';
import { silentLogger } from '../../lib/core/logger.js';
import { LeaderWorkTracker } from '../../lib/nest/leader-work.tracker.js';
import type { ResolvedLeaderElectionOptions } from '../../lib/nest/leader-election-options.resolver.js';
import { ManualClock } from '../../lib/testing/index.js';

// review-gate-2 finding 1, the lease's end: the tenure decides when a drain gives up (drainTimeoutMs
// or what is left of the lease, whichever is first) and tells the drain through its `gaveUp` signal,
// so the streams left to finish within the drain are cut before the lease is left to expire.

describe('a drain that gives up (review-gate-2 finding 1)', () => {
  it("drainWithin aborts the drain's gaveUp signal when its bound is reached, not before", async () => {
    const clock = new ManualClock();
    let gaveUp: AbortSignal | undefined;
    const env = {
      clock,
      logger: silentLogger,
      leaseName: 'leader',
      drainTimeoutMs: 100,
      timings: { leaseDurationMs: 15_000 } as never,
    };
    const result = drainWithin(env, (signal) => {
      gaveUp = signal;
      return new Promise<boolean>(() => undefined); // work that never stops
    });
    await clock.advance(99);
    expect(gaveUp?.aborted).toBe(false);
    await clock.advance(1);
    expect(await result).toBe(false);
    expect(gaveUp?.aborted).toBe(true);
  });

  it('the Nest drain cuts the streams left to it when gaveUp aborts before its own deadline, and does not release', async () => {
    const tracker = new LeaderWorkTracker({
      logger: false,
      shutdownTimeoutMs: 60_000,
    } as ResolvedLeaderElectionOptions);
    const done = tracker.trackRun('leader'); // a stream's run, still going
    let cut = 0;
    tracker.cutWhenDrainGivesUp('leader', () => {
      cut++;
      done();
    });
    const gaveUp = new AbortController();
    const drained = tracker.drain('leader', Date.now() + 60_000, gaveUp.signal);
    await new Promise((resolve) => setImmediate(resolve));
    expect(cut).toBe(0); // the drain waits for the stream meanwhile
    gaveUp.abort(); // the lease runs out before shutdownTimeoutMs
    expect(await drained).toBe(false);
    expect(cut).toBe(1);
    expect(tracker.runningCount('leader')).toBe(0);
  });
});
