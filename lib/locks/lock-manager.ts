import { randomUUID } from 'node:crypto';
import { sleep, systemClock, type Clock } from '../core/clock.js';
import { resolveElectionOptions, type ElectionTimingOptions } from '../core/election-options.js';
import { errorKindOf, type LeaseObservation, type LeaseStore } from '../core/lease-store.js';
import { silentLogger, safeLogger, type ElectionLogger } from '../core/logger.js';
import { StoreRequests } from '../core/store-requests.js';
import { messageOf } from '../core/store-health.js';
import type { Timings } from '../core/timing.js';
import { HeldLock, type LockContext } from './held-lock.js';
import { runInLock } from './lock-context.js';
import { LockEndedError, LockManagerStoppedError, LockNotAcquiredError } from './lock-errors.js';
import type { JobRunEvent, LockDecisions, LockEvent, LockEventSink } from './lock-events.js';
import { lockLeaseName, runLeaseName } from './lock-names.js';
import {
  FIRST_LOCK_POLL_MS,
  nextPollDelay,
  resolveWaitOptions,
  type LockWaitOptions,
} from './lock-options.js';

export interface LockManagerOptions extends Pick<
  ElectionTimingOptions,
  | 'leaseDurationSeconds'
  | 'renewIntervalMs'
  | 'safetyMarginMs'
  | 'requestTimeoutMs'
  | 'renewRetryIntervalMs'
  | 'retryIntervalMs'
> {
  /** This replica's identity, recorded as the holder. */
  identity: string;
  clock?: Clock;
  logger?: Partial<ElectionLogger>;
  /** Jitter source, replaceable in tests. Default Math.random. */
  random?: () => number;
  /** Receives every lock call and per-run tick as it ended (metrics; LockService.locks$ / runs$). */
  events?: LockEventSink;
  /** Decides locks without the store when it answers (the testing kit's LockTesting). */
  decisions?: LockDecisions;
}

/** tryWithLock's answer: fn's value, or "not acquired" (fn did not run). Check `acquired` first. */
export type LockResult<T> = { acquired: true; value: T; term: number } | { acquired: false; holder?: string };

/** runOnce's answer for one tick of a per-run job. */
export type RunOnceResult<T> =
  | { ran: true; value: T; term: number }
  /** 'already-ran': this tick's record was taken before (by any replica); 'held-elsewhere': taken now. */
  | { ran: false; reason: 'already-ran' | 'held-elsewhere'; holder?: string };

/**
 * Distributed locks on a LeaseStore, with the elector's timing rules: each lock is a lease named
 * `locks/lock/<name>`, renewed while fn runs, believed only until sentAt + D − safetyMargin of the last
 * successful acquire/renew, and released after fn settles. fn runs inside the lock's context
 * (currentLock()). No Nest: LockService is a thin wrapper around it.
 */
export class LockManager {
  readonly identity: string;
  private readonly clock: Clock;
  private readonly logger: ElectionLogger;
  private readonly timings: Timings;
  private readonly random: () => number;
  private readonly events: LockEventSink;
  private readonly decisions?: LockDecisions;
  /** Terms handed out by forced decisions without one of their own. */
  private forcedTerm = 0;
  private readonly stopController = new AbortController();
  private readonly requests: StoreRequests;
  private readonly held = new Set<HeldLock>();
  /** Runs still going (fn not settled), for stop() to wait on. */
  private readonly running = new Set<Promise<unknown>>();
  /** Local waiters per lease name, woken when this process releases it. */
  private readonly waiters = new Map<string, Set<() => void>>();

  constructor(
    private readonly store: LeaseStore,
    options: LockManagerOptions,
  ) {
    const { clock, logger, random, events, decisions, ...timing } = options;
    this.events = events ?? {};
    this.decisions = decisions;
    const resolved = resolveElectionOptions({ leaseName: 'locks', ...timing });
    this.identity = resolved.identity;
    this.timings = resolved;
    this.clock = clock ?? systemClock;
    this.logger = logger ? safeLogger(logger) : silentLogger;
    this.random = random ?? Math.random;
    this.requests = new StoreRequests(this.clock, this.stopController.signal, {
      leaseName: 'locks/*',
      identity: this.identity,
      requestTimeoutMs: this.timings.requestTimeoutMs,
    });
  }

