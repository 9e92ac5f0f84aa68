/**
 * Renewal off the main thread (see lib/renewal/). While this replica leads, the delegate renews the
 * lease on another thread and publishes each renewal's send time in shared memory, so a main
 * thread blocked by CPU-bound work does not lose the lease, and isLeader() still reads an exact
 * deadline synchronously. Every timing rule stays: the deadline is the last renewal's send time +
 * D − safetyMargin, each renewal is bounded by the time left, a definite loss ends the tenure.
 */
export interface RenewalDelegate {
  /**
   * Starts renewing a lease this replica has just acquired; `sentAt` is the acquire's send time (this
   * thread's monotonic clock).
   */
  begin(lease: DelegatedLease): DelegatedRenewal;
  /** Ends the delegate (all renewals); called when no election uses it any more. */
  close?(): Promise<void>;
}

export interface DelegatedLease {
  leaseName: string;
  leaseId: string;
  sentAt: number;
  leaseDurationMs: number;
  safetyMarginMs: number;
  renewIntervalMs: number;
  renewRetryIntervalMs: number;
  requestTimeoutMs: number;
}

export interface DelegatedRenewal {
  /**
   * Send time of the last successful renewal (or of the acquire), on this thread's monotonic clock: a
   * synchronous shared-memory read.
   */
  lastSentAt(): number;
  /** Set once the renewing side got a definite answer that the lease is gone. */
  lost(): { recordLost: boolean; message: string } | undefined;
  /**
   * Why the renewing side stopped renewing on its own, if it did (e.g. the main thread was blocked past
   * its bound).
   */
  stoppedBecause(): string | undefined;
  /** Stops renewing (step-down, stop, loss). Idempotent. */
  end(): void;
}
