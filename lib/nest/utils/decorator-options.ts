import { LeaderElectionSetupError } from '../../core/errors.js';
import { booleanFromEnv, nearestOption } from '../../core/options/option-input.js';

export const LEADER_ONLY_OPTION_KEYS = ['leaseName', 'allowOverlap', 'runMissedTimeout', 'catchUp'] as const;
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

/** @LeaderOnly's catchUp: { deadlineMs } with a whole number of milliseconds ≥ 1, nothing else. */
export function decoratorCatchUp(value: unknown): { deadlineMs: number } | undefined {
  if (value === undefined) return undefined;
  const allowed =
    '{ deadlineMs } with deadlineMs a whole number of milliseconds ≥ 1 (e.g. { deadlineMs: 60_000 })';
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new LeaderElectionSetupError(
      `@LeaderOnly: option "catchUp" got ${describeValue(value)}; allowed: ${allowed}.`,
    );
  refuseUnknownDecoratorKeys('@LeaderOnly catchUp', value, ['deadlineMs']);
  const deadlineMs = (value as { deadlineMs?: unknown }).deadlineMs;
  if (typeof deadlineMs !== 'number' || !Number.isSafeInteger(deadlineMs) || deadlineMs < 1)
    throw new LeaderElectionSetupError(
      `@LeaderOnly: option "catchUp.deadlineMs" got ${describeValue(deadlineMs)}; allowed: ${allowed}.`,
    );
  return { deadlineMs };
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 80));
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  return `a ${Array.isArray(value) ? 'array' : typeof value}`;
}
