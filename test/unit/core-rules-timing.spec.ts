import { describe, expect, it } from '@jest/globals';
import {
  deadlineAfter,
  leaseExpiredBy,
  permanentErrorBackoff,
  recordLossWaitUntil,
  renewalBudget,
  renewalDueAt,
  renewalRetryDelay,
  type Timings,
} from '../../lib/core/timing.js';

// Every timing rule of the election (lib/core/timing.ts, docs/GUARANTEES.md "Timing"), one test per
// rule, on values chosen so that each term of each formula changes the result.

const t: Timings = {
  leaseDurationMs: 15_000,
  safetyMarginMs: 2_000,
  renewIntervalMs: 5_000,
  renewRetryIntervalMs: 1_000,
  requestTimeoutMs: 3_000,
  retryIntervalMs: 500,
  maxErrorBackoffMs: 30_000,
};

describe('timing rules', () => {
  it('deadline: a replica believes it leads until sentAt + D − safety margin', () => {
    expect(deadlineAfter(100, t)).toBe(100 + 15_000 - 2_000);
  });

  it('lease expiry: a lease sent at sentAt and never renewed has surely expired at sentAt + D', () => {
    expect(leaseExpiredBy(100, t)).toBe(15_100);
  });

  it('renewal due: the next renewal is due renewIntervalMs after the last successful send', () => {
    expect(renewalDueAt(100, t)).toBe(5_100);
  });

  it('renewal budget: the request timeout, cut to the time left before the deadline', () => {
    expect(renewalBudget(10_000, 2_000, t)).toBe(3_000); // 8 s left: the request timeout
    expect(renewalBudget(10_000, 8_500, t)).toBe(1_500); // 1.5 s left: the time left
  });

  it('renewal retry delay: renewRetryIntervalMs, cut to the time left, never negative', () => {
    expect(renewalRetryDelay(10_000, 2_000, t)).toBe(1_000);
    expect(renewalRetryDelay(10_000, 9_700, t)).toBe(300);
    expect(renewalRetryDelay(10_000, 10_400, t)).toBe(0); // past the deadline: no wait, not a negative one
  });

  it('permanent-error backoff: R after the first failure, doubling with each one, capped at maxErrorBackoffMs', () => {
    expect(permanentErrorBackoff(1, t)).toBe(500);
    expect(permanentErrorBackoff(2, t)).toBe(1_000);
    expect(permanentErrorBackoff(4, t)).toBe(4_000);
    expect(permanentErrorBackoff(7, t)).toBe(30_000); // 32 s doubled: capped
  });

  it('permanent-error backoff: the exponent stops at 16, so a huge failure count still gives a finite cap', () => {
    const uncapped = { ...t, maxErrorBackoffMs: Number.MAX_SAFE_INTEGER };
    expect(permanentErrorBackoff(17, uncapped)).toBe(500 * 2 ** 16);
    expect(permanentErrorBackoff(5_000, uncapped)).toBe(500 * 2 ** 16);
  });

  it('record-loss wait: one lease duration from the moment the loss was noticed', () => {
    expect(recordLossWaitUntil(700, t)).toBe(15_700);
  });
});
