import type { Clock, TimerHandle } from '../core/clock.js';
import { errorKindOf, type LeaseStore } from '../core/lease-store.js';
import type { ElectionLogger } from '../core/logger.js';
import type { StoreRequests } from '../core/store-requests.js';
import { messageOf } from '../core/store-health.js';
import {
  deadlineAfter,
  renewalBudget,
  renewalDueAt,
  renewalRetryDelay,
  type Timings,
} from '../core/timing.js';
import { LockEndedError, LockLostError, type LockEndReason } from './lock-errors.js';

/** What fn receives while it holds a lock. */
export interface LockContext {
  /** The lock's name, as given. */
  readonly name: string;
  /**
   * Fencing term: strictly greater than every earlier holder's term of this lock (while its record
   * lives). Pass it with writes to other systems and have them refuse a lower one.
   */
  readonly term: number;
  /**
   * Aborts (reason: LockLostError) when the lock is lost or its deadline passes without a confirmed
   * renewal, and (LockEndedError 'released' / 'stopped') when it ends. Pass it to fn's own calls.
   */
  readonly signal: AbortSignal;
  /**
   * True while the lock is held and before its deadline, re-checked on the clock at every call (like
   * leadership's isActive()): after a pause of the process it is false at once, before the signal's
   * abort has run. Check it right before a write that must not outlive the lock.
   */
  isValid(): boolean;
}

export interface HeldLockEnvironment {
  store: LeaseStore;
  requests: StoreRequests;
  clock: Clock;
  logger: ElectionLogger;
  timings: Timings;
}

/**
 * One acquisition of a lock record: its term, signal and send-time deadline (the elector's rule:
 * believed only until sentAt + D − safetyMargin of the last successful acquire/renew), renewed every
 * renewIntervalMs until it ends. Transient renewal failures are retried until the deadline; a refused
 * renewal ('lost') ends it at once.
 */
export class HeldLock implements LockContext {
  private readonly controller = new AbortController();
  private state: 'held' | 'ended' = 'held';
  private lastSentAt: number;
  private deadline: number;
  private retryAt?: number;
  private timer?: TimerHandle;
  private released?: Promise<void>;

  constructor(
    readonly name: string,
    readonly leaseName: string,
    readonly leaseId: string,
    readonly term: number,
    sentAt: number,
    private readonly env: HeldLockEnvironment,
  ) {
    this.lastSentAt = sentAt;
    this.deadline = deadlineAfter(sentAt, env.timings);
    this.schedule();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Held, and before the deadline, checked on the monotonic clock at every call. */
  isValid(now = this.env.clock.now()): boolean {
    return this.state === 'held' && now < this.deadline;
  }

  /** Stops renewing and aborts the signal; the lease stays on the server until it expires or is released. */
  end(reason: LockEndReason): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    if (this.timer !== undefined) this.env.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.signal.aborted) {
      this.controller.abort(
        reason === 'lost' || reason === 'deadline'
          ? new LockLostError(this.name, this.term, reason)
          : new LockEndedError(this.name, this.term, reason),
      );
    }
  }

  /**
   * Ends the lock and gives the lease back (best effort: a failed release only means the lease expires
   * within D). Only called after fn settled. A lease already lost counts as released by the store.
   */
  release(): Promise<void> {
    this.end('released');
    this.released ??= this.env.requests
      .send('release', (signal) => this.env.store.release(this.leaseName, this.leaseId, signal), {
        timeoutMs: this.env.timings.requestTimeoutMs,
        abortOnStop: false,
      })
      .catch((error: unknown) => {
        this.env.logger.warn(
          `Could not release the lock "${this.name}" (term ${this.term}); it expires within ` +
            `${this.env.timings.leaseDurationMs} ms: ${messageOf(error)}`,
        );
      });
    return this.released;
  }

  private schedule(): void {
    if (this.state !== 'held') return;
    const due = Math.min(this.retryAt ?? renewalDueAt(this.lastSentAt, this.env.timings), this.deadline);
    this.timer = this.env.clock.setTimeout(() => void this.tick(), Math.max(0, due - this.env.clock.now()));
  }

  private async tick(): Promise<void> {
    this.timer = undefined;
    if (this.state !== 'held') return;
    const now = this.env.clock.now();
    if (now >= this.deadline) {
      this.lose('deadline');
      return;
    }
    if (this.retryAt === undefined && now < renewalDueAt(this.lastSentAt, this.env.timings)) {
      this.schedule(); // a timer that fired early
      return;
    }
    await this.renew(now);
  }

  private async renew(sentAt: number): Promise<void> {
    try {
      await this.env.requests.send(
        'renew',
        (signal) => this.env.store.renew(this.leaseName, this.leaseId, signal),
        { timeoutMs: renewalBudget(this.deadline, sentAt, this.env.timings), signal: this.signal },
      );
    } catch (error) {
      if (this.state !== 'held') return;
      if (errorKindOf(error) === 'lost') {
        this.lose('lost');
        return;
      }
      const now = this.env.clock.now();
      this.env.logger.debug?.(`Renewal of the lock "${this.name}" failed, retrying: ${messageOf(error)}`);
      this.retryAt = now + renewalRetryDelay(this.deadline, now, this.env.timings);
      this.schedule();
      return;
    }
    if (this.state !== 'held') return;
    this.lastSentAt = sentAt;
    this.deadline = deadlineAfter(sentAt, this.env.timings);
    this.retryAt = undefined;
    this.schedule();
  }

  private lose(reason: 'lost' | 'deadline'): void {
    this.env.logger.warn(
      `Lost the lock "${this.name}" (term ${this.term}, ` +
        `${reason === 'lost' ? 'renewal refused' : 'deadline passed'}): ` +
        `its signal is aborted; stop writing on its behalf and fence writes with the term`,
    );
    this.end(reason);
  }
}