  /** Lease duration of every lock, ms. */
  get leaseDurationMs(): number {
    return this.timings.leaseDurationMs;
  }

  get stopped(): boolean {
    return this.stopController.signal.aborted;
  }

  /**
   * Runs fn while holding the lock `name`, then releases it (also when fn throws). Waits up to
   * `waitMs` (default 0: one attempt) for another holder; then rejects with LockNotAcquiredError and
   * fn does not run. Store failures reject with the store's error (never "not acquired").
   */
  async withLock<T>(
    name: string,
    fn: (lock: LockContext) => T | Promise<T>,
    options?: LockWaitOptions,
  ): Promise<T> {
    const result = await this.tryWithLock(name, fn, options);
    if (!result.acquired)
      throw new LockNotAcquiredError(name, resolveWaitOptions(options).waitMs, result.holder);
    return result.value;
  }

  /**
   * Like withLock, but "not acquired" is an answer, not an error: `{ acquired: false, holder? }`, or
   * `{ acquired: true, value, term }` when fn ran.
   */
  async tryWithLock<T>(
    name: string,
    fn: (lock: LockContext) => T | Promise<T>,
    options?: LockWaitOptions,
  ): Promise<LockResult<T>> {
    const leaseName = lockLeaseName(name);
    const wait = resolveWaitOptions(options);
    const forced = this.decisions?.decide('lock', name);
    if (forced) {
      if (!forced.acquired) return notAcquired(forced.holder);
      const { value, term } = await this.runForced('lock', name, forced.term, fn);
      return { acquired: true, value, term };
    }
    const startedAt = this.clock.now();
    let lock: HeldLock | undefined;
    try {
      const taken = await this.acquire(name, leaseName, wait);
      const waitMs = this.clock.now() - startedAt;
      if (!taken.lock) {
        this.emitLock(name, 'not-acquired', waitMs);
        return notAcquired(taken.holder);
      }
      lock = taken.lock;
      try {
        const value = await this.track(lock, fn);
        return { acquired: true, value, term: lock.term };
      } finally {
        await this.finish(lock, 'release');
        this.emitLock(name, 'acquired', waitMs, lock);
      }
    } catch (error) {
      if (!lock) this.emitLock(name, 'error', this.clock.now() - startedAt);
      throw error;
    }
  }

  /**
   * One tick of a per-run job: runs fn if this replica is the first, in the whole cluster, to take the
   * record of (job, tickAt). Its record is never released (the lease expires at least D after it was
   * taken), and a record taken before (term above 1) means the tick already ran: a replica whose clock
   * is off, or a retry, cannot run it again while the record lives.
   */
  async runOnce<T>(
    job: string,
    tickAt: number,
    fn: (lock: LockContext) => T | Promise<T>,
    options: { spreadMs?: number } = {},
  ): Promise<RunOnceResult<T>> {
    const leaseName = runLeaseName(job, tickAt);
    let result: RunOnceResult<T>;
    try {
      const forced = this.decisions?.decide('run', job);
      if (!forced) result = await this.takeTick(job, tickAt, leaseName, fn, options.spreadMs ?? 0);
      else if (!forced.acquired) result = heldElsewhere(forced.holder);
      else result = { ran: true, ...(await this.runForced('run', job, forced.term, fn)) };
    } catch (error) {
      this.emitRun(job, tickAt, 'error');
      throw error;
    }
    this.emitRun(job, tickAt, result.ran ? 'ran' : result.reason, result.ran ? result.term : undefined);
    return result;
  }

  private async takeTick<T>(
    job: string,
    tickAt: number,
    leaseName: string,
    fn: (lock: LockContext) => T | Promise<T>,
    spreadMs: number,
  ): Promise<RunOnceResult<T>> {
    // A random pause before the attempt: otherwise the replica whose timer fires first in every
    // period (an @Interval's phase, a clock ahead) takes every tick, and the load does not spread.
    if (spreadMs > 0) await sleep(this.clock, this.random() * spreadMs, this.stopController.signal);
    const taken = await this.acquire(`${job}@${tickAt}`, leaseName, { waitMs: 0 });
    if (!taken.lock) return heldElsewhere(taken.holder);
    const lock = taken.lock;
    if (lock.term !== 1 || (taken.previousTerm ?? 0) !== 0) {
      await this.finish(lock, 'keep');
      return { ran: false, reason: 'already-ran' };
    }
    try {
      const value = await this.track(lock, fn);
      return { ran: true, value, term: lock.term };
    } finally {
      await this.finish(lock, 'keep');
    }
  }

