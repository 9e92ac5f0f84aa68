/** Opaque handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = unknown;

/**
 * Time source for the election. `now()` must be monotonic: the lease deadline is computed from it,
 * and a wall clock that jumps (NTP, manual change) would make a replica believe it still leads.
 * Tests replace the whole clock to drive time deterministically.
 */
export interface Clock {
  /** Monotonic milliseconds; only differences are meaningful. */
  now(): number;
  /** Wall-clock milliseconds since the epoch, for display only (never for deadlines). */
  wallNow(): number;
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The longest delay Node's setTimeout honours (2^31 − 1 ms, about 24.8 days). */
export const MAX_TIMER_DELAY_MS = 2_147_483_647;

/** The fake clock behind faked global timers (@sinonjs/fake-timers, which Jest and Vitest use), if any. */
function fakeTimerClock(): { now: number } | undefined {
  const clock = (globalThis.setTimeout as { clock?: { now?: unknown } } | undefined)?.clock;
  return typeof clock?.now === 'number' ? (clock as { now: number }) : undefined;
}

/**
 * The production clock. `performance.now()` is CLOCK_MONOTONIC on Linux: it keeps counting while the
 * process is stopped (SIGSTOP, GC pause, starved event loop), which is exactly what the deadline
 * check needs. Timers are unref'd so a running election never keeps a process alive by itself.
 *
 * Time and timers must come from the same world. When a test runner fakes the global timers (Jest's
 * or Vitest's fake timers, i.e. @sinonjs/fake-timers), time is read from that fake clock, so
 * deadlines and timers agree: advancing fake time by an hour ends a leadership whose renewals
 * cannot run, and a timer never finds itself "early" for ever (reading the real `performance`
 * while timers were fake made the deadline timer re-arm itself until runAllTimers gave up). Both are
 * looked up at every call, as the runner installs and removes its fakes between tests.
 */
export const systemClock: Clock = {
  now: () => fakeTimerClock()?.now ?? globalThis.performance.now(),
  wallNow: () => Date.now(),
  setTimeout: (callback, delayMs) => {
    // Node fires delays above 2^31 − 1 ms after 1 ms instead: cap them. Every caller recomputes what
    // is left when its timer fires, so a capped wait simply wakes once every 24.8 days.
    const timer = globalThis.setTimeout(callback, Math.min(MAX_TIMER_DELAY_MS, Math.max(0, delayMs)));
    (timer as { unref?: () => void }).unref?.();
    return timer;
  },
  clearTimeout: (handle) => globalThis.clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Resolves after `delayMs` on `clock`, or as soon as one of `signals` aborts (never rejects). Takes
 * several signals instead of an `AbortSignal.any()` of them: on Node 20 every `AbortSignal.any()`
 * result stays referenced from its source signals for as long as they live (nodejs/node#55351), and
 * the election's stop signal lives as long as the process, so one composite per poll would leak.
 */
export function sleep(
  clock: Clock,
  delayMs: number,
  signals?: AbortSignal | readonly AbortSignal[],
): Promise<void> {
  const sources =
    signals === undefined
      ? []
      : Array.isArray(signals)
        ? (signals as readonly AbortSignal[])
        : [signals as AbortSignal];
  return new Promise((resolve) => {
    if (sources.some((signal) => signal.aborted)) {
      resolve();
      return;
    }
    const done = (): void => {
      for (const signal of sources) signal.removeEventListener('abort', onAbort);
      resolve();
    };
    const onAbort = (): void => {
      clock.clearTimeout(handle);
      done();
    };
    const handle = clock.setTimeout(done, delayMs);
    for (const signal of sources) signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A signal that aborts (with the first source's reason) when any source aborts, like
 * `AbortSignal.any()`, but `dispose()` detaches it from the sources so nothing keeps it alive
 * afterwards (see {@link sleep} for why that matters on Node 20).
 */
export function linkSignals(sources: readonly AbortSignal[]): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const dispose = (): void => {
    for (const source of sources) source.removeEventListener('abort', onAbort);
  };
  const onAbort = (event: Event): void => {
    dispose();
    controller.abort((event.target as AbortSignal).reason);
  };
  const aborted = sources.find((source) => source.aborted);
  if (aborted) controller.abort(aborted.reason);
  else for (const source of sources) source.addEventListener('abort', onAbort, { once: true });
  return { signal: controller.signal, dispose };
}
