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
export interface ElectionTimingOptions {
  /** Lease duration D in whole seconds, 15–60. Default 15. Crash takeover takes up to D + retryInterval. */
  leaseDurationSeconds?: number;
  /** How often the leader renews, ms. Default D/3. Must satisfy renewIntervalMs + safetyMarginMs < D. */
  renewIntervalMs?: number;
  /** How often a follower polls the lease, ms. Default 2000. Graceful takeover takes about this long. */
  retryIntervalMs?: number;
  /** Random spread applied to retryIntervalMs, as a fraction in [0, 1). Default 0.2 (±20 %). */
  retryJitter?: number;
  /** Time subtracted from the lease end to absorb clock-rate drift between us and the server, ms. Default 1000. */
  safetyMarginMs?: number;
  /** Upper bound for one store request, ms. Default min(5000, renewIntervalMs). Renewals are further bounded by the time left. */
  requestTimeoutMs?: number;
  /** Pause between retries of a failed renewal, ms. Default min(500, renewIntervalMs / 4). */
  renewRetryIntervalMs?: number;
  /** Longest pause between follower polls after permanent errors (auth, names), ms. Default 30000. */
  maxErrorBackoffMs?: number;
}

export interface ElectionOptions extends ElectionTimingOptions {
  /** Name of the lease (one election per name). Letters, digits, '.', '_', '-', '/'; 1–200 chars. */
  leaseName: string;
  /** Identity of this candidate as others see it (e.g. pod name). 1–256 chars. */
  identity: string;
}

