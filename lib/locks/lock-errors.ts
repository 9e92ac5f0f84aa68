import { LeaderElectionError } from '../core/errors.js';

/** Why a held lock's signal aborted. */
export type LockEndReason =
  /** The store refused a renewal: another holder may have the lock. */
  | 'lost'
  /** No renewal succeeded before sentAt + D − safetyMargin (store down or slow, process paused). */
  | 'deadline'
  /** fn settled and the lock was given back (or left to expire, for a per-run tick). */
  | 'released'
  /** The lock manager was stopped (application shutdown). */
  | 'stopped';

/**
 * The reason a lock's AbortSignal aborts with, like LeadershipEndedError for a tenure. Work that passes
 * the signal on stops with this error; `reason` says why.
 */
export class LockEndedError extends LeaderElectionError {
  constructor(
    readonly lockName: string,
    readonly term: number,
    readonly reason: LockEndReason,
    message = `The lock "${lockName}" (term ${term}) ended: ${reason}`,
  ) {
    super(message);
  }
}

/**
 * The lock stopped being held while fn ran ('lost': a renewal was refused; 'deadline': no renewal
 * confirmed in time). Another holder may have it now: stop writing, and fence writes with the term.
 */
export class LockLostError extends LockEndedError {
  constructor(lockName: string, term: number, reason: 'lost' | 'deadline') {
    super(
      lockName,
      term,
      reason,
      reason === 'lost'
        ? `Lost the lock "${lockName}" (term ${term}): the store refused its renewal; another holder may ` +
            `have it`
        : `Lost the lock "${lockName}" (term ${term}): no renewal was confirmed before its deadline; ` +
            `another holder may take it any moment`,
    );
  }
}

/** withLock() could not take the lock within `waitMs`: another holder kept it. fn did not run. */
export class LockNotAcquiredError extends LeaderElectionError {
  constructor(
    readonly lockName: string,
    /** How long it waited, ms (0: it tried once). */
    readonly waitMs: number,
    /** The holder's identity when the store reported it. */
    readonly holder?: string,
  ) {
    super(
      `Could not acquire the lock "${lockName}"${waitMs > 0 ? ` within ${waitMs} ms` : ''}: ` +
        `${holder === undefined ? 'another holder has it' : `held by "${holder}"`}`,
    );
  }
}

/** The lock manager was stopped (application shutdown): it takes no new locks. */
export class LockManagerStoppedError extends LeaderElectionError {
  constructor(readonly lockName: string) {
    super(`The lock "${lockName}" cannot be taken: the lock manager is stopped (shutting down)`);
  }
}
