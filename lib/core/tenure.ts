import { sleep, type Clock, type TimerHandle } from './clock.js';
import { LeadershipEndedError, type Leadership } from './leadership.js';
import type { LeadershipEndReason } from './leadership-events.js';
import type { ElectionLogger } from './logger.js';
import type { DelegatedRenewal, RenewalDelegate } from './renewal-delegate.js';
import { messageOf } from './store-health.js';
import { deadlineAfter, leaseExpiredBy, renewalDueAt, type Timings } from './timing.js';
import { heartbeatDeadlineAfter } from './fast-failover.js';

/**
 * Where a tenure is in its life. Only 'leading' counts as leader (and only before the deadline).
 *   leading → ended (signal aborted: loss, deadline, step-down, stop, hand-over)
 *   ended → draining (release asked: waiting for the tenure's work)
 *   draining → released | left-to-expire (work still running past the bound) | superseded (a later
 *   tenure holds the lease: this one never frees it)
 */
export type TenureState = 'leading' | 'ended' | 'draining' | 'released' | 'left-to-expire' | 'superseded';

export interface TenureEnvironment {
  clock: Clock;
  logger: ElectionLogger;
  timings: Timings;
  leaseName: string;
  /** Longest wait for the drain before the lease is left to expire. */
  drainTimeoutMs: number;
  /**
   * Called when the deadline timer fires while the tenure still leads (the elector checks and steps
   * down).
   */
  onDeadline(tenure: Tenure): void;
}

/**
 * Waits for an ended tenure's work; resolving false keeps the lease from being released. `gaveUp`
 * aborts when the drain's bound is reached: work still running then must be cut (the lease is left
 * to expire and another replica may lead once it has).
 */
export type TenureDrain = (gaveUp?: AbortSignal) => Promise<boolean | void>;

/** How a tenure gives its lease back (the elector's store call and its view of the current tenure). */
export interface ReleaseChannel {
  current(): Tenure | undefined;
  send(successor?: string): Promise<void>;
}

/**
 * One tenure as leader: its term, signal, send-time deadline, renewal strategy (main thread, or
 * `delegated` to the renewal thread) and state. It ends once, and it releases its lease only after
 * draining its work, and never when a later tenure holds the lease.
 */
export class Tenure {
  state: TenureState = 'leading';
  readonly controller = new AbortController();
  /** Wall-clock ms when this tenure began. */
  readonly since: number;
  /** Send time of the last successful acquire/renew (monotonic). */
  lastSendAt: number;
  deadline: number;
  /** Send time of the last renewal attempt, successful or not. */
  lastRenewAttemptAt = -Infinity;
  /** Fast failover: send time of the last successful heartbeat (the acquire counts as one). */
  lastHeartbeatAt: number;
  private timer?: TimerHandle;

