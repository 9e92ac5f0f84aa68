import { InvalidElectionOptionError } from '../errors.js';

export const LEASE_NAME_PATTERN = /^[A-Za-z0-9_-](?:[A-Za-z0-9._/-]{0,198}[A-Za-z0-9_-])?$/;

/**
 * Lease names that a plain JavaScript object cannot hold as an own key by assignment: a lease
 * called "__proto__" would vanish from health maps (and from anything that merges them).
 */
const RESERVED_LEASE_NAMES = new Set(['__proto__']);

/** Lease names under this prefix hold lock records (lib/locks): an election may not use them. */
export const RESERVED_LEASE_PREFIX = 'locks/';

/** An election's lease name: a valid lease name outside the lock records' prefix. */
export function validateElectionLeaseName(value: unknown, option = 'leaseName'): string {
  const name = validateLeaseName(value, option);
  if (name.startsWith(RESERVED_LEASE_PREFIX))
    throw new InvalidElectionOptionError(
      option,
      value,
      `a lease name not starting with "${RESERVED_LEASE_PREFIX}" (reserved for lock records)`,
    );
  return name;
}

/** Validates lease and identity strings. Exported so stores and the Nest layer use the same rule. */
export function validateLeaseName(value: unknown, option = 'leaseName'): string {
  const allowed =
    "1–200 characters: letters, digits, '.', '_', '-', '/'; not starting or ending with '.' or '/', no " +
    "empty, '.' or '..' path segment; not \"__proto__\"";
  // '.' and '..' segments would be normalised away in the blob URL ("x/../leader" is the blob "leader").
  if (
    typeof value !== 'string' ||
    !LEASE_NAME_PATTERN.test(value) ||
    RESERVED_LEASE_NAMES.has(value) ||
    value.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')
  ) {
    throw new InvalidElectionOptionError(option, value, allowed);
  }
  return value;
}

/**
 * C0 and C1 control characters (line breaks, ESC of ANSI sequences, NUL, DEL…) and the Unicode
 * bidirectional overrides/isolates: an identity is written to logs, health output and other
 * replicas' logs, where these could forge lines or reorder text.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE_IDENTITY_CHARS = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

/**
 * True when the string has no lone surrogate (String.prototype.isWellFormed, spelled out for ES2023 typings).
 */
function isWellFormed(value: string): boolean {
  return (value as string & { isWellFormed(): boolean }).isWellFormed();
}

export function validateIdentity(value: unknown, option = 'identity'): string {
  if (typeof value !== 'string' || value.trim().length === 0 || value.length > 256) {
    throw new InvalidElectionOptionError(option, value, IDENTITY_ALLOWED);
  }
  if (UNSAFE_IDENTITY_CHARS.test(value)) {
    throw new InvalidElectionOptionError(
      option,
      value,
      `${IDENTITY_ALLOWED}; it contains a control or bidirectional-override character`,
    );
  }
  if (!isWellFormed(value)) {
    // e.g. podName.slice(0, 256) cutting an emoji in half: it could never be recorded as the holder.
    throw new InvalidElectionOptionError(
      option,
      value,
      `${IDENTITY_ALLOWED}; it contains a lone UTF-16 surrogate (half of an emoji or other character ` +
        `cut by slicing?)`,
    );
  }
  return value;
}

const IDENTITY_ALLOWED =
  'a non-empty string of at most 256 UTF-16 code units, well-formed (no lone surrogate), without ' +
  'line breaks or other control characters';
