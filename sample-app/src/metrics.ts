import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';

/**
 * OpenTelemetry metrics for Prometheus. The exporter does not start a server of its own
 * (preventServerStart): MetricsController serves its text on the app's port at GET /metrics.
 */
export const prometheusExporter = new PrometheusExporter({ preventServerStart: true });

/**
 * Registers the global MeterProvider. Call it before the Nest app is created: the OpenTelemetry API
 * hands out no-op meters until a provider is registered, and LeaderElectionModule takes its meter
 * when the app is created (with the `metrics` option left at its default).
 */
export function startMetrics(): MeterProvider {
  const provider = new MeterProvider({ readers: [prometheusExporter] });
  metrics.setGlobalMeterProvider(provider);
  return provider;
}