  constructor(
    readonly term: number,
    sentAt: number,
    private readonly env: TenureEnvironment,
    readonly delegated?: DelegatedRenewal,
  ) {
    this.since = env.clock.wallNow();
    this.lastSendAt = sentAt;
    // The acquire wrote the record (its term) under the lease before the tenure began: a heartbeat.
    this.lastHeartbeatAt = sentAt;
    this.deadline = beliefDeadline(sentAt, sentAt, env.timings);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The one validity check (client-go's isLeaseValid): leading, and before the deadline. */
  isValid(now = this.env.clock.now()): boolean {
    return this.state === 'leading' && now < this.deadline;
  }

  remainingMs(): number {
    const now = this.env.clock.now();
    return this.isValid(now) ? this.deadline - now : 0;
  }

  /**
   * A renewal sent at `sentAt` succeeded: the lease's deadline moves with it. With fast failover the
   * belief stays capped by the last heartbeat: a renewal does not change the record's version, so a
   * follower may break a lease that is renewed but silent.
   */
  renewed(sentAt: number, rearm = true): void {
    if (sentAt <= this.lastSendAt) return;
    this.lastSendAt = sentAt;
    this.deadline = beliefDeadline(sentAt, this.lastHeartbeatAt, this.env.timings);
    if (rearm) this.armDeadlineTimer();
  }

  /** Fast failover: a heartbeat sent at `sentAt` succeeded; the belief moves (never past the lease's). */
  heartbeated(sentAt: number): void {
    if (sentAt <= this.lastHeartbeatAt || this.state !== 'leading') return;
    this.lastHeartbeatAt = sentAt;
    this.deadline = beliefDeadline(this.lastSendAt, sentAt, this.env.timings);
    this.armDeadlineTimer();
  }

  /**
   * Reads the renewal thread's progress (a synchronous shared-memory read): a later send time moves
   * the deadline exactly as a main-thread renewal would. Returns the loss it reports, if any.
   */
  followDelegate(): { recordLost: boolean; message: string } | undefined {
    const delegated = this.delegated;
    if (!delegated || this.state !== 'leading') return undefined;
    const lost = delegated.lost();
    if (lost) return lost;
    const sentAt = delegated.lastSentAt();
    if (sentAt > this.lastSendAt) {
      this.lastRenewAttemptAt = sentAt;
      this.renewed(sentAt, false); // the timer re-arms itself when it finds the deadline moved
    }
    return undefined;
  }

  /** The tenure as work sees it; `current` is the elector's isLeader() check for this tenure. */
  describe(owner: { leaseName: string; identity: string }, current: () => boolean): Leadership {
    return {
      leaseName: owner.leaseName,
      identity: owner.identity,
      term: this.term,
      signal: this.signal,
      since: this.since,
      isActive: current,
      remainingMs: () => (current() ? this.remainingMs() : 0),
    };
  }

  /** When this tenure's lease has surely expired on the server unless renewed again. */
  leaseExpiredBy(): number {
    return leaseExpiredBy(this.lastSendAt, this.env.timings);
  }

  /** Steps down exactly at the deadline even if a renewal is still hanging. */
  armDeadlineTimer(): void {
    const clock = this.env.clock;
    if (this.timer !== undefined) clock.clearTimeout(this.timer);
    this.timer = clock.setTimeout(() => {
      this.timer = undefined;
      if (this.state === 'leading') this.env.onDeadline(this);
    }, this.deadline - clock.now());
  }

  /** Ends the tenure (once): aborts its signal, stops its renewals and timer. False if it had ended. */
  end(reason: LeadershipEndReason, message: string): boolean {
    if (this.state !== 'leading') return false;
    this.state = 'ended';
    if (this.timer !== undefined) this.env.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.delegated?.end();
    this.controller.abort(new LeadershipEndedError(message, reason));
    return true;
  }

  /**
   * Gives the lease back after the tenure ended: drains its work first (bounded by drainTimeoutMs;
   * a drain that says work still runs, or does not end in time, leaves the lease to expire, logged),
   * and never frees a lease a later tenure holds.
   */
  async release(channel: ReleaseChannel, drain?: TenureDrain, successor?: string): Promise<TenureState> {
    if (this.state !== 'ended') return this.state;
    this.state = 'draining';
    const bound = drainLimitMs(this.env.drainTimeoutMs, this, this.env.clock.now());
    if (!(await drainWithin({ ...this.env, tenure: this }, drain, successor))) {
      if (drain && bound < this.env.drainTimeoutMs)
        this.env.logger.warn(
          `Work of the ended tenure of "${this.env.leaseName}" (term ${this.term}) is still running ` +
            'as its lease runs out: another replica may lead beside it from now on ' +
            '(a drain cannot extend the lease; ' +
            "work must stop within the lease's remaining time after its signal aborts)",
        );
      this.state = 'left-to-expire';
      return this.state;
    }
    const current = channel.current();
    if (current !== undefined && current !== this) {
      this.state = 'superseded';
      return this.state;
    }
    await channel.send(successor);
    this.state = 'released';
    return this.state;
  }

  /** Fast failover: the last heartbeat, not the lease, bounds the belief now. */
  heartbeatBound(): boolean {
    return this.deadline < deadlineAfter(this.lastSendAt, this.env.timings);
  }

  /**
   * Why the deadline passed, for the step-down line. A renewal due but never sent means this process
   * could not run its timers (event loop blocked, process paused): the fix is in the job code.
   */
  deadlineMissedReason(lastError?: string): string {
    const fast = this.env.timings.fastFailover;
    if (fast && this.heartbeatBound()) {
      const silentMs = this.env.clock.now() - this.lastHeartbeatAt;
      return (
        `no heartbeat succeeded for ${(silentMs / 1000).toFixed(1)} s ` +
        `(fastFailover.livenessMs ${fast.livenessMs} ms)${lastError ? ` (last error: ${lastError})` : ''}`
      );
    }
    const base = 'lease deadline reached without a successful renewal';
    const threadStopped = this.delegated?.stoppedBecause();
    if (threadStopped) return `${base}: ${threadStopped}`;
    const dueAt = renewalDueAt(this.lastSendAt, this.env.timings);
    const overdueMs = this.env.clock.now() - dueAt;
    if (this.lastRenewAttemptAt < dueAt && overdueMs > this.env.timings.renewRetryIntervalMs) {
      return (
        `${base}: no renewal could be sent for ${(overdueMs / 1000).toFixed(1)} s after it was due ` +
        '(event loop blocked or process paused?)'
      );
    }
    return lastError ? `${base} (last error: ${lastError})` : base;
  }
}

/**
 * The one validity deadline: the lease's (last acquire/renew send + D − margin) and, with fast
 * failover, never past the last heartbeat's send + livenessMs − margin.
 */
export function beliefDeadline(lastSendAt: number, lastHeartbeatAt: number, t: Timings): number {
  const lease = deadlineAfter(lastSendAt, t);
  return t.fastFailover ? Math.min(lease, heartbeatDeadlineAfter(lastHeartbeatAt, t.fastFailover, t)) : lease;
}

/**
 * Hands a new tenure's renewals to the delegate; undefined (renew on the main thread) if it cannot
 * take it.
 */
export function delegateRenewals(
  delegate: RenewalDelegate,
  elector: { leaseName: string; leaseId: string },
  timings: Timings,
  sentAt: number,
  logger: ElectionLogger,
): DelegatedRenewal | undefined {
  const { leaseDurationMs, safetyMarginMs, renewIntervalMs, renewRetryIntervalMs, requestTimeoutMs } =
    timings;
  try {
    return delegate.begin({
      leaseName: elector.leaseName,
      leaseId: elector.leaseId,
      sentAt,
      leaseDurationMs,
      safetyMarginMs,
      renewIntervalMs,
      renewRetryIntervalMs,
      requestTimeoutMs,
    });
  } catch (error) {
    logger.warn(
      `The renewal delegate cannot renew "${elector.leaseName}" (${messageOf(error)}); ` +
        'renewing on the main thread',
    );
    return undefined;
  }
}

/**
 * The one limit of a drain: drainTimeoutMs, and never past the ended tenure's deadline (send time +
 * D − safetyMargin), whether the lease is then released or not: a drain cannot extend the lease.
 */
export function drainLimitMs(drainTimeoutMs: number, tenure: Tenure | undefined, now: number): number {
  if (tenure === undefined) return drainTimeoutMs; // no tenure (an acquire in doubt): no deadline known
  return Math.max(0, Math.min(drainTimeoutMs, tenure.deadline - now));
}

/**
 * Runs a drain, bounded by drainLimitMs (drainTimeoutMs, and the tenure's deadline when given): true
 * when the ended tenure's work has stopped. False (the drain says work still runs, or it did not end
 * in time) is logged: the lease is left to expire.
 */
export async function drainWithin(
  env: Pick<TenureEnvironment, 'clock' | 'logger' | 'leaseName' | 'drainTimeoutMs' | 'timings'> & {
    tenure?: Tenure;
  },
  drain?: TenureDrain,
  successor?: string,
): Promise<boolean> {
  if (!drain) return true;
  const limitMs = drainLimitMs(env.drainTimeoutMs, env.tenure, env.clock.now());
  const bound = new AbortController();
  const gaveUp = new AbortController();
  let drained: boolean;
  try {
    drained = await Promise.race([
      drain(gaveUp.signal).then((result) => result !== false),
      sleep(env.clock, limitMs, bound.signal).then(() => {
        gaveUp.abort(); // the bound (drainTimeoutMs or the lease's end) is reached: cut what is left
        return false;
      }),
    ]);
  } catch (error) {
    // A failed drain is no proof that the work stopped: leave the lease to expire.
    env.logger.warn(`The drain before releasing "${env.leaseName}" failed: ${messageOf(error)}`);
    gaveUp.abort();
    drained = false;
  } finally {
    bound.abort();
  }
  if (!drained)
    env.logger.warn(
      `Not releasing lease "${env.leaseName}"${successor === undefined ? '' : ` to "${successor}"`}: ` +
        'work of the ended tenure is still running; the lease expires by itself within ' +
        `${env.timings.leaseDurationMs / 1000} s, so no new leader starts beside that work until then`,
    );
  return drained;
}
