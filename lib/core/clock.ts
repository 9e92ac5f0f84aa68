import { performance } from 'node:perf_hooks';

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

/**
 * The production clock. `performance.now()` is CLOCK_MONOTONIC on Linux: it keeps counting while the
 * process is stopped (SIGSTOP, GC pause, starved event loop), which is exactly what the deadline
 * check needs. Timers are unref'd so a running election never keeps a process alive by itself.
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimeout: (callback, delayMs) => {
    const timer = setTimeout(callback, Math.max(0, delayMs));
    timer.unref();
    return timer;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Resolves after `delayMs` on `clock`, or as soon as `signal` aborts (never rejects). */
export function sleep(clock: Clock, delayMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const onAbort = (): void => {
      clock.clearTimeout(handle);
      resolve();
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, delayMs);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
