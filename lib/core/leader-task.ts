import type { Subscription } from 'rxjs';
import { sleep, systemClock, type Clock } from './clock.js';
import type { Leadership, LeaderElector } from './leader-elector.js';
import { consoleLogger, safeLogger, type ElectionLogger } from './logger.js';
import { LeaderElectionSetupError } from './errors.js';

/** What a leader task does when it throws or rejects while its tenure is still current. */
export type LeaderTaskFailurePolicy =
  /**
   * Run it again within the same tenure after a backoff (doubling from restartDelayMs to
   * maxRestartDelayMs).
   */
  | 'restart'
  /**
   * Give up leadership (stepDown) so that another replica can try; this replica stays out for one lease
   * duration.
   */
  | 'step-down';

export interface LeaderTaskOptions {
  /** Name for logs, e.g. "OrdersConsumer.consume". Default "leader task". */
  name?: string;
  /** Default 'restart'. */
  onError?: LeaderTaskFailurePolicy;
  /** First pause before a restart, ms. Default 1000. */
  restartDelayMs?: number;
  /** Longest pause between restarts, ms. Default 30000. */
  maxRestartDelayMs?: number;
  logger?: ElectionLogger;
  clock?: Clock;
}

/** The work of one tenure. Must stop soon after `leadership.signal` aborts. */
export type LeaderTaskFunction = (leadership: Leadership) => unknown;

/** A running leader task registration: see {@link runWhileLeader}. */
export interface LeaderTaskHandle {
  readonly name: string;
  /** True while a run of the task is in progress (it may be finishing after its tenure ended). */
  readonly running: boolean;
  /** How many runs have started so far (restarts included). */
  readonly runs: number;
  /**
   * Resolves true once no run is in progress, or false if one still is after `timeoutMs`. Use it
   * before releasing a lease: releasing while the old tenure's work still runs could let a new
   * leader start beside it.
   */
  whenIdle(timeoutMs?: number): Promise<boolean>;
  /**
   * Ends the registration: no new runs start; the current run is NOT aborted here (its tenure's signal
   * is).
   */
  dispose(): void;
}

const DEFAULTS = { restartDelayMs: 1_000, maxRestartDelayMs: 30_000 } as const;

function positiveMs(option: string, value: number | undefined, fallback: number): number {
  const ms = value ?? fallback;
  if (!Number.isFinite(ms) || ms < 0) {
    throw new LeaderElectionSetupError(
      `Invalid leader task option "${option}": got ${String(value)}; allowed: a number of ms ≥ 0`,
    );
  }
  return ms;
}

/**
 * Runs `task` each time this replica becomes leader of `elector`'s lease, for as long as that tenure
 * lasts (the programmatic form of @LeaderTask; RunTaskWhenElectedLeaderAsync in .NET, OnStartedLeading
 * in client-go).
 *
 * - A run starts in the same event-loop turn as the 'acquired' event, with that tenure (term,
 *   AbortSignal, deadline). If the replica already leads, it starts at once.
 * - The tenure's signal aborts the moment it ends (deadline, loss, step-down, stop); the next tenure
 *   starts a new run with the new term.
 * - Never two runs at once in one replica: a new tenure whose predecessor's run is still finishing
 *   (it ignored its signal) starts only when that run has ended, and only if the tenure is still
 *   current then.
 * - A run that throws or rejects while its tenure is current is logged with lease and term, then
 *   restarted with backoff or the replica steps down (onError). A run that ends after its tenure ended
 *   is expected and logged quietly. A task that returns normally while leading is done for that tenure.
 */
