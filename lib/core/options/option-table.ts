import { booleanFromEnv, numberFromEnv } from './option-input.js';

/**
 * One row of an options table: everything the library says about one option key, in one place.
 * Unknown-key refusal (with "did you mean"), the reading of environment strings and the options
 * documentation (test/unit/option-table-docs.spec.ts checks the docs against it) come from the
 * rows; `check`, when given, is the whole validation of a value that needs no other option.
 */
export interface OptionRow {
  /** The type as documented, e.g. "number (ms)", "boolean", "true | false | { intervalMs, staleAfterMs }". */
  type: string;
  /** How a string from the environment is read: "15" as 15, "true"/"false" as booleans, or not at all. */
  env: 'number' | 'boolean' | 'none';
  /** The default, as documented (a value or the rule deriving it). "—" when there is none. */
  default: string;
  /** What is allowed, as error messages say it. */
  range: string;
  /** One line of documentation. */
  doc: string;
  /** null is refused (leave the option out for its default) unless this is false. */
  nullable?: boolean;
  /** Validates (and may normalise) a value read from the environment; throws InvalidElectionOptionError. */
  check?: (value: unknown, option: string) => unknown;
}

export type OptionTable<K extends string = string> = { readonly [key in K]: OptionRow };

export function keysOf<K extends string>(table: OptionTable<K>): K[] {
  return Object.keys(table) as K[];
}

/** A copy of `options` with each string read as its row says (numbers, booleans); other values as given. */
export function readEnvironmentStrings<T extends object>(options: T, table: OptionTable): T {
  const read = { ...options } as Record<string, unknown>;
  for (const [key, value] of Object.entries(read)) {
    const row = table[key];
    if (value === undefined || !row) continue;
    if (row.env === 'number') read[key] = numberFromEnv(value);
    else if (row.env === 'boolean') read[key] = booleanFromEnv(value);
  }
  return read as T;
}

/** Keys whose row refuses null (see OptionRow.nullable). */
export function nullRefusedKeys(table: OptionTable): string[] {
  return Object.entries(table)
    .filter(([, row]) => row.nullable !== true)
    .map(([key]) => key);
}
