/**
 * The part of the OpenTelemetry metrics API (`@opentelemetry/api`) this library uses, written out
 * structurally so that no published type refers to `@opentelemetry/api`: an application without it
 * compiles and runs, whatever its `skipLibCheck`. A real `Meter` / `MeterProvider` of
 * `@opentelemetry/api` (or of `@opentelemetry/sdk-metrics`) is assignable to these.
 */

/** Attribute values as this library records them (strings only: lease names, outcomes, kinds). */
export type MetricAttributes = Record<string, string>;

export interface MetricInstrumentOptions {
  description?: string;
  unit?: string;
  /**
   * Hints for the SDK, e.g. histogram bucket boundaries (@opentelemetry/api ≥ 1.7; older ones ignore it).
   */
  advice?: { explicitBucketBoundaries?: number[] };
}

export interface MetricsCounter {
  add(value: number, attributes?: MetricAttributes): void;
}

export interface MetricsHistogram {
  record(value: number, attributes?: MetricAttributes): void;
}

/** A synchronous gauge (@opentelemetry/api ≥ 1.9): the last recorded value per attribute set. */
export interface MetricsGauge {
  record(value: number, attributes?: MetricAttributes): void;
}

/** An OpenTelemetry Meter (the methods this library calls). */
export interface MetricsMeter {
  createCounter(name: string, options?: MetricInstrumentOptions): MetricsCounter;
  createHistogram(name: string, options?: MetricInstrumentOptions): MetricsHistogram;
  createGauge(name: string, options?: MetricInstrumentOptions): MetricsGauge;
}

/** An OpenTelemetry MeterProvider: `metrics` of @opentelemetry/api (the global one) or an SDK one. */
export interface MetricsMeterProvider {
  getMeter(name: string, version?: string): MetricsMeter;
}
