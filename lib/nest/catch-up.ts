import type { ElectionLogger } from '../core/logger.js';
import { LeaderElectionSetupError } from '../core/errors.js';
import type { LeaseStore } from '../core/lease-store.js';
import { catchUpDue, type TickLedger } from '../core/tick-ledger.js';
import { AzureBlobLeaseStore } from '../stores/azure-blob/azure-blob-lease-store.js';
import { AzureBlobTickLedger } from '../stores/azure-blob/azure-blob-tick-ledger.js';
import { MemoryLeaseStore } from '../stores/memory/memory-lease-store.js';
import { memoryTickLedgerOf } from '../stores/memory/memory-tick-ledger.js';
import type { LeaderOnlyMetadata } from './interfaces/leader-only-options.interface.js';
import { describeFailure } from './utils/failure-text.js';
import type { CronTicks } from './utils/cron-ticks.js';

/** A @Cron method with @LeaderOnly({ catchUp }), as the explorer registered it. */
export interface CatchUpJob {
  metadata: LeaderOnlyMetadata;
  leaseName: string;
  deadlineMs: number;
  ticks: CronTicks;
  /** Runs the method under the gate with a given tick (the gate's runGated, bound). */
  runTick(tickAt: number): unknown;
}

/** How a claim ended: the run may start, the tick ran already (or a later leader wrote), or unknown. */
export type ClaimOutcome = 'claimed' | 'already_run' | 'ledger_unavailable';

/**
 * The ledger side of catch-up: which tick a call is, recording a tick before its run (a run whose
 * record cannot be written does not start: at most once), the latest tick a follower skipped, and
 * the one missed tick per job a new tenure runs. Ledger failures are logged once per lease until a
 * claim succeeds again, and never thrown at the scheduler.
 */
export class CatchUpJobs {
  private readonly jobs = new Map<LeaderOnlyMetadata, CatchUpJob>();
  private readonly latestSkipped = new Map<LeaderOnlyMetadata, number>();
  private readonly failingLeases = new Set<string>();
  private ledgerResolved = false;
  private ledgerValue: TickLedger | undefined;

  constructor(
    private readonly store: LeaseStore,
    private readonly logger: ElectionLogger,
    private readonly requestTimeoutMs: (leaseName: string) => number,
    /** Wall clock: cron ticks are wall-clock instants (the same clock the scheduler fires by). */
    private readonly now: () => number = Date.now,
  ) {}

  /** The ledger of this app's store: its own for Azure and memory stores, or a custom store's. */
  get ledger(): TickLedger | undefined {
    if (!this.ledgerResolved) {
      this.ledgerResolved = true;
      this.ledgerValue = tickLedgerOf(this.store);
    }
    return this.ledgerValue;
  }

  register(job: CatchUpJob): void {
    if (!this.ledger)
      throw new LeaderElectionSetupError(
        `@LeaderOnly catchUp on ${job.metadata.handlerName}: the store (${this.store.description}) ` +
          'keeps no ' +
          'tick ledger. catchUp works with the Azure and memory stores, or a custom store that also ' +
          'implements TickLedger (lastTick, claim); remove catchUp or use such a store',
      );
    for (const other of this.jobs.values())
      if (
        other.metadata !== job.metadata &&
        other.leaseName === job.leaseName &&
        other.metadata.handlerName === job.metadata.handlerName
      )
        throw new LeaderElectionSetupError(
          `@LeaderOnly catchUp on ${job.metadata.handlerName}: two different methods of that name (two ` +
            `classes named alike) on lease "${job.leaseName}" would share one tick record, so one would ` +
            `skip the other's ticks; rename one class or method, or put one on another lease`,
        );
    this.jobs.set(job.metadata, job);
  }

  isCatchUpJob(metadata: LeaderOnlyMetadata): boolean {
    return this.jobs.has(metadata);
  }

  /** The tick a call made now is: the latest scheduled instant at or before now. */
  tickNow(metadata: LeaderOnlyMetadata): number | undefined {
    return this.jobs.get(metadata)?.ticks.latestAtOrBefore(this.now());
  }

  /** A follower skipped this job's tick: remembered, so a first tenure can run it (see catchUpDue). */
  noteSkipped(metadata: LeaderOnlyMetadata): void {
    const tick = this.tickNow(metadata);
    if (tick !== undefined && tick > (this.latestSkipped.get(metadata) ?? -1))
      this.latestSkipped.set(metadata, tick);
  }

