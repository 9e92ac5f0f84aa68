import { LeaderElectionError } from './errors.js';

/**
 * The storage port of the election. A store knows how to take, keep and give back one exclusive,
 * expiring lease per lease name, and how to read who holds it. It knows nothing of timing policy:
 * the {@link LeaderElector} decides when to call what, and how long each call may take.
 *
 * Every method receives an AbortSignal that fires when the elector no longer wants the answer
 * (request timeout, remaining lease time used up, stop). Stores should pass it to their I/O.
 */
export interface LeaseStore {
  /** Human-readable description for logs and health output. Must never contain a secret. */
  readonly description: string;

  /** Cheap read of the lease state; needs no lease id. Followers poll with it. */
  observe(leaseName: string, signal: AbortSignal): Promise<LeaseObservation>;

  /**
   * Try to take the lease with a proposed lease id that stays the same for the whole life of one
   * candidate, so that a retried acquire after a lost response is idempotent.
   *
   * On success the store has recorded the new holder and a term strictly greater than any term
   * recorded before, and only then returns `acquired: true`. When someone else holds the lease the
   * result is `acquired: false` (not an error).
   */
  acquire(request: AcquireRequest, signal: AbortSignal): Promise<AcquireResult>;

  /** Extend the lease held with `leaseId`. Throws {@link LeaseLostError} when it is definitely gone. */
  renew(leaseName: string, leaseId: string, signal: AbortSignal): Promise<void>;

  /**
   * Give the lease back. A lease that is already gone (or held by someone else) counts as released.
   * With `options.successor`, first record that identity as the successor the holder hands over to
   * (see LeaseObservation.successor); a store that cannot may ignore it (followers then race as usual).
   */
  release(leaseName: string, leaseId: string, signal: AbortSignal, options?: ReleaseOptions): Promise<void>;

  /**
   * Optional (needed by `fastFailover`): writes the lease record under the lease held with `leaseId`,
   * unchanged, so that its version ({@link LeaseObservation.etag}) and its last-write time change.
   * Throws {@link LeaseLostError} when the lease is definitely not held with that id any more.
   */
  heartbeat?(leaseName: string, leaseId: string, signal: AbortSignal): Promise<void>;

  /**
   * Optional (needed by `fastFailover`): ends the current lease at once, but only if the record is
   * still version `ifMatch` (no heartbeat landed since it was observed). Answers false, breaking
   * nothing, when the version changed. Must not change the version itself, so the caller's acquire
   * can stay conditioned on the same `ifMatch`.
   */
  breakStale?(leaseName: string, ifMatch: string, signal: AbortSignal): Promise<boolean>;

  /** Optional: free resources (connections, embedded servers). */
  close?(): Promise<void>;
}

export interface ReleaseOptions {
  /** Identity of the candidate the holder hands over to (yieldTo, failback). */
  successor?: string;
}

export interface AcquireRequest {
  leaseName: string;
  /** Stable per candidate (a GUID): the lease id proposed to the store. */
  leaseId: string;
  /** Identity of the candidate, recorded as the holder. */
  identity: string;
  /** Lease duration in whole seconds. */
  durationSeconds: number;
  /**
   * Highest term this candidate has seen. The new term must exceed it as well as the recorded
   * term, so terms keep increasing even if the lease record was lost (blob deleted, emulator reset).
   */
  minimumTerm?: number;
  /**
   * Set when this candidate held the lease, with this term, at the moment its record was lost (its
   * own renewal found the record gone while its lease was still valid). The store writes it into the
   * new record ({@link LeaseObservation.recoveredTerm}) so that followers waiting out the loss learn
   * that the only replica that could still believe in the lost lease has stepped down. Cleared by
   * every acquisition that does not set it.
   */
  recoveredTerm?: number;
  /**
   * Acquire only if the lease record is still the version an observation reported
   * ({@link LeaseObservation.etag}); otherwise take nothing and answer `acquired: false` with a fresh
   * observation. Set on acquires made because an observation showed the lease free, so that an
   * observation made stale by a pause or a slow network is never acted on (docs/GUARANTEES.md).
   */
  ifMatch?: string;
  /**
   * Fast failover: this candidate will heartbeat its tenure and believe it leads only until its last
   * heartbeat + livenessMs − margin. Recorded with the new term ({@link LeaseObservation.holderLivenessMs});
   * followers break a silent holder only by what the holder declared, never by their own setting.
   */
  livenessMs?: number;
}

