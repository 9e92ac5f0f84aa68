import { LeaderElectionSetupError } from '../../core/errors.js';
import { booleanFromEnv, nearestOption } from '../../core/options/option-input.js';

export const LEADER_ONLY_OPTION_KEYS = ['leaseName', 'allowOverlap', 'runMissedTimeout'] as const;
export const LEADER_TASK_OPTION_KEYS = [
  'leaseName',
  'onError',
  'restartDelayMs',
  'maxRestartDelayMs',
] as const;

/**
 * Refuses a key the decorator does not know, at decoration time: a misspelt `leasename` would
 * otherwise gate on (or run under) the default lease without a word.
 */
export function refuseUnknownDecoratorKeys(
  decorator: string,
  options: object,
  known: readonly string[],
): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const nearest = nearestOption(key.slice(0, 100), known);
    throw new LeaderElectionSetupError(
      `${decorator}: unknown option ${JSON.stringify(key.slice(0, 100))}` +
        (nearest ? ` (did you mean "${nearest}"?)` : '') +
        `; allowed: ${known.join(', ')}.`,
    );
  }
}

/**
 * A boolean decorator option: true, false, or the strings "true"/"false" (as the module options
 * accept them); anything else is refused rather than read by truthiness ("false" is truthy).
 */
export function decoratorBoolean(
  decorator: string,
  option: string,
  value: unknown,
  fallback: boolean,
): boolean {
  const parsed = booleanFromEnv(value ?? fallback);
  if (typeof parsed === 'boolean') return parsed;
  const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 80)) : `a ${typeof value}`;
  throw new LeaderElectionSetupError(
    `${decorator}: option "${option}" got ${shown}; allowed: true or false (the strings "true" and ` +
      `"false" are accepted too).`,
  );
}
