import { InvalidElectionOptionError } from '../core/errors.js';
import { RESERVED_LEASE_PREFIX, validateLeaseName } from '../core/options/names.js';

/**
 * Every lock record lives under this prefix, so lock blobs never share a name with an election's lease
 * blob: elections refuse lease names under it (see RESERVED_LEASE_PREFIX in core/options/names.ts).
 */
export const LOCK_PREFIX = RESERVED_LEASE_PREFIX;
/** Records of `withLock` / `@WithLock` locks: `locks/lock/<name>`. */
export const LOCK_RECORD_PREFIX = `${LOCK_PREFIX}lock/`;
/** Records of per-run ticks: `locks/run/<job>/<tick time, epoch ms>`. */
export const RUN_RECORD_PREFIX = `${LOCK_PREFIX}run/`;

const MAX_LEASE_NAME_LENGTH = 200;
/** Digits of an epoch-ms tick time (13 until the year 2286) plus the '/' before it. */
const TICK_SUFFIX_LENGTH = 14;

/** A lock name, validated like a lease name, and the lease (record) name it is stored under. */
export function lockLeaseName(name: unknown, option = 'lock name'): string {
  const room = MAX_LEASE_NAME_LENGTH - LOCK_RECORD_PREFIX.length;
  return `${LOCK_RECORD_PREFIX}${validateWithin(name, option, room)}`;
}

/** A per-run job name, validated like a lease name (room left for the tick time). */
export function validateJobName(name: unknown, option = 'job name'): string {
  return validateWithin(name, option, MAX_LEASE_NAME_LENGTH - RUN_RECORD_PREFIX.length - TICK_SUFFIX_LENGTH);
}

/** The record of one tick of a per-run job. */
export function runLeaseName(job: string, tickAt: number): string {
  return `${RUN_RECORD_PREFIX}${validateJobName(job)}/${tickAt}`;
}

function validateWithin(name: unknown, option: string, maxLength: number): string {
  validateLeaseName(name, option);
  if ((name as string).length > maxLength) {
    throw new InvalidElectionOptionError(
      option,
      name,
      `at most ${maxLength} characters (the record name adds a prefix), letters, digits, '.', '_', '-', '/'`,
    );
  }
  return name as string;
}
