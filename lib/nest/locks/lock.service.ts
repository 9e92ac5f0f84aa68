import { Inject, Injectable, Optional, type OnModuleDestroy } from '@nestjs/common';
import { Observable, Subject } from 'rxjs';
import type { LockContext } from '../../locks/held-lock.js';
import type { JobRunEvent, LockEvent } from '../../locks/lock-events.js';
import { LockManager, type LockResult, type RunOnceResult } from '../../locks/lock-manager.js';
import type { LockWaitOptions } from '../../locks/lock-options.js';
import { RESOLVED_LEADER_ELECTION_OPTIONS } from '../leader-election.constants.js';
import type { ResolvedLeaderElectionOptions } from '../leader-election-options.resolver.js';
import { electionLogger } from '../utils/election-logger.js';
import { LOCK_DECISIONS, type LockDecisions } from './lock.constants.js';

export type { JobRunEvent, LockEvent } from '../../locks/lock-events.js';

/**
 * Distributed locks for any code, on the module's lease store and timings (the same deadline rule as
 * leadership): a LockManager (lib/locks) made from the module's options, with its calls as
 * observables. Lock records are leases named `locks/lock/<name>`, per-run ticks `locks/run/<job>/<tick>`.
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
  private readonly lockSubject = new Subject<LockEvent>();
  private readonly runSubject = new Subject<JobRunEvent>();

  constructor(
    @Inject(RESOLVED_LEADER_ELECTION_OPTIONS) private readonly options: ResolvedLeaderElectionOptions,
    @Optional() @Inject(LOCK_DECISIONS) decisions?: LockDecisions,
  ) {
    const election = options.election;
    this.manager = new LockManager(options.store, {
      identity: options.identity,
      leaseDurationSeconds: election.leaseDurationMs / 1000,
      renewIntervalMs: election.renewIntervalMs,
      safetyMarginMs: election.safetyMarginMs,
      requestTimeoutMs: election.requestTimeoutMs,
      renewRetryIntervalMs: election.renewRetryIntervalMs,
      retryIntervalMs: election.retryIntervalMs,
      logger: electionLogger(options),
      events: { lock: (event) => this.lockSubject.next(event), run: (event) => this.runSubject.next(event) },
      ...(decisions ? { decisions } : {}),
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
  withLock<T>(
    name: string,
    fn: (lock: LockContext) => T | Promise<T>,
    options?: LockWaitOptions,
  ): Promise<T> {
    return this.manager.withLock(name, fn, options);
  }

  /** Like withLock, but "not acquired" is the answer `{ acquired: false, holder? }` instead of an error. */
  tryWithLock<T>(
    name: string,
    fn: (lock: LockContext) => T | Promise<T>,
    options?: LockWaitOptions,
  ): Promise<LockResult<T>> {
    return this.manager.tryWithLock(name, fn, options);
  }

  /**
   * One tick of a per-run job (what @OnOneReplica calls): fn runs if this replica is the first in the
   * cluster to take the tick's record. `tickAt` is the tick's scheduled time, epoch ms.
   */
  runOnce<T>(
    job: string,
    tickAt: number,
    fn: (lock: LockContext) => T | Promise<T>,
    options: { spreadMs?: number } = {},
  ): Promise<RunOnceResult<T>> {
    return this.manager.runOnce(job, tickAt, fn, options);
  }

  /** Stops taking locks; waits (bounded by shutdownTimeoutMs) for fns still running, then their locks go. */
  async onModuleDestroy(): Promise<void> {
    await this.manager.stop(this.options.shutdownTimeoutMs);
    this.lockSubject.complete();
    this.runSubject.complete();
  }
}
