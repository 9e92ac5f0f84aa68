import type { MetricsMeterProvider } from './meter-types.js';

/** What loading the optional peer `@opentelemetry/api` gave. */
export type GlobalMeterProviderResult =
  { available: true; provider: MetricsMeterProvider } | { available: false; reason: string };

/**
 * Loads `@opentelemetry/api` (an optional peer dependency) and returns its global MeterProvider
 * (`metrics`), or why it could not. Loaded with a dynamic import, never a static one, so an
 * application without the package still loads this library.
 *
 * Without an OpenTelemetry SDK the global provider is a no-op: recording costs next to nothing. Note
 * that the API has no proxy for meters: a meter taken before the SDK registers its MeterProvider stays
 * a no-op, so start the SDK before the Nest application is created (as OpenTelemetry asks of every
 * instrumented library).
 */
export async function loadGlobalMeterProvider(): Promise<GlobalMeterProviderResult> {
  try {
    const api = await import('@opentelemetry/api');
    // ESM namespace, or a CommonJS module seen through a default export (bundlers).
    const metrics = (api.metrics ?? (api as unknown as { default?: typeof api }).default?.metrics) as
      MetricsMeterProvider | undefined;
    if (!metrics || typeof metrics.getMeter !== 'function')
      return {
        available: false,
        reason: '@opentelemetry/api has no metrics API (version 1.9 or later is needed)',
      };
    return { available: true, provider: metrics };
  } catch (error) {
    const code = (error as { code?: unknown } | undefined)?.code;
    const reason =
      code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND'
        ? '@opentelemetry/api is not installed'
        : `@opentelemetry/api could not be loaded: ${error instanceof Error ? error.message : String(error)}`;
    return { available: false, reason };
  }
}
