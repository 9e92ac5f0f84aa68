import type { Subscription } from 'rxjs';
import type { LeaderElector, StoreRequestEvent } from '../core/leader-elector.js';
import type { LeadershipEndReason, LeadershipEvent } from '../core/leadership-events.js';
import type { LeaseStoreErrorKind } from '../core/lease-store.js';
import type {
  MetricAttributes,
  MetricsCounter,
  MetricsGauge,
  MetricsHistogram,
  MetricsMeter,
} from './meter-types.js';
import { METRIC_ATTRIBUTES as A, METRIC_NAMES, STORE_REQUEST_BUCKETS_SECONDS } from './metric-names.js';
import { LeaderElectionError, LeaderElectionSetupError } from '../core/errors.js';

export interface ElectionMetricsOptions {
  /**
   * Add this replica's identity as the `identity` attribute of every series. Default false: each
   * replica already is a scrape target of its own, and identities that change at every restart (the
   * default one has a random part) would create new series each time.
   */
  includeIdentity?: boolean;
}

/** Why a @LeaderOnly call was skipped. */
export type GatedSkipReason =
  'not_leader' | 'overlap' | 'shutdown' | 'tick_already_run' | 'ledger_unavailable';

/** Outcome of an acquire call, as the `outcome` attribute of leader_election.acquire.attempts. */
export type AcquireOutcome = 'acquired' | 'held_by_other' | 'error';

const END_REASONS: readonly LeadershipEndReason[] = ['lost', 'deadline', 'step-down', 'stopped'];
const ERROR_KINDS: readonly LeaseStoreErrorKind[] = ['transient', 'permanent', 'lost'];
const ACQUIRE_OUTCOMES: readonly AcquireOutcome[] = ['acquired', 'held_by_other', 'error'];
/** Pre-registered at 0; the catchUp reasons (tick_already_run, ledger_unavailable) appear when seen. */
const SKIP_REASONS: readonly GatedSkipReason[] = ['not_leader', 'overlap', 'shutdown'];

interface Instrumented {
  elector: LeaderElector;
  base: MetricAttributes;
  subscriptions: Subscription[];
}

/**
 * Records the metrics of any number of elections on one OpenTelemetry Meter (see METRIC_NAMES).
 *
 * Each instrumented elector gets its series pre-registered at 0 (is_leader, transitions by type and
 * reason, renewal failures by error type, acquire attempts by outcome, gated runs by outcome and
 * reason), so dashboards and `rate()` see zeros instead of missing series.
 *
 * `leader_election.is_leader` is a synchronous gauge set at every role change (1 on becoming leader,
 * 0 on stepping down for any reason, stopping included): the elector's deadline timer steps it down on
 * time, so the gauge follows. (Not an observable gauge: the SDK keeps exporting the last observed
 * value of a series its callback no longer reports, so a stopped election would show 1 for ever.)
 * Recording never throws into the election: an exception from the meter is swallowed.
 *
 * Without an OpenTelemetry SDK the API's meter is a no-op and so is all of this.
 */
export class LeaderElectionMetrics {
  private readonly transitions: MetricsCounter;
  private readonly requestDuration: MetricsHistogram;
  private readonly renewalFailures: MetricsCounter;
  private readonly acquireAttempts: MetricsCounter;
  private readonly gatedRuns: MetricsCounter;
  private readonly isLeader: MetricsGauge;
  private readonly instrumented = new Map<LeaderElector, Instrumented>();
  private readonly gatedLeases = new Set<string>();
  private readonly includeIdentity: boolean;
  private disposed = false;

  constructor(meter: MetricsMeter, options: ElectionMetricsOptions = {}) {
    this.includeIdentity = options.includeIdentity === true;
    if (typeof meter?.createGauge !== 'function') {
      throw new LeaderElectionSetupError(
        'LeaderElectionMetrics needs an OpenTelemetry Meter with createGauge (@opentelemetry/api 1.9 ' +
          'or later)',
      );
    }
    this.isLeader = meter.createGauge(METRIC_NAMES.isLeader, {
      description:
        'Whether this replica leads the lease: 1 while it holds the lease inside its deadline, else 0 ' +
        '(like Kubernetes leader_election_master_status)',
      unit: '1',
    });
    this.transitions = meter.createCounter(METRIC_NAMES.transitions, {
      description:
        'Leadership transitions of this replica: type "acquired" (a tenure began) or "lost" (it ended; ' +
        'reason lost | deadline | step-down | stopped)',
      unit: '{transition}',
    });
    this.requestDuration = meter.createHistogram(METRIC_NAMES.storeRequestDuration, {
      description:
        'Duration of lease-store calls (observe, acquire, renew, release, and listLeases: one shared ' +
        'listing, counted on one of the leases it served); a call that timed out counts its timeout',
      unit: 's',
      advice: { explicitBucketBoundaries: STORE_REQUEST_BUCKETS_SECONDS },
    });
    this.renewalFailures = meter.createCounter(METRIC_NAMES.renewalFailures, {
      description:
        'Failed lease renewals (the leader retries until its deadline; error.type lost steps down at once)',
      unit: '{failure}',
    });
    this.acquireAttempts = meter.createCounter(METRIC_NAMES.acquireAttempts, {
      description:
        'Acquire calls: outcome acquired, held_by_other (another replica holds the lease) or error',
      unit: '{attempt}',
    });
    this.gatedRuns = meter.createCounter(METRIC_NAMES.gatedRuns, {
      description: '@LeaderOnly calls: outcome run, or skipped (reason not_leader | overlap | shutdown)',
      unit: '{run}',
    });
  }

