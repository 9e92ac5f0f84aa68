/**
 * Election timings and their invariants. Every knob is validated at construction, and every error
 * names the option, the value it got and what is allowed: a bad value must stop the app at boot,
 * not surface as two leaders at 3 a.m.
 *
 * Invariants (D = leaseDurationSeconds × 1000):
 *   - 15 s ≤ D ≤ 60 s, whole seconds (Azure's range; infinite leases are refused: a crashed holder
 *     would keep one forever).
 *   - renewIntervalMs + safetyMarginMs < D: a leader renews and still has margin before it must
 *     consider itself deposed.
 *   - A leader believes it leads only until tSend + D − safetyMarginMs, where tSend is the monotonic
 *     time just before the last successful acquire/renew was sent.
 */
import { InvalidElectionOptionError } from './errors.js';
import type { ElectionPreferenceOptions, ElectionTimingOptions } from './options/election-option-types.js';
import {
  NUMERIC_STRING_NOTE,
  numberFromEnv,
  refuseNullOptions,
  refuseUnknownOptions,
} from './options/option-input.js';
import { validateElectionLeaseName, validateIdentity } from './options/names.js';
import { PREFERENCE_OPTION_TABLE, TIMING_OPTION_TABLE } from './options/election-option-table.js';
import { keysOf, readEnvironmentStrings } from './options/option-table.js';
import { fastFailoverRetryLimit, resolveFastFailover, type ResolvedFastFailover } from './fast-failover.js';

export type { ElectionPreferenceOptions, ElectionTimingOptions } from './options/election-option-types.js';

export interface ResolvedPreferenceOptions {
  priority: number;
  /** True when `priority` was given: the candidate then waits electionDelayMs at start. */
  prioritySet: boolean;
  canLead: boolean;
  presence: false | { intervalMs: number; staleAfterMs: number };
  electionDelayMs: number;
  preferenceWindowMs: number;
  failbackAfterMs?: number;
}

export interface ElectionOptions extends ElectionTimingOptions, ElectionPreferenceOptions {
  /** Name of the lease (one election per name). Letters, digits, '.', '_', '-', '/'; 1–200 chars. */
  leaseName: string;
  /** Identity of this candidate as others see it (e.g. pod name). 1–256 chars. */
  identity: string;
}

export interface ResolvedElectionOptions extends Required<Omit<ElectionTimingOptions, 'fastFailover'>> {
  /** Fast failover's timings, or false (off). */
  fastFailover: ResolvedFastFailover | false;
  leaseName: string;
  identity: string;
  preference: ResolvedPreferenceOptions;
  /** D in ms. */
  leaseDurationMs: number;
}

export const ELECTION_DEFAULTS = {
  leaseDurationSeconds: 15,
  retryIntervalMs: 2000,
  retryJitter: 0.2,
  safetyMarginMs: 1000,
  maxRequestTimeoutMs: 5000,
  maxRenewRetryIntervalMs: 500,
  maxErrorBackoffMs: 30_000,
} as const;

export const MIN_LEASE_SECONDS = 15;
export const MAX_LEASE_SECONDS = 60;
/**
 * Upper bound of maxErrorBackoffMs: a replica with a misconfiguration fixed should notice within the hour.
 */
export const MAX_ERROR_BACKOFF_MS = 3_600_000;

export { InvalidElectionOptionError, type DescribedOptionValue } from './errors.js';
export {
  booleanFromEnv,
  nearestOption,
  numberFromEnv,
  NUMERIC_STRING,
  NUMERIC_STRING_NOTE,
  refuseNullOptions,
  refuseUnknownOptions,
} from './options/option-input.js';
export {
  LEASE_NAME_PATTERN,
  RESERVED_LEASE_PREFIX,
  validateElectionLeaseName,
  validateIdentity,
  validateLeaseName,
} from './options/names.js';

function finiteNumber(option: string, value: unknown, allowed: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new InvalidElectionOptionError(
      option,
      value,
      typeof value === 'string' ? `${allowed}${NUMERIC_STRING_NOTE}` : allowed,
    );
  }
  return value;
}

/** The keys of ElectionPreferenceOptions (also module options), from their table. */
export const PREFERENCE_OPTION_KEYS = keysOf(PREFERENCE_OPTION_TABLE);

