import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { Subscription } from 'rxjs';
import type { ElectionLogger } from '../core/logger.js';
import { safeLogger, silentLogger } from '../core/logger.js';
import { LeaderElectionMetrics } from '../metrics/leader-election-metrics.js';
import { loadGlobalMeterProvider } from '../metrics/opentelemetry.js';
import type { MetricsMeterProvider } from '../metrics/meter-types.js';
import type { Provider } from '@nestjs/common';
import { RESOLVED_LEADER_ELECTION_OPTIONS } from './leader-election.constants.js';
import type { ResolvedLeaderElectionOptions } from './leader-election-options.resolver.js';
import { LeaderElectionService } from './leader-election.service.js';
import { LeaderElectionSetupError } from '../core/errors.js';

/**
 * Connects the `metrics` module option to the service: every election the service creates is
 * instrumented (before it starts), and every @LeaderOnly call is counted. Built by an async provider
 * factory, so `@opentelemetry/api` is loaded with a dynamic import before any election exists. Stops
 * recording at application shutdown, after the elections have stopped (their last transition counted).
 */
export class LeaderElectionMetricsBinding implements OnApplicationShutdown {
  private readonly subscriptions: Subscription[] = [];

  private constructor(
    service: LeaderElectionService,
    readonly metrics: LeaderElectionMetrics | undefined,
  ) {
    if (!metrics) return;
    // Elections created before this provider (e.g. electorFor() in another constructor), then the rest.
    for (const name of service.leaseNames) metrics.instrument(service.electorFor(name));
    this.subscriptions.push(
      service.electorCreated$.subscribe((elector) => metrics.instrument(elector)),
      service.gatedRuns$.subscribe((run) => metrics.recordGatedRun(run.leaseName, run.outcome, run.reason)),
    );
  }

  static async create(
    options: ResolvedLeaderElectionOptions,
    service: LeaderElectionService,
  ): Promise<LeaderElectionMetricsBinding> {
    const logger: ElectionLogger = safeLogger(
      options.logger === false ? silentLogger : (options.logger ?? new Logger('LeaderElection')),
    );
    const { enabled, meterName, includeIdentity } = options.metrics;
    if (enabled === false) return new LeaderElectionMetricsBinding(service, undefined);
    let provider: MetricsMeterProvider | undefined = options.metrics.meterProvider;
    if (!provider) {
      const loaded = await loadGlobalMeterProvider();
      if (!loaded.available) {
        if (enabled === true) {
          throw new LeaderElectionSetupError(
            `LeaderElectionModule: "metrics" is on but ${loaded.reason}. Install @opentelemetry/api (npm install @opentelemetry/api), give metrics.meterProvider, or set metrics: false`,
          );
        }
        logger.debug?.(`Leader election metrics off: ${loaded.reason}`);
        return new LeaderElectionMetricsBinding(service, undefined);
      }
      provider = loaded.provider;
    }
    let metrics: LeaderElectionMetrics;
    try {
      metrics = new LeaderElectionMetrics(provider.getMeter(meterName), { includeIdentity });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (enabled === true)
        throw new LeaderElectionSetupError(
          `LeaderElectionModule: "metrics" is on but cannot be recorded: ${reason}`,
          {
            cause: error,
          },
        );
      logger.warn(`Leader election metrics off: ${reason}`);
      return new LeaderElectionMetricsBinding(service, undefined);
    }
    logger.debug?.(`Leader election metrics recorded on meter "${meterName}"`);
    return new LeaderElectionMetricsBinding(service, metrics);
  }

  onApplicationShutdown(): void {
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    this.metrics?.dispose();
  }
}

/** The `metrics` option as a provider (loads @opentelemetry/api, when used, before any election exists); LeaderElectionModule and the testing module share it. */
export const LEADER_ELECTION_METRICS_PROVIDER: Provider = {
  provide: LeaderElectionMetricsBinding,
  inject: [RESOLVED_LEADER_ELECTION_OPTIONS, LeaderElectionService],
  useFactory: (options: ResolvedLeaderElectionOptions, service: LeaderElectionService) =>
    LeaderElectionMetricsBinding.create(options, service),
};
