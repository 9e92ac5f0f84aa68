import type { ResolvedElectionOptions } from './election-options.js';

/**
 * Every timing rule of the election, written once (docs/GUARANTEES.md, "Timing"). Times are
 * monotonic ms. `sentAt` is always the time just BEFORE a successful acquire or renew was sent: the
 * server's lease started after it, so it surely lasts until sentAt + D.
 */
export type Timings = Pick<
  ResolvedElectionOptions,
  | 'leaseDurationMs'
  | 'safetyMarginMs'
  | 'renewIntervalMs'
  | 'renewRetryIntervalMs'
  | 'requestTimeoutMs'
  | 'retryIntervalMs'
  | 'maxErrorBackoffMs'
> & { fastFailover?: ResolvedElectionOptions['fastFailover'] };

/** The one deadline rule: a replica believes it leads until sentAt + D − safetyMargin. */
export function deadlineAfter(sentAt: number, t: Timings): number {
  return sentAt + t.leaseDurationMs - t.safetyMarginMs;
}

/** When a lease sent at `sentAt` and never renewed has surely expired on the server. */
export function leaseExpiredBy(sentAt: number, t: Timings): number {
  return sentAt + t.leaseDurationMs;
}

/** When the next renewal is due after the last successful send. */
export function renewalDueAt(lastSentAt: number, t: Timings): number {
  return lastSentAt + t.renewIntervalMs;
}

/** A renewal never outlives the deadline: bounded by the time left. */
export function renewalBudget(deadline: number, now: number, t: Timings): number {
  return Math.min(t.requestTimeoutMs, deadline - now);
}

/** Pause before retrying a failed renewal (or re-reading the renewal thread): never past the deadline. */
export function renewalRetryDelay(deadline: number, now: number, t: Timings): number {
  return Math.min(t.renewRetryIntervalMs, Math.max(0, deadline - now));
}

/** Follower backoff after `failures` permanent errors in a row: doubling from R to maxErrorBackoffMs. */
export function permanentErrorBackoff(failures: number, t: Timings): number {
  return Math.min(t.maxErrorBackoffMs, t.retryIntervalMs * 2 ** Math.min(16, failures - 1));
}

/** A noticed record loss keeps this replica out for one lease duration from the moment it noticed. */
export function recordLossWaitUntil(noticedAt: number, t: Pick<Timings, 'leaseDurationMs'>): number {
  return noticedAt + t.leaseDurationMs;
}