/** The keys of ElectionTimingOptions (also module options), from their table. */
export const TIMING_OPTION_KEYS = keysOf(TIMING_OPTION_TABLE);

/** Every key of ElectionOptions: anything else is refused as a typo. */
export const ELECTION_OPTION_KEYS: (keyof ElectionOptions)[] = [
  'leaseName',
  'identity',
  ...TIMING_OPTION_KEYS,
  ...PREFERENCE_OPTION_KEYS,
];

/** Applies defaults, derives dependent timings, and checks every invariant. */
export function resolveElectionOptions(options: ElectionOptions): ResolvedElectionOptions {
  if (options === null || typeof options !== 'object') {
    throw new InvalidElectionOptionError('options', options, 'an object');
  }
  refuseUnknownOptions(options, ELECTION_OPTION_KEYS, 'election option');
  refuseNullOptions(options);
  options = readEnvironmentStrings(options, { ...TIMING_OPTION_TABLE, ...PREFERENCE_OPTION_TABLE });
  const leaseName = validateElectionLeaseName(options.leaseName);
  const identity = validateIdentity(options.identity);

  const leaseSeconds = options.leaseDurationSeconds ?? ELECTION_DEFAULTS.leaseDurationSeconds;
  const leaseAllowed =
    `a whole number of seconds from ${MIN_LEASE_SECONDS} to ${MAX_LEASE_SECONDS} (infinite leases are ` +
    `refused: a crashed leader would hold one forever)`;
  if (
    typeof leaseSeconds !== 'number' ||
    !Number.isInteger(leaseSeconds) ||
    leaseSeconds < MIN_LEASE_SECONDS ||
    leaseSeconds > MAX_LEASE_SECONDS
  ) {
    throw new InvalidElectionOptionError(
      'leaseDurationSeconds',
      leaseSeconds,
      typeof leaseSeconds === 'string' ? `${leaseAllowed}${NUMERIC_STRING_NOTE}` : leaseAllowed,
    );
  }
  const leaseDurationMs = leaseSeconds * 1000;

  const safetyMarginMs = finiteNumber(
    'safetyMarginMs',
    options.safetyMarginMs ?? ELECTION_DEFAULTS.safetyMarginMs,
    `a number of ms ≥ 0 and below the lease duration (${leaseDurationMs} ms)`,
  );
  if (safetyMarginMs < 0 || safetyMarginMs >= leaseDurationMs) {
    throw new InvalidElectionOptionError(
      'safetyMarginMs',
      safetyMarginMs,
      `a number of ms ≥ 0 and below the lease duration (${leaseDurationMs} ms)`,
    );
  }

  const maxRenew = leaseDurationMs - safetyMarginMs;
  const renewAllowed =
    `a number of ms > 0 with renewIntervalMs + safetyMarginMs (${safetyMarginMs}) < ` +
    `leaseDurationSeconds × 1000 (${leaseDurationMs}), i.e. below ${maxRenew}`;
  const renewIntervalMs = finiteNumber(
    'renewIntervalMs',
    options.renewIntervalMs ?? Math.floor(leaseDurationMs / 3),
    renewAllowed,
  );
  if (renewIntervalMs <= 0 || renewIntervalMs + safetyMarginMs >= leaseDurationMs) {
    throw new InvalidElectionOptionError('renewIntervalMs', renewIntervalMs, renewAllowed);
  }

  const fastFailover = resolveFastFailover(options.fastFailover, leaseDurationMs, safetyMarginMs);
  const retryLimit = fastFailover ? fastFailoverRetryLimit(fastFailover) : leaseDurationMs * 4;
  const retryAllowed =
    `a number of ms from 10 to ${retryLimit}` +
    (fastFailover ? ' (fastFailover.livenessMs / 2: followers must notice a silent leader in time)' : '');
  const retryIntervalMs = finiteNumber(
    'retryIntervalMs',
    options.retryIntervalMs ?? Math.min(ELECTION_DEFAULTS.retryIntervalMs, retryLimit),
    retryAllowed,
  );
  if (retryIntervalMs < 10 || retryIntervalMs > retryLimit) {
    throw new InvalidElectionOptionError('retryIntervalMs', retryIntervalMs, retryAllowed);
  }

  const jitterAllowed = 'a fraction ≥ 0 and < 1 (0.2 means ±20 %)';
  const retryJitter = finiteNumber(
    'retryJitter',
    options.retryJitter ?? ELECTION_DEFAULTS.retryJitter,
    jitterAllowed,
  );
  if (retryJitter < 0 || retryJitter >= 1) {
    throw new InvalidElectionOptionError('retryJitter', retryJitter, jitterAllowed);
  }

  const timeoutAllowed = `a number of ms from 1 to ${leaseDurationMs}`;
  const requestTimeoutMs = finiteNumber(
    'requestTimeoutMs',
    options.requestTimeoutMs ?? Math.min(ELECTION_DEFAULTS.maxRequestTimeoutMs, renewIntervalMs),
    timeoutAllowed,
  );
  if (requestTimeoutMs < 1 || requestTimeoutMs > leaseDurationMs) {
    throw new InvalidElectionOptionError('requestTimeoutMs', requestTimeoutMs, timeoutAllowed);
  }

  const renewRetryAllowed = `a number of ms from 1 to renewIntervalMs (${renewIntervalMs})`;
  const renewRetryIntervalMs = finiteNumber(
    'renewRetryIntervalMs',
    options.renewRetryIntervalMs ??
      Math.max(1, Math.min(ELECTION_DEFAULTS.maxRenewRetryIntervalMs, Math.floor(renewIntervalMs / 4))),
    renewRetryAllowed,
  );
  if (renewRetryIntervalMs < 1 || renewRetryIntervalMs > renewIntervalMs) {
    throw new InvalidElectionOptionError('renewRetryIntervalMs', renewRetryIntervalMs, renewRetryAllowed);
  }

  const backoffAllowed =
    `a number of ms from retryIntervalMs (${retryIntervalMs}) to ` + `${MAX_ERROR_BACKOFF_MS} (1 hour)`;
  const maxErrorBackoffMs = finiteNumber(
    'maxErrorBackoffMs',
    options.maxErrorBackoffMs ?? Math.max(ELECTION_DEFAULTS.maxErrorBackoffMs, retryIntervalMs),
    backoffAllowed,
  );
  if (maxErrorBackoffMs < retryIntervalMs || maxErrorBackoffMs > MAX_ERROR_BACKOFF_MS) {
    throw new InvalidElectionOptionError('maxErrorBackoffMs', maxErrorBackoffMs, backoffAllowed);
  }

  const preference = resolvePreference(options, { retryIntervalMs, requestTimeoutMs, leaseDurationMs });

  return {
    leaseName,
    identity,
    preference,
    leaseDurationSeconds: leaseSeconds,
    leaseDurationMs,
    renewIntervalMs,
    retryIntervalMs,
    retryJitter,
    safetyMarginMs,
    requestTimeoutMs,
    renewRetryIntervalMs,
    maxErrorBackoffMs,
    fastFailover,
  };
}

