import {
  DataPointType,
  MeterProvider,
  MetricReader,
  type HistogramMetricData,
  type MetricData,
} from '@opentelemetry/sdk-metrics';

/** A pull reader for tests: `collect()` when the test says so, no timers, no exporter. */
class TestMetricReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** One metric as collected: its descriptor and its points keyed by their attributes. */
export interface CollectedMetric {
  name: string;
  unit: string;
  type: 'counter' | 'gauge' | 'histogram' | 'other';
  /** `key=value,…` (sorted keys) → value; histograms give { count, sum }. */
  points: Map<string, number | { count: number; sum: number }>;
}

/** Attributes as a stable key: `a=1,b=2` with sorted keys. */
export function seriesKey(attributes: Record<string, unknown>): string {
  return Object.keys(attributes)
    .sort()
    .map((key) => `${key}=${String(attributes[key])}`)
    .join(',');
}

/** An SDK MeterProvider with an in-process pull reader (cumulative temporality, the SDK's default). */
export class TestMetrics {
  readonly reader = new TestMetricReader();
  readonly provider = new MeterProvider({ readers: [this.reader] });

  meter(name = 'test') {
    return this.provider.getMeter(name);
  }

  async collect(): Promise<Map<string, CollectedMetric>> {
    const { resourceMetrics, errors } = await this.reader.collect();
    if (errors.length > 0) throw new Error(`metric collection failed: ${errors.map(String).join('; ')}`);
    const result = new Map<string, CollectedMetric>();
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) result.set(metric.descriptor.name, describe(metric));
    }
    return result;
  }

  /** The points of one metric (an empty map when it has none). */
  async series(name: string): Promise<Map<string, number | { count: number; sum: number }>> {
    return (await this.collect()).get(name)?.points ?? new Map();
  }

  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }
}

function describe(metric: MetricData): CollectedMetric {
  const points = new Map<string, number | { count: number; sum: number }>();
  if (metric.dataPointType === DataPointType.HISTOGRAM) {
    for (const point of (metric as HistogramMetricData).dataPoints) {
      points.set(seriesKey(point.attributes), { count: point.value.count, sum: point.value.sum ?? 0 });
    }
  } else {
    for (const point of metric.dataPoints) points.set(seriesKey(point.attributes), point.value as number);
  }
  const type =
    metric.dataPointType === DataPointType.SUM
      ? 'counter'
      : metric.dataPointType === DataPointType.GAUGE
        ? 'gauge'
        : metric.dataPointType === DataPointType.HISTOGRAM
          ? 'histogram'
          : 'other';
  return { name: metric.descriptor.name, unit: metric.descriptor.unit, type, points };
}