  /** Records `tickAt` as started by `term` before the run starts; never throws. */
  async claim(
    leaseName: string,
    metadata: LeaderOnlyMetadata,
    tickAt: number,
    term: number,
    signal: AbortSignal,
  ): Promise<ClaimOutcome> {
    const ledger = this.ledger!;
    try {
      const result = await ledger.claim(
        { leaseName, job: metadata.handlerName, tickAt, term },
        this.bounded(leaseName, signal),
      );
      this.recovered(leaseName);
      if (result.claimed) return 'claimed';
      const { tickAt: recordedTick, term: recordedTerm } = result.recorded;
      this.logger.debug?.(
        `Tick ${new Date(tickAt).toISOString()} of ${metadata.handlerName} not run: ` +
          (result.reason === 'already-run'
            ? `tick ${new Date(recordedTick).toISOString()} is recorded (term ${recordedTerm})`
            : `a later leader (term ${recordedTerm}) wrote the ledger; this tenure's term is ${term}`),
      );
      return 'already_run';
    } catch (error) {
      this.failed(leaseName, error);
      return 'ledger_unavailable';
    }
  }

  /**
   * A tenure of `leaseName` began: each catch-up job whose latest tick is due (catchUpDue) runs once,
   * through `job.runTick` (the gate: claim first, then run). Called outside the elector's emission.
   */
  async runMissedTicks(leaseName: string, signal: AbortSignal): Promise<void> {
    for (const job of this.jobs.values()) {
      if (job.leaseName !== leaseName || signal.aborted) continue;
      const now = this.now();
      const latestTick = job.ticks.latestAtOrBefore(now);
      if (latestTick === undefined || now - latestTick > job.deadlineMs) continue;
      let recorded;
      try {
        recorded = await this.ledger!.lastTick(
          leaseName,
          job.metadata.handlerName,
          this.bounded(leaseName, signal),
        );
        this.recovered(leaseName);
      } catch (error) {
        this.failed(leaseName, error);
        continue;
      }
      // Judged at the tenure's start: a slow ledger read does not push a due tick past its deadline.
      const due = catchUpDue({
        latestTick,
        now,
        deadlineMs: job.deadlineMs,
        recorded,
        latestSkipped: this.latestSkipped.get(job.metadata),
      });
      if (!due || signal.aborted) continue;
      this.logger.log(
        `Catching up ${job.metadata.handlerName}: its tick ${new Date(latestTick).toISOString()} fell in a ` +
          `leadership gap of lease "${leaseName}" (catchUp.deadlineMs ${job.deadlineMs})`,
      );
      // Not awaited: one job's long run does not hold back the next job's catch-up.
      const failed = (error: unknown): void => {
        const failure = describeFailure(error);
        this.logger.error(
          `Catch-up run of ${job.metadata.handlerName} failed: ${failure.message}`,
          failure.stack,
        );
      };
      try {
        Promise.resolve(job.runTick(latestTick)).catch(failed);
      } catch (error) {
        failed(error);
      }
    }
  }

  private bounded(leaseName: string, signal: AbortSignal): AbortSignal {
    return AbortSignal.any([signal, AbortSignal.timeout(this.requestTimeoutMs(leaseName))]);
  }

  private failed(leaseName: string, error: unknown): void {
    if (this.failingLeases.has(leaseName)) return;
    this.failingLeases.add(leaseName);
    this.logger.warn(
      `Tick ledger of lease "${leaseName}" unavailable (${describeFailure(error).message}): catch-up ` +
        'ticks do not start until it answers (a tick runs only once it is recorded). Logged once until ' +
        'it recovers',
    );
  }

  private recovered(leaseName: string): void {
    if (this.failingLeases.delete(leaseName))
      this.logger.log(`Tick ledger of lease "${leaseName}" answers again`);
  }
}

/** The tick ledger a store comes with, if any. */
export function tickLedgerOf(store: LeaseStore): TickLedger | undefined {
  if (store instanceof AzureBlobLeaseStore) return new AzureBlobTickLedger(store.container);
  if (store instanceof MemoryLeaseStore) return memoryTickLedgerOf(store);
  const custom = store as unknown as Partial<TickLedger>;
  if (typeof custom.lastTick === 'function' && typeof custom.claim === 'function')
    return custom as TickLedger;
  return undefined;
}