export interface LeaseObservation {
  /** True while the lease is held (not expired, not released, not broken). */
  held: boolean;
  /** Identity recorded by the current (or, when not held, the last) holder. */
  holder?: string;
  /** Last term recorded; 0 when the lease has never been taken. */
  term: number;
  /** Wall-clock time the holder recorded when it acquired the lease, epoch ms. */
  acquiredAt?: number;
  /** The {@link AcquireRequest.recoveredTerm} of the acquisition that wrote this record, if any. */
  recoveredTerm?: number;
  /**
   * Set by a holder that released the lease to hand it to this identity; cleared by the next
   * acquisition. Other candidates leave the free lease to it for one preference window.
   */
  successor?: string;
  /**
   * Opaque version of the record: it changes whenever a tenure begins (every acquisition writes its
   * term) and when the record is created or a successor is named, never on renewals. Optional: a
   * store without versions omits it, and its acquires are then unconditional.
   */
  etag?: string;
  /**
   * A lower bound, measured in the STORE's time only, of how long the record has gone unwritten when
   * it was observed (fast failover judges a silent holder by it; never a local clock). Azure:
   * Date − Last-Modified − 1 s (both headers are whole seconds). Omitted when unknown.
   */
  silentForAtLeastMs?: number;
  /**
   * The {@link AcquireRequest.livenessMs} the current term's holder declared when it acquired, if
   * any: only a holder that declared it heartbeats, so only such a record may be broken early. A
   * declaration left from an earlier term never counts (stores tie it to the term that wrote it).
   */
  holderLivenessMs?: number;
}

export type AcquireResult =
  | {
      acquired: true;
      term: number;
      /**
       * The term recorded before this acquisition, as read while holding the lease. Lets the elector
       * notice a lost record at the moment it acquires (a term below one it saw means the record was
       * recreated), closing the gap between its last observation and its acquisition. Optional for
       * custom stores: without it, loss is noticed from observations only.
       */
      previousTerm?: number;
    }
  | { acquired: false; observation: LeaseObservation };

/** How the elector must react to a failed store call. */
export type LeaseStoreErrorKind =
  /** The lease is definitely not ours any more (other lease id, broken, released, blob gone). */
  | 'lost'
  /** Timeout, network failure, throttling, 5xx: retry. */
  | 'transient'
  /** Misconfiguration (authentication, authorization, invalid names): retry slowly, log loudly. */
  | 'permanent';

export class LeaseStoreError extends LeaderElectionError {
  constructor(
    readonly kind: LeaseStoreErrorKind,
    message: string,
    /** Storage-specific error code (e.g. an Azure error code), when there is one. */
    readonly code?: string,
    /** HTTP status, when there is one. */
    readonly statusCode?: number,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class LeaseLostError extends LeaseStoreError {
  constructor(message: string, code?: string, statusCode?: number) {
    super('lost', message, code, statusCode);
  }
}

/**
 * The lease record itself is gone (blob or container deleted, storage reset): a renewal found
 * nothing to renew. A {@link LeaseLostError}, so the elector steps down at once; the elector also
 * learns that it held the lease when the record was lost (see AcquireRequest.recoveredTerm). Stores
 * that cannot tell this case apart may throw a plain LeaseLostError: the elector is then merely
 * more cautious (it waits one lease duration before competing again).
 */
export class LeaseRecordLostError extends LeaseLostError {}

export class TransientStoreError extends LeaseStoreError {
  constructor(message: string, code?: string, statusCode?: number) {
    super('transient', message, code, statusCode);
  }
}

export class PermanentStoreError extends LeaseStoreError {
  constructor(message: string, code?: string, statusCode?: number) {
    super('permanent', message, code, statusCode);
  }
}

/** Anything that is not a {@link LeaseStoreError} is treated as transient: retry, never crash. */
export function errorKindOf(error: unknown): LeaseStoreErrorKind {
  return error instanceof LeaseStoreError ? error.kind : 'transient';
}
