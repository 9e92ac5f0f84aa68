import { Inject, Injectable, Optional, type OnModuleDestroy } from '@nestjs/common';
import { Observable, Subject } from 'rxjs';
import { systemClock } from '../../core/clock.js';
import type { ElectionLogger } from '../../core/logger.js';
import type { LockContext } from '../../locks/held-lock.js';
import { LockEndedError } from '../../locks/lock-errors.js';
import { LockManager, type LockResult, type RunOnceResult } from '../../locks/lock-manager.js';
import { lockLeaseName, validateJobName } from '../../locks/lock-names.js';
import { resolveWaitOptions, type LockWaitOptions } from '../../locks/lock-options.js';
import { LockNotAcquiredError } from '../../locks/lock-errors.js';
import { RESOLVED_LEADER_ELECTION_OPTIONS } from '../leader-election.constants.js';
import type { ResolvedLeaderElectionOptions } from '../leader-election-options.resolver.js';
import { electionLogger } from '../utils/election-logger.js';
import { LOCK_DECISIONS, type LockDecisions } from './lock.constants.js';
import { runInLock } from './lock-context.js';

/** One withLock / tryWithLock call as it ended (LockService.locks$). */
export interface LockEvent {
  name: string;
  outcome: 'acquired' | 'not-acquired' | 'error';
  /** Monotonic ms from the call to acquisition or giving up. */
  waitMs: number;
  /** Set when the lock was lost while fn ran: 'lost' or 'deadline'. */
  lost?: 'lost' | 'deadline';
}

/** One tick of a per-run job as this replica saw it (LockService.runs$). */
export interface JobRunEvent {
  job: string;
  /** The tick's scheduled time (start of its period), epoch ms. */
  tickAt: number;
  /** This replica's identity. */
  identity: string;
  /** 'ran': this replica ran the tick; 'error': it ran it and fn threw. */
  outcome: 'ran' | 'already-ran' | 'held-elsewhere' | 'error';
  term?: number;
}

/**
 * Distributed locks for any code, on the module's lease store and timings (the same deadline rule as
 * leadership). Lock records are leases named `locks/lock/<name>`, per-run ticks `locks/run/<job>/<tick>`.
 *
 *   const result = await locks.tryWithLock('invoices/export', ({ term, signal }) => this.run(term, signal));
 *   if (!result.acquired) return; // another replica has it; fn did not run
 *
 *   // rejects with LockNotAcquiredError after 30 s
 *   await locks.withLock('stock', (lock) => this.reconcile(lock), { waitMs: 30_000 });
 */
@Injectable()
export class LockService implements OnModuleDestroy {
  private readonly manager: LockManager;
  private readonly logger: ElectionLogger;
  private readonly lockSubject = new Subject<LockEvent>();
  private readonly runSubject = new Subject<JobRunEvent>();
  private forcedTerm = 0;

  constructor(
    @Inject(RESOLVED_LEADER_ELECTION_OPTIONS) private readonly options: ResolvedLeaderElectionOptions,
    @Optional() @Inject(LOCK_DECISIONS) private readonly decisions?: LockDecisions,
  ) {
    this.logger = electionLogger(options);
    const election = options.election;
    this.manager = new LockManager(options.store, {
      identity: options.identity,
      leaseDurationSeconds: election.leaseDurationMs / 1000,
      renewIntervalMs: election.renewIntervalMs,
      safetyMarginMs: election.safetyMarginMs,
      requestTimeoutMs: election.requestTimeoutMs,
      renewRetryIntervalMs: election.renewRetryIntervalMs,
      retryIntervalMs: election.retryIntervalMs,
      logger: this.logger,
    });
  }

  /** This replica's identity (recorded as the holder of the locks it takes). */
  get identity(): string {
    return this.manager.identity;
  }

  /** Every withLock / tryWithLock call as it ended: for metrics (wait time, locks lost). */
  get locks$(): Observable<LockEvent> {
    return this.lockSubject.asObservable();
  }

  /** Every per-run tick this replica tried, with who ran it: for metrics and logs. */
  get runs$(): Observable<JobRunEvent> {
    return this.runSubject.asObservable();
  }

