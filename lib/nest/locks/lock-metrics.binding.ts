import type { OnApplicationShutdown, Provider } from '@nestjs/common';
import type { Subscription } from 'rxjs';
import type { MetricsCounter, MetricsHistogram, MetricsMeterProvider } from '../../metrics/meter-types.js';
import { loadGlobalMeterProvider } from '../../metrics/opentelemetry.js';
import { RESOLVED_LEADER_ELECTION_OPTIONS } from '../leader-election.constants.js';
import type { ResolvedLeaderElectionOptions } from '../leader-election-options.resolver.js';
import { LockService, type JobRunEvent, type LockEvent } from './lock.service.js';

/** Names of the lock metrics (docs/metrics.md, "Locks and per-run jobs"). */
export const LOCK_METRIC_NAMES = {
  /** Histogram, seconds from a withLock/tryWithLock call to acquisition or giving up; outcome. */
  lockWait: 'leader_election.lock.wait.duration',
  /** Counter of locks lost while fn ran: reason lost | deadline. */
  locksLost: 'leader_election.lock.lost',
  /** Counter of per-run ticks this replica tried: job, outcome ran | already_ran | held_elsewhere | error. */
  jobRuns: 'leader_election.job.runs',
} as const;

/** Bucket boundaries (seconds) for the lock wait: from one acquire call to minutes of waiting. */
const LOCK_WAIT_BUCKETS_SECONDS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/**
 * Records LockService's events on the module's meter (the `metrics` option, as the election metrics):
 * lock wait time, locks lost, and per-run ticks by outcome, so a dashboard shows which replica ran
 * each tick (the series of the replica that ran it counts outcome "ran"; with includeIdentity the
 * identity is an attribute). Labels never carry lock names (they may come from input): jobs only.
 */
export class LockMetricsBinding implements OnApplicationShutdown {
  private readonly subscriptions: Subscription[] = [];

  constructor(
    locks: LockService,
    instruments: { wait: MetricsHistogram; lost: MetricsCounter; runs: MetricsCounter } | undefined,
    includeIdentity: boolean,
  ) {
    if (!instruments) return;
    const identity: Record<string, string> = includeIdentity ? { identity: locks.identity } : {};
    this.subscriptions.push(
      locks.locks$.subscribe((event: LockEvent) => {
        instruments.wait.record(event.waitMs / 1000, {
          outcome: event.outcome.replace('-', '_'),
          ...identity,
        });
        if (event.lost) instruments.lost.add(1, { reason: event.lost, ...identity });
      }),
      locks.runs$.subscribe((event: JobRunEvent) =>
        instruments.runs.add(1, { job: event.job, outcome: event.outcome.replace('-', '_'), ...identity }),
      ),
    );
  }

  static async create(
    options: ResolvedLeaderElectionOptions,
    locks: LockService,
  ): Promise<LockMetricsBinding> {
    const { enabled, meterName, includeIdentity } = options.metrics;
    if (enabled === false) return new LockMetricsBinding(locks, undefined, false);
    let provider: MetricsMeterProvider | undefined = options.metrics.meterProvider;
    if (!provider) {
      const loaded = await loadGlobalMeterProvider();
      // The election metrics binding reports (or refuses) an unavailable API; locks just stay silent.
      if (!loaded.available) return new LockMetricsBinding(locks, undefined, false);
      provider = loaded.provider;
    }
    try {
      const meter = provider.getMeter(meterName);
      return new LockMetricsBinding(
        locks,
        {
          wait: meter.createHistogram(LOCK_METRIC_NAMES.lockWait, {
            description:
              'Time from a withLock/tryWithLock call to taking the lock or giving up (outcome acquired | ' +
              'not_acquired | error)',
            unit: 's',
            advice: { explicitBucketBoundaries: LOCK_WAIT_BUCKETS_SECONDS },
          }),
          lost: meter.createCounter(LOCK_METRIC_NAMES.locksLost, {
            description:
              'Locks lost while their fn ran (reason lost: renewal refused; deadline: no renewal in time)',
            unit: '{lock}',
          }),
          runs: meter.createCounter(LOCK_METRIC_NAMES.jobRuns, {
            description:
              'Per-run (@OnOneReplica) ticks this replica tried, by job and outcome (ran | already_ran | ' +
              'held_elsewhere | error): the replica counting "ran" ran the tick',
            unit: '{tick}',
          }),
        },
        includeIdentity,
      );
    } catch {
      return new LockMetricsBinding(locks, undefined, false); // the election binding reports why
    }
  }

  onApplicationShutdown(): void {
    for (const subscription of this.subscriptions) subscription.unsubscribe();
  }
}

export const LOCK_METRICS_PROVIDER: Provider = {
  provide: LockMetricsBinding,
  inject: [RESOLVED_LEADER_ELECTION_OPTIONS, LockService],
  useFactory: (options: ResolvedLeaderElectionOptions, locks: LockService) =>
    LockMetricsBinding.create(options, locks),
};
