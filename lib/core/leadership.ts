import type { Clock } from './clock.js';
import type { LeaseStoreErrorKind } from './lease-store.js';
import type { ElectionLogger } from './logger.js';
import type { RenewalDelegate } from './renewal-delegate.js';

// The public types of one election (re-exported by leader-elector.ts and lib/index.ts).

export type LeaderRole = 'idle' | 'follower' | 'leader' | 'stopped';

/** A snapshot of one election as this replica sees it. */
export interface LeadershipState {
  leaseName: string;
  /** This replica's identity. */
  identity: string;
  role: LeaderRole;
  /** Identity of the current leader as last seen (this replica when leading), if any. */
  leader?: string;
  /** Term of the current leader (this replica's term when leading), or the last term seen. */
  term?: number;
  /** Wall-clock ms when `role` last changed. */
  since: number;
  /** Wall-clock ms of the last successful store response. */
  lastStoreContactAt?: number;
  /** The most recent store failure, cleared by the next success. */
  lastError?: { kind: LeaseStoreErrorKind; message: string; code?: string; at: number };
  /** Number of store failures in a row (0 while the store answers). */
  consecutiveFailures: number;
}

/**
 * One tenure as leader. `signal` aborts the moment the tenure ends (deadline, loss, stop, step-down)
 * so long-running work can stop, and `term` lets that work fence writes to other systems.
 */
export interface Leadership {
  readonly leaseName: string;
  readonly identity: string;
  /** Fencing term: strictly greater than the term of every earlier leader of this lease. */
  readonly term: number;
  readonly signal: AbortSignal;
  /** Wall-clock ms when this tenure began. */
  readonly since: number;
  /** True while this tenure is current and inside its deadline (same check as isLeader()). */
  isActive(): boolean;
  /**
   * Monotonic ms left before this replica must consider the tenure over unless it renews (0 once it
   * ended). Renewals move it forward; a long step should check it (or isActive()) before starting.
   */
  remainingMs(): number;
}

/** Reason given to a leadership signal when the tenure ends (one of the library's errors). */
export { LeadershipEndedError } from './errors.js';

export interface LeaderElectorDependencies {
  clock?: Clock;
  /** Uniform [0, 1) source for the poll jitter. */
  random?: () => number;
  logger?: ElectionLogger;
  /**
   * The drain: runs after a tenure's signal was aborted and before its lease is released (yieldTo,
   * failback, stepDown, onError 'step-down'; stop() too unless StopOptions.beforeRelease is given):
   * wait for the tenure's work. Resolving false, or not resolving within drainTimeoutMs, keeps the
   * lease from being released (it expires instead). Its `gaveUp` signal aborts when that bound is
   * reached: cut the work still running.
   */
  beforeHandover?: (gaveUp?: AbortSignal) => Promise<boolean | void>;
  /** Longest wait for the drain before the lease is left to expire, ms. Default: the lease duration. */
  drainTimeoutMs?: number;
  /**
   * Renews leases off the main thread (lib/renewal: RenewalThread). The main thread still acquires,
   * steps down and checks every deadline, reading the renewal send times from shared memory.
   */
  renewalDelegate?: RenewalDelegate;
}

export interface StopOptions {
  /** Release the lease after stepping down (default true), so a follower takes over within one poll. */
  release?: boolean;
  /**
   * Runs after the leadership signal is aborted and before the lease is released (e.g. drain running
   * jobs). Resolving `false` keeps the lease from being released: work of the ended tenure is still
   * running, and handing the lease to a follower now could let a new leader start beside it. The
   * lease then expires by itself within one lease duration. `gaveUp` aborts when the drain's bound
   * is reached (work still running must be cut then).
   */
  beforeRelease?: (gaveUp?: AbortSignal) => Promise<boolean | void>;
}