  /**
   * Stops taking locks: waiting calls reject with LockManagerStoppedError, held locks' signals abort
   * ('stopped'). Waits up to `timeoutMs` for fns still running (their locks are released when they
   * settle); past it, their leases are left to expire.
   */
  async stop(timeoutMs = 0): Promise<void> {
    if (!this.stopped) this.stopController.abort(new LockManagerStoppedError('*'));
    for (const lock of this.held) lock.end('stopped');
    if (this.running.size > 0 && timeoutMs > 0) {
      const bound = new AbortController();
      await Promise.race([Promise.allSettled([...this.running]), sleep(this.clock, timeoutMs, bound.signal)]);
      bound.abort();
    }
    await this.requests.settle();
  }

  private track<T>(lock: HeldLock, fn: (lock: LockContext) => T | Promise<T>): Promise<T> {
    const run = (async () => runInLock(lock, () => fn(lock)))();
    this.running.add(run);
    void run.then(
      () => this.running.delete(run),
      () => this.running.delete(run),
    );
    return run;
  }

  /** fn under a forced decision (no store): a context of its own, ended when fn settles. */
  private async runForced<T>(
    kind: 'lock' | 'run',
    name: string,
    term: number | undefined,
    fn: (lock: LockContext) => T | Promise<T>,
  ): Promise<{ value: T; term: number }> {
    const controller = new AbortController();
    const granted = term ?? ++this.forcedTerm;
    const lock: LockContext = {
      name,
      term: granted,
      signal: controller.signal,
      isValid: () => !controller.signal.aborted,
    };
    const untrack = this.decisions?.track?.(kind, name, controller, granted);
    try {
      const value = await runInLock(lock, () => fn(lock));
      return { value, term: granted };
    } finally {
      untrack?.();
      if (!controller.signal.aborted) controller.abort(new LockEndedError(name, granted, 'released'));
    }
  }

  private emitLock(name: string, outcome: LockEvent['outcome'], waitMs: number, lock?: HeldLock): void {
    const ended = lock?.signal.reason as { reason?: unknown } | undefined;
    const lost = ended?.reason === 'lost' || ended?.reason === 'deadline' ? ended.reason : undefined;
    this.events.lock?.({ name, outcome, waitMs, ...(lost ? { lost } : {}) });
  }

  private emitRun(job: string, tickAt: number, outcome: JobRunEvent['outcome'], term?: number): void {
    const when = new Date(tickAt).toISOString();
    if (outcome === 'ran' || outcome === 'error')
      this.logger.debug?.(
        `Job "${job}" tick ${when} ran on this replica (${this.identity}, term ${term ?? '?'})`,
      );
    else this.logger.debug?.(`Job "${job}" tick ${when} skipped: ${outcome} (another replica took it)`);
    this.events.run?.({ job, tickAt, identity: this.identity, outcome, ...(term ? { term } : {}) });
  }

  /** After fn settled: give the lease back ('release') or leave it to expire ('keep', per-run ticks). */
  private async finish(lock: HeldLock, how: 'release' | 'keep'): Promise<void> {
    this.held.delete(lock);
    if (how === 'release') await lock.release();
    else lock.end('released');
    for (const wake of this.waiters.get(lock.leaseName) ?? []) wake();
  }

