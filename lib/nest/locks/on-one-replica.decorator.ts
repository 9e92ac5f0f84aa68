import { Logger } from '@nestjs/common';
import { InvalidElectionOptionError, LeaderElectionSetupError } from '../../core/errors.js';
import { LockManagerStoppedError } from '../../locks/lock-errors.js';
import { validateJobName } from '../../locks/lock-names.js';
import { intervalPeriodOf } from './lock-decorators.metadata.js';
import { checkOptionKeys, lockedMethod } from './locked-method.js';

export interface OnOneReplicaOptions {
  /** Name of the job in lock records, logs and metrics. Default "<Class>.<method>". */
  job?: string;
  /**
   * The schedule's period, ms: a tick is keyed by the start of the period it fires in. Taken from
   * @Interval(ms) when there is one; required with @Cron (e.g. 60000 for a job every minute).
   */
  periodMs?: number;
  /**
   * Each replica waits a random 0–spreadMs before trying a tick, so ticks spread over the replicas
   * instead of going to the one whose timer fires first in each period. Default min(1000, period / 2);
   * 0 turns it off (the fastest replica then takes every tick).
   */
  spreadMs?: number;
}

const OPTION_KEYS = ['job', 'periodMs', 'spreadMs'];
const warnedUnmanaged = new WeakSet<object>();

/**
 * Per-run mode for a scheduled method (@Interval / @Cron, either decorator order): every replica keeps
 * its schedule, and each tick runs on exactly ONE of them, whichever takes the tick's record first, so
 * the work spreads over the replicas instead of piling onto a leader. A tick is keyed by the job and
 * its scheduled time (the start of its period); its record is taken once and never released, so a
 * replica whose clock is off cannot run the same tick again (docs/locks.md, "Clock skew").
 * Skipped ticks resolve undefined. Inside the run, currentLock() gives `{ name, term, signal }`.
 *
 *   @Interval(1000)
 *   @OnOneReplica()
 *   async pollQueue() { … }
 */
export function OnOneReplica(options: OnOneReplicaOptions = {}): MethodDecorator {
  checkOptionKeys('@OnOneReplica', options, OPTION_KEYS);
  if (options.job !== undefined) validateJobName(options.job, '@OnOneReplica job');
  if (options.periodMs !== undefined) validatePeriod(options.periodMs);
  if (
    options.spreadMs !== undefined &&
    (typeof options.spreadMs !== 'number' || !Number.isFinite(options.spreadMs) || options.spreadMs < 0)
  )
    throw new InvalidElectionOptionError('@OnOneReplica spreadMs', options.spreadMs, 'milliseconds ≥ 0');

  return lockedMethod('@OnOneReplica', (handlerName) => {
    const job = options.job ?? validateJobName(handlerName, '@OnOneReplica job (default: Class.method)');
    return {
      record: {
        kind: 'one-replica',
        handlerName,
        job,
        ...(options.periodMs === undefined ? {} : { periodMs: options.periodMs }),
      },
      unlinked: (instance) => {
        if (instance && typeof instance === 'object' && !warnedUnmanaged.has(instance)) {
          warnedUnmanaged.add(instance);
          new Logger('LeaderElection').warn(
            `@OnOneReplica on ${handlerName}: the instance is not managed by a Nest app with ` +
              `LeaderElectionModule; its ticks are skipped`,
          );
        }
        return undefined;
      },
      run: async (service, call, _args, method) => {
        const periodMs = periodOf(options, method, handlerName);
        const tickAt = Math.floor(Date.now() / periodMs) * periodMs;
        const spreadMs = options.spreadMs ?? Math.min(1000, periodMs / 2);
        let called = false;
        try {
          const result = await service.runOnce(
            job,
            tickAt,
            () => {
              called = true;
              return call();
            },
            { spreadMs },
          );
          return result.ran ? result.value : undefined;
        } catch (error) {
          // A tick between the locks' stop and the scheduler's at shutdown is skipped, not an error;
          // the same error thrown by the method itself (it ran) is the method's failure.
          if (error instanceof LockManagerStoppedError && !called) return undefined;
          throw error;
        }
      },
    };
  });
}

/** The period a tick is keyed by: the option, else @Interval's; a @Cron without periodMs is refused. */
export function periodOf(options: { periodMs?: number }, method: object, handlerName: string): number {
  const period = options.periodMs ?? intervalPeriodOf(method);
  if (period === undefined)
    throw new LeaderElectionSetupError(
      `@OnOneReplica on ${handlerName} needs periodMs (the schedule's period, e.g. 60000 for a @Cron every ` +
        `minute): a tick is keyed by the start of its period; only @Interval's period is read by itself`,
    );
  return validatePeriod(period, '@Interval period');
}

function validatePeriod(value: unknown, option = '@OnOneReplica periodMs'): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
    throw new InvalidElectionOptionError(option, value, 'a whole number of milliseconds ≥ 1');
  return value;
}
