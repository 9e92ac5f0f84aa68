import { isObservable, type Subscription } from 'rxjs';
import type { ElectionLogger } from '../../core/logger.js';
import { cleanText, describeFailure } from './failure-text.js';
import { LeaderElectionSetupError } from '../../core/errors.js';
import { asyncIterableRefused } from '../leader-election.messages.js';
import { isAsyncIterable, isPromiseLike } from './return-shape.js';

/**
 * The core's runWhileLeader logs a failed run as one line (message only): this remembers the error
 * the run threw and adds its stack and cause chain to that line, as Nest's Logger.error(message,
 * stack) shows them. Messages are redacted like the stack.
 */
export class FailureLog {
  private last: unknown;
  private failed = false;
  readonly logger: ElectionLogger;

  constructor(target: ElectionLogger) {
    this.logger = {
      debug: (message) => target.debug?.(cleanText(message)),
      log: (message) => target.log(cleanText(message)),
      warn: (message) => target.warn(cleanText(message)),
      error: (message, stack) => {
        const remembered = this.failed ? describeFailure(this.last).stack : undefined;
        this.failed = false;
        this.last = undefined;
        target.error(cleanText(message), stack ?? remembered);
      },
    };
  }

  watch(run: () => unknown): unknown {
    this.failed = false;
    this.last = undefined;
    const remember = (error: unknown): never => {
      this.failed = true;
      this.last = error;
      throw error;
    };
    try {
      const result = run();
      return isPromiseLike(result) ? Promise.resolve(result).catch(remember) : result;
    } catch (error) {
      return remember(error);
    }
  }
}

/**
 * Calls `end` once when the tenure's signal aborts (now, if it already has); returns the detach to call
 * when the run ended on its own: it removes the listener, or runs the undo `end` returned (a deferred
 * cut's), also when `end` ran at once. Shared by @LeaderTask and @LeaderOnly Observables.
 */
export function onTenureEnd(signal: AbortSignal, end: () => (() => void) | void): () => void {
  let undo: (() => void) | void;
  const onAbort = (): void => {
    undo = end();
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  return () => {
    signal.removeEventListener('abort', onAbort);
    undo?.();
  };
}

/**
 * True when the tenure ended by stop, step-down or hand-over: its lease is released only after the
 * drain, so a stream may finish within it (and is cut when the drain gives up). A loss or a missed
 * deadline ends it at once: another replica may already lead.
 */
export function drainsBeforeRelease(signal: AbortSignal): boolean {
  const kind = (signal.reason as { kind?: string } | undefined)?.kind;
  return kind === 'stopped' || kind === 'step-down';
}

/** Unsubscribes at tenure end; a teardown that throws is logged, never thrown into the abort listener. */
export function unsubscribeQuietly(subscription: Subscription, logger: ElectionLogger, name: string): void {
  try {
    subscription.unsubscribe();
  } catch (error) {
    const failure = describeFailure(error);
    logger.error(
      `${name}: its stream's teardown failed at tenure end (the run ended): ${failure.message}`,
      failure.stack,
    );
  }
}

/**
 * A task's Observable is its run: subscribed now (inside the leadership context), over when it
 * completes or errors, and unsubscribed when the tenure's signal aborts (at stop or step-down, when
 * the drain gives up: `deferCut`). Anything else is returned as is.
 */
export function untilTenureEnds(
  result: unknown,
  signal: AbortSignal,
  end: { logger: ElectionLogger; name: string; deferCut?: (cut: () => void) => () => void },
): unknown {
  // An iteration could not end with the tenure: a failure of the run (logged, onError), never silent.
  if (isAsyncIterable(result))
    throw new LeaderElectionSetupError(asyncIterableRefused(end.name, 'runWhileLeader()'));
  if (!isObservable(result)) return result;
  return new Promise<void>((resolve, reject) => {
    let detach = (): void => undefined;
    const subscription = result.subscribe({
      error: (error: unknown) => {
        detach();
        reject(error as Error);
      },
      complete: () => {
        detach();
        resolve();
      },
    });
    const cut = (): void => {
      unsubscribeQuietly(subscription, end.logger, end.name);
      resolve();
    };
    if (!subscription.closed)
      detach = onTenureEnd(signal, () => {
        if (end.deferCut && drainsBeforeRelease(signal)) return end.deferCut(cut);
        cut();
      });
  });
}
