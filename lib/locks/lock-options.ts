import { InvalidElectionOptionError } from '../core/errors.js';

/** Options of one withLock / tryWithLock call. */
export interface LockWaitOptions {
  /**
   * How long to wait for another holder to give the lock back, ms. Default 0: one attempt, as in
   * @nestjs/locks. `Infinity` waits until the lock is taken or `signal` aborts.
   */
  waitMs?: number;
  /** Stops waiting (rejects with the signal's reason). Does not abort fn once the lock is held. */
  signal?: AbortSignal;
}

const WAIT_OPTION_KEYS = ['waitMs', 'signal'];

export function resolveWaitOptions(options: unknown): { waitMs: number; signal?: AbortSignal } {
  if (options === undefined) return { waitMs: 0 };
  if (options === null || typeof options !== 'object' || Array.isArray(options))
    throw new InvalidElectionOptionError('lock options', options, 'an object { waitMs?, signal? }');
  for (const key of Object.keys(options)) {
    if (!WAIT_OPTION_KEYS.includes(key))
      throw new InvalidElectionOptionError(
        key,
        (options as Record<string, unknown>)[key],
        'no such lock option; options are waitMs, signal',
        true,
      );
  }
  const { waitMs = 0, signal } = options as LockWaitOptions;
  if (typeof waitMs !== 'number' || Number.isNaN(waitMs) || waitMs < 0)
    throw new InvalidElectionOptionError(
      'waitMs',
      waitMs,
      'a number of milliseconds ≥ 0 (0: one attempt; Infinity: wait until acquired or signal aborts)',
    );
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw new InvalidElectionOptionError('signal', signal, 'an AbortSignal');
  return { waitMs, signal };
}

/** First pause between polls of a held lock, ms; doubles up to the election's retryIntervalMs. */
export const FIRST_LOCK_POLL_MS = 100;

/**
 * The pause before the next poll: "equal jitter" (half fixed, half random) so waiters on one name do
 * not poll in lockstep. Never past the remaining wait.
 */
export function nextPollDelay(backoffMs: number, remainingMs: number, random: () => number): number {
  return Math.max(0, Math.min(remainingMs, backoffMs / 2 + (random() * backoffMs) / 2));
}