export interface ResolvedElectionOptions extends Required<ElectionTimingOptions> {
  leaseName: string;
  identity: string;
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
/** Upper bound of maxErrorBackoffMs: a replica with a misconfiguration fixed should notice within the hour. */
export const MAX_ERROR_BACKOFF_MS = 3_600_000;
export const LEASE_NAME_PATTERN = /^[A-Za-z0-9_-](?:[A-Za-z0-9._/-]{0,198}[A-Za-z0-9_-])?$/;

export class InvalidElectionOptionError extends Error {
  constructor(
    readonly option: string,
    readonly value: unknown,
    readonly allowed: string,
  ) {
    super(`Invalid leader election option "${option}": got ${describe(value)}; allowed: ${allowed}.`);
    this.name = 'InvalidElectionOptionError';
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  return typeof value;
}

function finiteNumber(option: string, value: unknown, allowed: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new InvalidElectionOptionError(option, value, allowed);
  }
  return value;
}

/**
 * Refuses `null` for the given options: the `??` defaults would otherwise quietly read null (e.g. an
 * unset value from a config service) as "use the default". Shared with the Nest layer.
 */
export function refuseNullOptions(options: object, keys: readonly string[] = Object.keys(options)): void {
  for (const option of keys) {
    if ((options as Record<string, unknown>)[option] === null) {
      throw new InvalidElectionOptionError(option, null, 'a value of the documented type; leave the option out (undefined) to get its default');
    }
  }
}

/** Validates lease and identity strings. Exported so stores and the Nest layer use the same rule. */
export function validateLeaseName(value: unknown, option = 'leaseName'): string {
  const allowed = "1–200 characters: letters, digits, '.', '_', '-', '/'; not starting or ending with '.' or '/', no empty, '.' or '..' path segment";
  // '.' and '..' segments would be normalised away in the blob URL ("x/../leader" is the blob "leader").
  if (typeof value !== 'string' || !LEASE_NAME_PATTERN.test(value) || value.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')) {
    throw new InvalidElectionOptionError(option, value, allowed);
  }
  return value;
}

export function validateIdentity(value: unknown, option = 'identity'): string {
  if (typeof value !== 'string' || value.trim().length === 0 || value.length > 256 || /[\r\n]/.test(value)) {
    throw new InvalidElectionOptionError(option, value, 'a non-empty string of at most 256 characters without line breaks');
  }
  return value;
}

/** Applies defaults, derives dependent timings, and checks every invariant. */
export function resolveElectionOptions(options: ElectionOptions): ResolvedElectionOptions {
  if (options === null || typeof options !== 'object') {
    throw new InvalidElectionOptionError('options', options, 'an object');
  }
  refuseNullOptions(options);
  const leaseName = validateLeaseName(options.leaseName);
  const identity = validateIdentity(options.identity);

  const leaseSeconds = options.leaseDurationSeconds ?? ELECTION_DEFAULTS.leaseDurationSeconds;
  const leaseAllowed = `a whole number of seconds from ${MIN_LEASE_SECONDS} to ${MAX_LEASE_SECONDS} (infinite leases are refused: a crashed leader would hold one forever)`;
  if (
    typeof leaseSeconds !== 'number' ||
    !Number.isInteger(leaseSeconds) ||
    leaseSeconds < MIN_LEASE_SECONDS ||
    leaseSeconds > MAX_LEASE_SECONDS
  ) {
    throw new InvalidElectionOptionError('leaseDurationSeconds', leaseSeconds, leaseAllowed);
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
  const renewAllowed = `a number of ms > 0 with renewIntervalMs + safetyMarginMs (${safetyMarginMs}) < leaseDurationSeconds × 1000 (${leaseDurationMs}), i.e. below ${maxRenew}`;
  const renewIntervalMs = finiteNumber(
    'renewIntervalMs',
    options.renewIntervalMs ?? Math.floor(leaseDurationMs / 3),
    renewAllowed,
  );
  if (renewIntervalMs <= 0 || renewIntervalMs + safetyMarginMs >= leaseDurationMs) {
    throw new InvalidElectionOptionError('renewIntervalMs', renewIntervalMs, renewAllowed);
  }

  const retryAllowed = `a number of ms from 10 to ${leaseDurationMs * 4}`;
  const retryIntervalMs = finiteNumber(
    'retryIntervalMs',
    options.retryIntervalMs ?? ELECTION_DEFAULTS.retryIntervalMs,
    retryAllowed,
  );
  if (retryIntervalMs < 10 || retryIntervalMs > leaseDurationMs * 4) {
    throw new InvalidElectionOptionError('retryIntervalMs', retryIntervalMs, retryAllowed);
  }

  const jitterAllowed = 'a fraction ≥ 0 and < 1 (0.2 means ±20 %)';
  const retryJitter = finiteNumber('retryJitter', options.retryJitter ?? ELECTION_DEFAULTS.retryJitter, jitterAllowed);
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

  const backoffAllowed = `a number of ms from retryIntervalMs (${retryIntervalMs}) to ${MAX_ERROR_BACKOFF_MS} (1 hour)`;
  const maxErrorBackoffMs = finiteNumber(
    'maxErrorBackoffMs',
    options.maxErrorBackoffMs ?? Math.max(ELECTION_DEFAULTS.maxErrorBackoffMs, retryIntervalMs),
    backoffAllowed,
  );
  if (maxErrorBackoffMs < retryIntervalMs || maxErrorBackoffMs > MAX_ERROR_BACKOFF_MS) {
    throw new InvalidElectionOptionError('maxErrorBackoffMs', maxErrorBackoffMs, backoffAllowed);
  }

  return {
    leaseName,
    identity,
    leaseDurationSeconds: leaseSeconds,
    leaseDurationMs,
    renewIntervalMs,
    retryIntervalMs,
    retryJitter,
    safetyMarginMs,
    requestTimeoutMs,
    renewRetryIntervalMs,
    maxErrorBackoffMs,
  };
}

/** Follower poll delay: retryIntervalMs spread uniformly over ±retryJitter. `random` returns [0, 1). */
export function jitteredRetryDelay(options: Pick<ResolvedElectionOptions, 'retryIntervalMs' | 'retryJitter'>, random: () => number): number {
  const spread = options.retryJitter * (2 * random() - 1);
  return options.retryIntervalMs * (1 + spread);
}