  private async acquire(
    name: string,
    leaseName: string,
    { waitMs, signal }: { waitMs: number; signal?: AbortSignal },
  ): Promise<{ lock?: HeldLock; holder?: string; previousTerm?: number }> {
    const leaseId = randomUUID(); // one per call: an acquire retried after a lost response is idempotent
    const giveUpAt = this.clock.now() + waitMs;
    let backoff = FIRST_LOCK_POLL_MS;
    let lastObservation: LeaseObservation | undefined;
    let uncertain = false; // an acquire failed: the server may hold the lease for us anyway
    const giveUp = (): never => {
      if (uncertain) this.forget(leaseName, leaseId);
      signal?.throwIfAborted();
      throw new LockManagerStoppedError(name);
    };
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted || this.stopped) giveUp();
      try {
        // The first attempt goes straight to acquire; later ones read first (a cheap call, no 409 noise),
        // except after an unanswered acquire: the lease may be ours, and only an acquire can tell.
        const observation = attempt === 0 || uncertain ? undefined : await this.observe(leaseName);
        if (observation?.held) lastObservation = observation;
        else {
          const sentAt = this.clock.now();
          const result = await this.requests.send(
            'acquire',
            (callSignal) =>
              this.store.acquire(
                {
                  leaseName,
                  leaseId,
                  identity: this.identity,
                  durationSeconds: this.timings.leaseDurationMs / 1000,
                },
                callSignal,
              ),
            { timeoutMs: this.timings.requestTimeoutMs, ...(signal ? { signal } : {}) },
          );
          uncertain = false;
          if (result.acquired) {
            const lock = new HeldLock(name, leaseName, leaseId, result.term, sentAt, {
              store: this.store,
              requests: this.requests,
              clock: this.clock,
              logger: this.logger,
              timings: this.timings,
            });
            if (lock.isValid() && !this.stopped) {
              this.held.add(lock);
              return { lock, previousTerm: result.previousTerm };
            }
            await lock.release(); // the acquire answered after its own deadline: never believed
          } else lastObservation = result.observation;
        }
      } catch (error) {
        uncertain = true;
        if (signal?.aborted || this.stopped) giveUp();
        if (errorKindOf(error) === 'permanent' || this.clock.now() >= giveUpAt) {
          this.forget(leaseName, leaseId);
          throw error;
        }
        this.logger.debug?.(`Lock "${name}": store call failed, retrying: ${messageOf(error)}`);
      }
      const remaining = giveUpAt - this.clock.now();
      if (remaining <= 0) {
        if (uncertain) this.forget(leaseName, leaseId);
        return lastObservation?.holder === undefined ? {} : { holder: lastObservation.holder };
      }
      await this.pause(leaseName, nextPollDelay(backoff, remaining, this.random), signal);
      backoff = Math.min(backoff * 2, this.timings.retryIntervalMs);
    }
  }

  private observe(leaseName: string): Promise<LeaseObservation> {
    return this.requests.send('observe', (signal) => this.store.observe(leaseName, signal), {
      timeoutMs: this.timings.requestTimeoutMs,
    });
  }

  /** Gives back a lease an unanswered acquire may have taken for us (best effort). */
  private forget(leaseName: string, leaseId: string): void {
    void this.requests
      .send('release', (signal) => this.store.release(leaseName, leaseId, signal), {
        timeoutMs: this.timings.requestTimeoutMs,
        abortOnStop: false,
      })
      .catch(() => undefined);
  }

  /** Sleeps `delayMs`, or until this process releases the lease, the caller's signal aborts or stop(). */
  private async pause(leaseName: string, delayMs: number, signal?: AbortSignal): Promise<void> {
    let waiters = this.waiters.get(leaseName);
    if (!waiters) this.waiters.set(leaseName, (waiters = new Set()));
    const woken = new AbortController();
    const wake = (): void => woken.abort();
    waiters.add(wake);
    try {
      await sleep(this.clock, delayMs, [
        woken.signal,
        this.stopController.signal,
        ...(signal ? [signal] : []),
      ]);
    } finally {
      waiters.delete(wake);
      if (waiters.size === 0) this.waiters.delete(leaseName);
    }
  }
}

function notAcquired(holder: string | undefined): { acquired: false; holder?: string } {
  return { acquired: false, ...(holder === undefined ? {} : { holder }) };
}

function heldElsewhere(holder: string | undefined): {
  ran: false;
  reason: 'held-elsewhere';
  holder?: string;
} {
  return { ran: false, reason: 'held-elsewhere', ...(holder === undefined ? {} : { holder }) };
}