  /**
   * Starts recording the metrics of `elector` (idempotent). Returns a function that stops recording
   * them; recording also ends by itself when the elector stops (is_leader is left at 0).
   */
  instrument(elector: LeaderElector): () => void {
    if (this.disposed) throw new LeaderElectionError('LeaderElectionMetrics was disposed');
    const existing = this.instrumented.get(elector);
    if (existing) return () => this.forget(elector);
    const base: MetricAttributes = { [A.lease]: elector.leaseName };
    if (this.includeIdentity) base[A.identity] = elector.identity;
    const entry: Instrumented = { elector, base, subscriptions: [] };
    this.instrumented.set(elector, entry);
    this.preRegister(base);
    entry.subscriptions.push(
      elector.events$.subscribe((event) => this.safely(() => this.onEvent(entry, event))),
      elector.requests$.subscribe((event) => this.safely(() => this.onRequest(entry, event))),
      // Current state first (0 before the election starts), then every change; completes at stop.
      elector.state$.subscribe({
        next: (state) => this.safely(() => this.isLeader.record(state.role === 'leader' ? 1 : 0, base)),
        complete: () => this.forget(elector),
      }),
    );
    return () => this.forget(elector);
  }

  /** Counts a @LeaderOnly call of `leaseName`: run, or skipped with the reason. */
  recordGatedRun(leaseName: string, outcome: 'run' | 'skipped', reason?: GatedSkipReason): void {
    if (this.disposed) return;
    this.safely(() => {
      const base = this.baseFor(leaseName);
      this.preRegisterGated(leaseName, base);
      this.gatedRuns.add(
        1,
        outcome === 'run'
          ? { ...base, [A.outcome]: 'run' }
          : { ...base, [A.outcome]: 'skipped', [A.reason]: reason ?? 'not_leader' },
      );
    });
  }

  /** Leases being recorded now. */
  get leaseNames(): string[] {
    return [...this.instrumented.values()].map((entry) => entry.elector.leaseName);
  }

  /**
   * Stops recording: unsubscribes from every elector. Idempotent. The SDK keeps exporting the last
   * values (is_leader 0 for elections that have stopped; dispose after stopping them).
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const elector of [...this.instrumented.keys()]) this.forget(elector);
  }

  private onEvent(entry: Instrumented, event: LeadershipEvent): void {
    if (event.type === 'acquired') this.transitions.add(1, { ...entry.base, [A.type]: 'acquired' });
    else if (event.type === 'lost')
      this.transitions.add(1, { ...entry.base, [A.type]: 'lost', [A.reason]: event.reason });
  }

  private onRequest(entry: Instrumented, event: StoreRequestEvent): void {
    const failed = event.outcome === 'error';
    const errorType = event.errorKind ?? 'transient';
    this.requestDuration.record(Math.max(0, event.durationMs) / 1000, {
      ...entry.base,
      [A.operation]: event.operation,
      [A.outcome]: event.outcome,
      ...(failed ? { [A.errorType]: errorType } : {}),
    });
    if (event.operation === 'renew' && failed)
      this.renewalFailures.add(1, { ...entry.base, [A.errorType]: errorType });
    if (event.operation === 'acquire') {
      const outcome: AcquireOutcome = failed ? 'error' : event.acquired ? 'acquired' : 'held_by_other';
      this.acquireAttempts.add(1, { ...entry.base, [A.outcome]: outcome });
    }
  }

  /** Adds 0 to every series of the lease, so they exist (at 0) before anything happened. */
  private preRegister(base: MetricAttributes): void {
    this.safely(() => {
      this.transitions.add(0, { ...base, [A.type]: 'acquired' });
      for (const reason of END_REASONS)
        this.transitions.add(0, { ...base, [A.type]: 'lost', [A.reason]: reason });
      for (const kind of ERROR_KINDS) this.renewalFailures.add(0, { ...base, [A.errorType]: kind });
      for (const outcome of ACQUIRE_OUTCOMES) this.acquireAttempts.add(0, { ...base, [A.outcome]: outcome });
      this.preRegisterGated(base[A.lease]!, base);
    });
  }

  private preRegisterGated(leaseName: string, base: MetricAttributes): void {
    if (this.gatedLeases.has(leaseName)) return;
    this.gatedLeases.add(leaseName);
    this.gatedRuns.add(0, { ...base, [A.outcome]: 'run' });
    for (const reason of SKIP_REASONS)
      this.gatedRuns.add(0, { ...base, [A.outcome]: 'skipped', [A.reason]: reason });
  }

  private baseFor(leaseName: string): MetricAttributes {
    for (const entry of this.instrumented.values())
      if (entry.elector.leaseName === leaseName) return entry.base;
    return { [A.lease]: leaseName };
  }

  private forget(elector: LeaderElector): void {
    const entry = this.instrumented.get(elector);
    if (!entry) return;
    this.instrumented.delete(elector);
    for (const subscription of entry.subscriptions) subscription.unsubscribe();
  }

  private safely(record: () => void): void {
    try {
      record();
    } catch {
      // Metrics must never break the election or a gated run.
    }
  }
}

/**
 * Records the metrics of one elector on `meter` (see LeaderElectionMetrics for several). Call
 * `dispose()` to stop.
 *
 *   import { metrics } from '@opentelemetry/api';
 *   const recording = instrumentElector(elector, metrics.getMeter('nestjs-leader-election'));
 */
export function instrumentElector(
  elector: LeaderElector,
  meter: MetricsMeter,
  options: ElectionMetricsOptions = {},
): LeaderElectionMetrics {
  const recorder = new LeaderElectionMetrics(meter, options);
  recorder.instrument(elector);
  return recorder;
}
