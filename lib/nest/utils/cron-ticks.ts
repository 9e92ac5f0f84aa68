import { createRequire } from 'node:module';
import { LeaderElectionSetupError } from '../../core/errors.js';

/** @nestjs/schedule's @Cron metadata as far as tick instants depend on it. */
export interface CronSpec {
  cronTime: unknown;
  timeZone?: string;
  utcOffset?: string | number;
}

/** The scheduled instants of one @Cron job. */
export interface CronTicks {
  /** The latest scheduled instant at or before `now` (epoch ms, whole seconds), if one is within a year. */
  latestAtOrBefore(now: number): number | undefined;
}

interface LuxonLike {
  toMillis(): number;
}

interface CronTimeLike {
  timeZone?: string;
  utcOffset?: number;
  getNextDateFrom(start: Date, timeZone?: string): LuxonLike;
}

type CronTimeClass = new (
  source: string,
  timeZone?: string | null,
  utcOffset?: string | number | null,
) => CronTimeLike;

/** Furthest back a tick is looked for: far past any catch-up deadline worth having. */
const MAX_LOOKBACK_MS = 400 * 24 * 3600_000;

let cronTimeClass: CronTimeClass | undefined;

/**
 * The `cron` package @nestjs/schedule fires its jobs with, resolved from @nestjs/schedule's own
 * location (it is schedule's dependency, not ours), so tick instants follow exactly its parsing,
 * time zones and offsets.
 */
export function loadCronTime(): CronTimeClass {
  if (cronTimeClass) return cronTimeClass;
  const here = createRequire(import.meta.url);
  let loaded: { CronTime?: CronTimeClass } | undefined;
  try {
    loaded = createRequire(here.resolve('@nestjs/schedule/package.json'))('cron') as typeof loaded;
  } catch {
    try {
      loaded = here('cron') as typeof loaded;
    } catch {
      loaded = undefined;
    }
  }
  if (typeof loaded?.CronTime !== 'function')
    throw new LeaderElectionSetupError(
      '@LeaderOnly catchUp needs the "cron" package that @nestjs/schedule depends on, and it could not be ' +
        'loaded: install @nestjs/schedule (with its dependencies)',
    );
  return (cronTimeClass = loaded.CronTime);
}

/** Tick instants of a @Cron job, computed as cron computes them (whole seconds, in the job's zone). */
export function cronTicksOf(spec: CronSpec, handlerName: string): CronTicks {
  if (typeof spec.cronTime !== 'string')
    throw new LeaderElectionSetupError(
      `@LeaderOnly catchUp on ${handlerName}: the @Cron schedule must be a cron expression string ` +
        '(a Date fires once and has no ticks to catch up); remove catchUp or use an expression',
    );
  const CronTime = loadCronTime();
  let time: CronTimeLike;
  try {
    time = new CronTime(spec.cronTime, spec.timeZone ?? null, spec.utcOffset ?? null);
  } catch (error) {
    throw new LeaderElectionSetupError(
      `@LeaderOnly catchUp on ${handlerName}: @Cron schedule ` +
        `${JSON.stringify(spec.cronTime.slice(0, 100))} ` +
        `is not one cron can read (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  const zone = time.timeZone ?? offsetZone(time.utcOffset ?? 0);
  const after = (ms: number): number => time.getNextDateFrom(new Date(ms), zone).toMillis();
  return {
    latestAtOrBefore(now: number): number | undefined {
      // Widen the window until it holds a tick, then walk forward to the last one not after now.
      for (let lookback = 1_000; lookback <= MAX_LOOKBACK_MS; lookback *= 2) {
        let tick = after(now - lookback);
        if (tick > now) continue;
        for (let next = after(tick); next <= now; next = after(tick)) tick = next;
        return tick;
      }
      return undefined;
    },
  };
}

/** The zone name cron uses for a utcOffset in minutes (CronTime.sendAt). */
function offsetZone(offset: number): string {
  const sign = offset < 0 ? '-' : '+';
  const hours = Math.trunc(offset / 60);
  const minutes = Math.abs(offset - hours * 60);
  return `UTC${sign}${String(Math.abs(hours)).padStart(2, '0')}:${String(minutes).padStart(2, '0')}`;
}