  /**
   * Runs fn holding the lock `name` and releases it when fn settles (also on throw). Waits up to
   * `waitMs` (default 0: one attempt) for another holder, then rejects with LockNotAcquiredError; fn
   * does not run then. fn receives `{ name, term, signal }` (also from currentLock()).
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

  /** Like withLock, but "not acquired" is the answer `{ acquired: false, holder? }` instead of an error. */
  async tryWithLock<T>(
    name: string,
    fn: (lock: LockContext) => T | Promise<T>,
    options?: LockWaitOptions,
  ): Promise<LockResult<T>> {
    lockLeaseName(name);
    resolveWaitOptions(options);
    const forced = this.decisions?.decide('lock', name);
    if (forced) {
      if (!forced.acquired) return { acquired: false, ...(forced.holder ? { holder: forced.holder } : {}) };
      const { value, term } = await this.runForced('lock', name, forced.term, fn);
      return { acquired: true, value, term };
    }
    const startedAt = systemClock.now();
    let waitMs = 0;
    let lock: LockContext | undefined;
    try {
      const result = await this.manager.tryWithLock(
        name,
        (held) => {
          lock = held;
          waitMs = systemClock.now() - startedAt;
          return runInLock(held, () => fn(held));
        },
        options,
      );
      if (!result.acquired) waitMs = systemClock.now() - startedAt;
      this.emitLock(name, result.acquired ? 'acquired' : 'not-acquired', waitMs, lock);
      return result;
    } catch (error) {
      this.emitLock(name, lock ? 'acquired' : 'error', lock ? waitMs : systemClock.now() - startedAt, lock);
      throw error;
    }
  }

  /**
   * One tick of a per-run job (what @OnOneReplica calls): fn runs if this replica is the first in the
   * cluster to take the tick's record. `tickAt` is the tick's scheduled time, epoch ms.
   */
  async runOnce<T>(
    job: string,
    tickAt: number,
    fn: (lock: LockContext) => T | Promise<T>,
    options: { spreadMs?: number } = {},
  ): Promise<RunOnceResult<T>> {
    validateJobName(job);
    let result: RunOnceResult<T>;
    const forced = this.decisions?.decide('run', job);
    try {
      if (forced) {
        if (forced.acquired) {
          const { value, term } = await this.runForced('run', job, forced.term, fn);
          result = { ran: true, value, term };
        } else
          result = {
            ran: false,
            reason: 'held-elsewhere',
            ...(forced.holder ? { holder: forced.holder } : {}),
          };
      } else
        result = await this.manager.runOnce(job, tickAt, (held) => runInLock(held, () => fn(held)), options);
    } catch (error) {
      this.emitRun(job, tickAt, 'error');
      throw error;
    }
    this.emitRun(job, tickAt, result.ran ? 'ran' : result.reason, result.ran ? result.term : undefined);
    return result;
  }

  /** Stops taking locks; waits (bounded by shutdownTimeoutMs) for fns still running, then their locks go. */
  async onModuleDestroy(): Promise<void> {
    await this.manager.stop(this.options.shutdownTimeoutMs);
    this.lockSubject.complete();
    this.runSubject.complete();
  }

  private async runForced<T>(
    kind: 'lock' | 'run',
    name: string,
    term: number | undefined,
    fn: (lock: LockContext) => T | Promise<T>,
  ): Promise<{ value: T; term: number }> {
    const controller = new AbortController();
    const granted = term ?? ++this.forcedTerm;
    const lock: LockContext = { name, term: granted, signal: controller.signal };
    const untrack = this.decisions?.track?.(kind, name, controller, granted);
    try {
      const value = await runInLock(lock, () => fn(lock));
      return { value, term: granted };
    } finally {
      untrack?.();
      if (!controller.signal.aborted) controller.abort(new LockEndedError(name, granted, 'released'));
    }
  }

  private emitLock(name: string, outcome: LockEvent['outcome'], waitMs: number, lock?: LockContext): void {
    const reason = lock?.signal.reason as { reason?: unknown } | undefined;
    const lost = reason?.reason === 'lost' || reason?.reason === 'deadline' ? reason.reason : undefined;
    if (this.lockSubject.observed)
      this.lockSubject.next({
        name,
        outcome,
        waitMs,
        ...(lost ? { lost: lost as 'lost' | 'deadline' } : {}),
      });
  }

  private emitRun(job: string, tickAt: number, outcome: JobRunEvent['outcome'], term?: number): void {
    const when = new Date(tickAt).toISOString();
    if (outcome === 'ran' || outcome === 'error')
      this.logger.debug?.(
        `Job "${job}" tick ${when} ran on this replica (${this.identity}, term ${term ?? '?'})`,
      );
    else this.logger.debug?.(`Job "${job}" tick ${when} skipped: ${outcome} (another replica took it)`);
    if (this.runSubject.observed)
      this.runSubject.next({ job, tickAt, identity: this.identity, outcome, ...(term ? { term } : {}) });
  }
}
