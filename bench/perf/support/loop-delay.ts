import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

export const LOOP_DELAY_RESOLUTION_MS = 10;

/** Starts an event-loop delay monitor (perf_hooks) sampling every 10 ms. */
export function startLoopDelay(): IntervalHistogram {
  const histogram = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
  histogram.enable();
  return histogram;
}

/**
 * Delay figures in ms. The histogram records the time between two samples, which includes the
 * sampling interval itself, so the interval is subtracted: 0 means timers fired on time.
 */
export function loopDelayMs(histogram: IntervalHistogram): {
  p50: number;
  p99: number;
  max: number;
  mean: number;
} {
  const excess = (ns: number): number => Math.max(0, ns / 1e6 - LOOP_DELAY_RESOLUTION_MS);
  return {
    p50: excess(histogram.percentile(50)),
    p99: excess(histogram.percentile(99)),
    max: excess(histogram.max),
    mean: excess(histogram.mean),
  };
}
