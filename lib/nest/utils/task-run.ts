import { isObservable } from 'rxjs';
import type { ElectionLogger } from '../../core/logger.js';
import { cleanText, describeFailure } from './failure-text.js';
import { isPromiseLike } from './return-shape.js';

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
 * when the run ended on its own. Shared by @LeaderTask and @LeaderOnly Observables.
 */
export function onTenureEnd(signal: AbortSignal, end: () => void): () => void {
  if (signal.aborted) {
    end();
    return () => undefined;
  }
  signal.addEventListener('abort', end, { once: true });
  return () => signal.removeEventListener('abort', end);
}

/**
 * A task's Observable is its run: subscribed now (inside the leadership context), over when it
 * completes or errors, and unsubscribed when the tenure's signal aborts. Anything else is returned as is.
 */
export function untilTenureEnds(result: unknown, signal: AbortSignal): unknown {
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
    if (!subscription.closed)
      detach = onTenureEnd(signal, () => {
        subscription.unsubscribe();
        resolve();
      });
  });
}
