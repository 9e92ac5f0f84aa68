import { describe, expect, it } from '@jest/globals';
import {
  createSharedState,
  HEARTBEAT,
  mainSilenceMs,
  measureOffsetUs,
  toMs,
  toUs,
} from '../../lib/renewal/shared-renewal-state.js';

// The time rules shared by the main thread and the renewal thread (issue 11).
describe('renewal thread: one time base across threads', () => {
  it('the measured offset is never below the true one, so a renewal time converted to the main clock is never later than the truth', () => {
    const trueOffsetUs = 5_000_000n; // the worker's clock reads 5 s more than the main clock
    for (const latencyUs of [0n, 1n, 250n, 40_000n]) {
      const probe = 1_000_000n; // main clock when the main thread wrote the probe
      const workerReadAt = probe + trueOffsetUs + latencyUs; // the worker reads it later
      const offset = measureOffsetUs(probe, workerReadAt);
      expect(offset >= trueOffsetUs).toBe(true);
      const renewSentWorker = 9_000_000n;
      const asMain = renewSentWorker - offset;
      expect(asMain <= renewSentWorker - trueOffsetUs).toBe(true); // early, never late: the deadline only moves earlier
    }
  });

  it('a main thread that stopped beating is seen as silent for as long as it stopped (a stale heartbeat stops renewal)', () => {
    const state = createSharedState();
    const offset = 2_000_000n;
    Atomics.store(state, HEARTBEAT, toUs(10_000)); // main beat at main-clock 10 s
    expect(mainSilenceMs(state, toUs(10_050) + offset, offset)).toBeCloseTo(50, 3);
    expect(mainSilenceMs(state, toUs(70_000) + offset, offset)).toBeCloseTo(60_000, 3);
    expect(toMs(toUs(1234.5))).toBe(1234.5);
  });
});