export function runWhileLeader(
  elector: LeaderElector,
  task: LeaderTaskFunction,
  options: LeaderTaskOptions = {},
): LeaderTaskHandle {
  if (typeof task !== 'function')
    throw new LeaderElectionSetupError('runWhileLeader: task must be a function');
  const name = options.name ?? 'leader task';
  const onError = options.onError ?? 'restart';
  if (onError !== 'restart' && onError !== 'step-down') {
    throw new LeaderElectionSetupError(
      `Invalid leader task option "onError": got ${JSON.stringify(onError)}; ` +
        'allowed: "restart" or "step-down"',
    );
  }
  const restartDelayMs = positiveMs('restartDelayMs', options.restartDelayMs, DEFAULTS.restartDelayMs);
  const maxRestartDelayMs = Math.max(
    restartDelayMs,
    positiveMs('maxRestartDelayMs', options.maxRestartDelayMs, DEFAULTS.maxRestartDelayMs),
  );
  const logger = safeLogger(options.logger ?? consoleLogger(`LeaderTask:${elector.leaseName}`));
  const clock = options.clock ?? systemClock;

  let current: Promise<void> | undefined;
  let runs = 0;
  let disposed = false;
  const idleWaiters = new Set<() => void>();

  const describe = (leadership: Leadership): string =>
    `${name} of "${leadership.leaseName}" (term ${leadership.term})`;

  /** Runs the task for one tenure, restarting on failure as the policy says, until the tenure ends. */
  const serveTenure = async (leadership: Leadership): Promise<void> => {
    let failures = 0;
    while (!disposed && leadership.isActive()) {
      runs += 1;
      try {
        await task(leadership);
        if (leadership.isActive())
          logger.debug?.(`${describe(leadership)} finished while leading; it runs again on the next tenure`);
        return;
      } catch (error) {
        if (!leadership.isActive()) {
          logger.debug?.(`${describe(leadership)} ended after its tenure ended: ${messageOf(error)}`);
          return;
        }
        failures += 1;
        if (onError === 'step-down') {
          logger.error(
            `${describe(leadership)} failed: ${messageOf(error)}; stepping down so another replica can lead`,
          );
          // Not awaited: stepDown drains this tenure's work, and this run is part of it.
          void elector.stepDown().catch(() => undefined);
          return;
        }
        const delay = Math.min(maxRestartDelayMs, restartDelayMs * 2 ** Math.min(20, failures - 1));
        logger.error(
          `${describe(leadership)} failed (${failures} in a row): ${messageOf(error)}; ` +
            `restarting in ${delay} ms`,
        );
        await sleep(clock, delay, leadership.signal);
      }
    }
  };

  const start = (leadership: Leadership): void => {
    const previous = current;
    const run = (async () => {
      if (previous) {
        logger.warn(
          `${describe(leadership)} waits for the previous tenure's run, ` +
            'which has not stopped after its signal aborted',
        );
        await previous;
      }
      await serveTenure(leadership);
    })().finally(() => {
      if (current !== run) return;
      current = undefined;
      for (const resolve of idleWaiters) resolve();
      idleWaiters.clear();
    });
    current = run;
  };

  const subscription: Subscription = elector.events$.subscribe((event) => {
    if (event.type !== 'acquired') return;
    const leadership = elector.leadership;
    // The 'acquired' event is delivered synchronously with the promotion, so the tenure is current
    // unless a subscriber before us already ended it.
    if (leadership && leadership.term === event.term) start(leadership);
  });
  const already = elector.leadership;
  if (already) start(already);

  return {
    name,
    get running() {
      return current !== undefined;
    },
    get runs() {
      return runs;
    },
    whenIdle(timeoutMs?: number): Promise<boolean> {
      if (!current) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const bound = new AbortController();
        const done = (): void => {
          bound.abort();
          resolve(true);
        };
        idleWaiters.add(done);
        if (timeoutMs !== undefined) {
          // Also runs when done() aborted the bound: resolve(false) after resolve(true) does nothing.
          void sleep(clock, timeoutMs, bound.signal).then(() => {
            idleWaiters.delete(done);
            resolve(false);
          });
        }
      });
    },
    dispose(): void {
      disposed = true;
      subscription.unsubscribe();
    },
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