/** Follower poll delay: retryIntervalMs spread uniformly over ±retryJitter. `random` returns [0, 1). */
export function jitteredRetryDelay(
  options: Pick<ResolvedElectionOptions, 'retryIntervalMs' | 'retryJitter'>,
  random: () => number,
): number {
  const spread = options.retryJitter * (2 * random() - 1);
  return options.retryIntervalMs * (1 + spread);
}

const MAX_PRESENCE_INTERVAL_MS = 300_000;
const MAX_PREFERENCE_WAIT_MS = 600_000;

function resolvePreference(
  options: ElectionPreferenceOptions,
  timings: { retryIntervalMs: number; requestTimeoutMs: number; leaseDurationMs: number },
): ResolvedPreferenceOptions {
  const priorityAllowed = 'a finite number, higher is preferred (default 0)' + NUMERIC_STRING_NOTE;
  const priority = finiteNumber('priority', options.priority ?? 0, priorityAllowed);
  if (Math.abs(priority) > 1e9) throw new InvalidElectionOptionError('priority', priority, priorityAllowed);
  const canLead = options.canLead ?? true;
  if (typeof canLead !== 'boolean')
    throw new InvalidElectionOptionError(
      'canLead',
      canLead,
      'true or false (default true; "true"/"false" strings are accepted)',
    );

  let presence: ResolvedPreferenceOptions['presence'] = false;
  const given = options.presence ?? true;
  if (given !== false) {
    if (given !== true && (typeof given !== 'object' || given === null || Array.isArray(given))) {
      throw new InvalidElectionOptionError('presence', given, 'true, false, or { intervalMs, staleAfterMs }');
    }
    const spec = given === true ? {} : given;
    refuseUnknownOptions(spec, ['intervalMs', 'staleAfterMs'], 'presence option');
    const intervalAllowed = `a number of ms from 1000 to ${MAX_PRESENCE_INTERVAL_MS}`;
    const intervalMs = finiteNumber(
      'presence.intervalMs',
      numberFromEnv(spec.intervalMs ?? 10_000),
      intervalAllowed,
    );
    if (intervalMs < 1000 || intervalMs > MAX_PRESENCE_INTERVAL_MS)
      throw new InvalidElectionOptionError('presence.intervalMs', intervalMs, intervalAllowed);
    const staleAllowed =
      `a number of ms above 2 × presence.intervalMs (${2 * intervalMs}) and at most ` +
      `${10 * MAX_PRESENCE_INTERVAL_MS}`;
    const staleAfterMs = finiteNumber(
      'presence.staleAfterMs',
      numberFromEnv(spec.staleAfterMs ?? 3 * intervalMs),
      staleAllowed,
    );
    if (staleAfterMs <= 2 * intervalMs || staleAfterMs > 10 * MAX_PRESENCE_INTERVAL_MS)
      throw new InvalidElectionOptionError('presence.staleAfterMs', staleAfterMs, staleAllowed);
    presence = { intervalMs, staleAfterMs };
  }

  const delayAllowed = `a number of ms from 0 to ${MAX_PREFERENCE_WAIT_MS}`;
  const electionDelayMs = finiteNumber(
    'electionDelayMs',
    options.electionDelayMs ?? (presence ? presence.intervalMs : 0) + timings.retryIntervalMs,
    delayAllowed + NUMERIC_STRING_NOTE,
  );
  if (electionDelayMs < 0 || electionDelayMs > MAX_PREFERENCE_WAIT_MS)
    throw new InvalidElectionOptionError('electionDelayMs', electionDelayMs, delayAllowed);
  const windowAllowed =
    `a number of ms from retryIntervalMs (${timings.retryIntervalMs}) to ` + `${MAX_PREFERENCE_WAIT_MS}`;
  const preferenceWindowMs = finiteNumber(
    'preferenceWindowMs',
    options.preferenceWindowMs ?? 2 * timings.retryIntervalMs + timings.requestTimeoutMs,
    windowAllowed + NUMERIC_STRING_NOTE,
  );
  if (preferenceWindowMs < timings.retryIntervalMs || preferenceWindowMs > MAX_PREFERENCE_WAIT_MS) {
    throw new InvalidElectionOptionError('preferenceWindowMs', preferenceWindowMs, windowAllowed);
  }

  let failbackAfterMs: number | undefined;
  const failback = options.failback ?? false;
  if (failback !== false) {
    if (typeof failback !== 'object' || failback === null)
      throw new InvalidElectionOptionError('failback', failback, 'false (default) or { afterStableMs }');
    refuseUnknownOptions(failback, ['afterStableMs'], 'failback option');
    const afterAllowed = `a number of ms from 0 to ${MAX_PREFERENCE_WAIT_MS}`;
    failbackAfterMs = finiteNumber(
      'failback.afterStableMs',
      numberFromEnv(failback.afterStableMs),
      afterAllowed,
    );
    if (failbackAfterMs < 0 || failbackAfterMs > MAX_PREFERENCE_WAIT_MS)
      throw new InvalidElectionOptionError('failback.afterStableMs', failbackAfterMs, afterAllowed);
    if (!presence)
      throw new InvalidElectionOptionError('failback', 'on', 'failback needs presence (leave presence on)');
  }
  if (options.priority !== undefined && !presence)
    throw new InvalidElectionOptionError(
      'priority',
      priority,
      'a priority needs presence records (leave presence on)',
    );
  return {
    priority,
    prioritySet: options.priority !== undefined,
    canLead,
    presence,
    electionDelayMs,
    preferenceWindowMs,
    ...(failbackAfterMs !== undefined ? { failbackAfterMs } : {}),
  };
}
