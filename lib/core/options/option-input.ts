import { InvalidElectionOptionError, safeString } from '../errors.js';

/**
 * Turning raw option input into values: strings from the environment, unknown keys (with a "did you
 * mean"), and nulls. Shared by the core, the Nest module and the testing kit.
 */

/**
 * Numbers may come straight from the environment (`ConfigService.get()` returns strings): a plain
 * decimal string such as "15", "-1" or "0.25" is read as that number. Anything else — "15s", "",
 * " 15", "0x10", "1e3", "+5", "Infinity" — is left as is and refused by the option's own check, so
 * a typo never becomes a default.
 */
export const NUMERIC_STRING = /^-?\d+(?:\.\d+)?$/;

/** A number, or a well-formed decimal string read as a number; anything else is returned unchanged. */
export function numberFromEnv(value: unknown): unknown {
  return typeof value === 'string' && NUMERIC_STRING.test(value) ? Number(value) : value;
}

/**
 * true/false, or the exact strings "true"/"false" (as read from the environment); anything else unchanged.
 */
export function booleanFromEnv(value: unknown): unknown {
  if (value === 'true') return true;
  if (value === 'false') return false;
  return value;
}

/** Appended to "allowed" texts of numeric options: strings are accepted, but only plain decimals. */
export const NUMERIC_STRING_NOTE =
  ' (a plain decimal string such as "15" is accepted too, e.g. from the environment)';

/** Levenshtein distance, for "did you mean" suggestions. */
function editDistance(a: string, b: string): number {
  const previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = previous[0]!;
    previous[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = previous[j]!;
      previous[j] = Math.min(above + 1, previous[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return previous[b.length]!;
}

/** The known option closest to `key` (case-insensitive edit distance), if one is reasonably close. */
export function nearestOption(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  // A typo, a missing/extra letter or a wrong case: within a third of the name's length.
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

/**
 * Refuses keys that are not options: a typo (`leaseDurationSecond`) would otherwise boot with the
 * default. The error names the key and the nearest valid option.
 */
export function refuseUnknownOptions(options: object, known: readonly string[], what = 'option'): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const nearest = nearestOption(key.slice(0, 100), known);
    const allowed = nearest
      ? `a known ${what} (did you mean "${nearest}"?)`
      : `a known ${what}: ${known.join(', ')}`;
    // The value is described by type only: under a misspelt or guessed key (accountKey) it may be a
    // bare secret that no credential pattern recognises.
    const value = (options as Record<string, unknown>)[key];
    throw new InvalidElectionOptionError(safeString(key), value, allowed, true);
  }
}

/**
 * Refuses `null` for the given options: the `??` defaults would otherwise quietly read null (e.g. an
 * unset value from a config service) as "use the default". Shared with the Nest layer.
 */
export function refuseNullOptions(options: object, keys: readonly string[] = Object.keys(options)): void {
  for (const option of keys) {
    if ((options as Record<string, unknown>)[option] === null) {
      throw new InvalidElectionOptionError(
        option,
        null,
        'a value of the documented type; leave the option out (undefined) to get its default',
      );
    }
  }
}
