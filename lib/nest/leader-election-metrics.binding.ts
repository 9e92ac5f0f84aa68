import type { OnApplicationShutdown } from '@nestjs/common';
import type { Subscription } from 'rxjs';
import type { ElectionLogger } from '../core/logger.js';
import { LeaderElectionMetrics } from '../metrics/leader-election-metrics.js';
import { loadGlobalMeterProvider } from '../metrics/opentelemetry.js';
import type { MetricsMeterProvider } from '../metrics/meter-types.js';
import type { Provider } from '@nestjs/common';
import { RESOLVED_LEADER_ELECTION_OPTIONS } from './leader-election.constants.js';
import type { ResolvedLeaderElectionOptions } from './leader-election-options.resolver.js';
import { LeaderElectionRegistry } from './leader-election.registry.js';
import { LeaderGateRunner } from './leader-gate.js';
import { electionLogger } from './utils/election-logger.js';
import { LeaderElectionSetupError } from '../core/errors.js';

/**
 * Connects the `metrics` module option to the registry and the gate: every election the service creates is
 * instrumented (before it starts), and every @LeaderOnly call is counted. Built by an async provider
 * factory, so `@opentelemetry/api` is loaded with a dynamic import before any election exists. Stops
 * recording at application shutdown, after the elections have stopped (their last transition counted).
 */
export class LeaderElectionMetricsBinding implements OnApplicationShutdown {
  private readonly subscriptions: Subscription[] = [];

  private constructor(
    registry: LeaderElectionRegistry,
    gate: LeaderGateRunner,
    readonly metrics: LeaderElectionMetrics | undefined,
  ) {
    if (!metrics) return;
    // Elections created before this provider (e.g. electorFor() in another constructor), then the rest.
    for (const name of registry.leaseNames) metrics.instrument(registry.electorFor(name));
    this.subscriptions.push(
      registry.electorCreated$.subscribe((elector) => metrics.instrument(elector)),
      gate.gatedRuns$.subscribe((run) => metrics.recordGatedRun(run.leaseName, run.outcome, run.reason)),
    );
  }

  static async create(
    options: ResolvedLeaderElectionOptions,
    registry: LeaderElectionRegistry,
    gate: LeaderGateRunner,
  ): Promise<LeaderElectionMetricsBinding> {
    const logger: ElectionLogger = electionLogger(options);
    const { enabled, meterName, includeIdentity } = options.metrics;
    if (enabled === false) return new LeaderElectionMetricsBinding(registry, gate, undefined);
    let provider: MetricsMeterProvider | undefined = options.metrics.meterProvider;
    if (!provider) {
      const loaded = await loadGlobalMeterProvider();
      if (!loaded.available) {
        if (enabled === true) {
          throw new LeaderElectionSetupError(
            `LeaderElectionModule: "metrics" is on but ${loaded.reason}. Install @opentelemetry/api ` +
              `(npm install @opentelemetry/api), give metrics.meterProvider, or set metrics: false`,
          );
        }
        logger.debug?.(`Leader election metrics off: ${loaded.reason}`);
        return new LeaderElectionMetricsBinding(registry, gate, undefined);
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
      return new LeaderElectionMetricsBinding(registry, gate, undefined);
    }
    logger.debug?.(`Leader election metrics recorded on meter "${meterName}"`);
    return new LeaderElectionMetricsBinding(registry, gate, metrics);
  }

  onApplicationShutdown(): void {
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    this.metrics?.dispose();
  }
}

/**
 * The `metrics` option as a provider (loads @opentelemetry/api, when used, before any election exists);
 * LeaderElectionModule and the testing module share it.
 */
export const LEADER_ELECTION_METRICS_PROVIDER: Provider = {
  provide: LeaderElectionMetricsBinding,
  inject: [RESOLVED_LEADER_ELECTION_OPTIONS, LeaderElectionRegistry, LeaderGateRunner],
  useFactory: (
    options: ResolvedLeaderElectionOptions,
    registry: LeaderElectionRegistry,
    gate: LeaderGateRunner,
  ) => LeaderElectionMetricsBinding.create(options, registry, gate),
};
