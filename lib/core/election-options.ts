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
import { InvalidElectionOptionError, safeString } from './errors.js';

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

/**
 * Presence and preferred leaders (see docs/GUARANTEES.md, "Presence and preferred leaders"). Every
 * candidate announces itself in a presence record of its own; priorities decide who takes a FREE
 * lease, never who keeps a held one (unless failback is on), and never cost liveness: a free lease
 * is taken by the next candidates after preferenceWindowMs per better priority tier present.
 */
export interface ElectionPreferenceOptions {
  /**
   * This candidate's priority: HIGHER is preferred (as in MongoDB, VRRP/keepalived; EShopworld's
   * WorkerProcess uses the opposite, 0 = highest). Default 0. Setting it on a candidate makes it
   * wait electionDelayMs after start before taking a free lease, so better candidates can announce.
   */
  priority?: number;
  /** False for observers that take part (presence, state) but never lead. Default true. */
  canLead?: boolean;
  /**
   * Presence records: true (default) or { intervalMs, staleAfterMs }. Each candidate refreshes its
   * record every intervalMs (default 10000: one metadata write); a record not refreshed for
   * staleAfterMs (default 3 × intervalMs) counts as gone, and the leader deletes it. false turns
   * presence off (no extra requests; priorities and members() then unavailable). Used only with a
   * store that supports presence (the memory and Azure blob stores do).
   */
  presence?: boolean | { intervalMs?: number; staleAfterMs?: number };
  /** With a priority set: how long a newly started candidate waits before taking a free lease, ms. Default presence interval + retryIntervalMs. */
  electionDelayMs?: number;
  /**
   * How long a free lease is left to better candidates, per better priority tier present, ms: a
   * candidate with k better tiers live takes a free lease after k × this. Default 2 × retryIntervalMs + requestTimeoutMs.
   */
  preferenceWindowMs?: number;
  /**
   * Failback: a leader that sees a better live candidate present for afterStableMs hands over to it
   * (finishes its work, releases with the candidate named as successor). Off by default (false).
   */
  failback?: false | { afterStableMs: number };
}

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

export interface ResolvedElectionOptions extends Required<ElectionTimingOptions> {
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
/** Upper bound of maxErrorBackoffMs: a replica with a misconfiguration fixed should notice within the hour. */
export const MAX_ERROR_BACKOFF_MS = 3_600_000;
export const LEASE_NAME_PATTERN = /^[A-Za-z0-9_-](?:[A-Za-z0-9._/-]{0,198}[A-Za-z0-9_-])?$/;

export { InvalidElectionOptionError, type DescribedOptionValue } from './errors.js';

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

/** true/false, or the exact strings "true"/"false" (as read from the environment); anything else unchanged. */
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
    throw new InvalidElectionOptionError(safeString(key), (options as Record<string, unknown>)[key], allowed);
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

/**
 * Lease names that a plain JavaScript object cannot hold as an own key by assignment: a lease
 * called "__proto__" would vanish from health maps (and from anything that merges them).
 */
const RESERVED_LEASE_NAMES = new Set(['__proto__']);

/** Validates lease and identity strings. Exported so stores and the Nest layer use the same rule. */
export function validateLeaseName(value: unknown, option = 'leaseName'): string {
  const allowed =
    "1–200 characters: letters, digits, '.', '_', '-', '/'; not starting or ending with '.' or '/', no empty, '.' or '..' path segment; not \"__proto__\"";
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

/** True when the string has no lone surrogate (String.prototype.isWellFormed, spelled out for ES2023 typings). */
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
      `${IDENTITY_ALLOWED}; it contains a lone UTF-16 surrogate (half of an emoji or other character cut by slicing?)`,
    );
  }
  return value;
}

const IDENTITY_ALLOWED =
  'a non-empty string of at most 256 UTF-16 code units, well-formed (no lone surrogate), without line breaks or other control characters';

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

/** The keys of ElectionPreferenceOptions (also module options). */
export const PREFERENCE_OPTION_KEYS = [
  'priority',
  'canLead',
  'presence',
  'electionDelayMs',
  'preferenceWindowMs',
  'failback',
] as const satisfies ReadonlyArray<keyof ElectionPreferenceOptions>;

/** The keys of ElectionTimingOptions (also module options). */
export const TIMING_OPTION_KEYS = [
  'leaseDurationSeconds',
  'renewIntervalMs',
  'retryIntervalMs',
  'retryJitter',
  'safetyMarginMs',
  'requestTimeoutMs',
  'renewRetryIntervalMs',
  'maxErrorBackoffMs',
] as const satisfies ReadonlyArray<keyof ElectionTimingOptions>;

/** Every key of ElectionOptions: anything else is refused as a typo. */
export const ELECTION_OPTION_KEYS = [
  'leaseName',
  'identity',
  ...TIMING_OPTION_KEYS,
  ...PREFERENCE_OPTION_KEYS,
] as const satisfies ReadonlyArray<keyof ElectionOptions>;

/** Applies defaults, derives dependent timings, and checks every invariant. */
export function resolveElectionOptions(options: ElectionOptions): ResolvedElectionOptions {
  if (options === null || typeof options !== 'object') {
    throw new InvalidElectionOptionError('options', options, 'an object');
  }
  refuseUnknownOptions(options, ELECTION_OPTION_KEYS, 'election option');
  refuseNullOptions(options);
  options = { ...options };
  for (const key of ELECTION_OPTION_KEYS) {
    if (key === 'leaseName' || key === 'identity' || options[key] === undefined) continue;
    (options as unknown as Record<string, unknown>)[key] =
      key === 'canLead' || key === 'presence' || key === 'failback'
        ? booleanFromEnv(options[key])
        : numberFromEnv(options[key]);
  }
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

  const backoffAllowed = `a number of ms from retryIntervalMs (${retryIntervalMs}) to ${MAX_ERROR_BACKOFF_MS} (1 hour)`;
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
    const staleAllowed = `a number of ms above 2 × presence.intervalMs (${2 * intervalMs}) and at most ${10 * MAX_PRESENCE_INTERVAL_MS}`;
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
  const windowAllowed = `a number of ms from retryIntervalMs (${timings.retryIntervalMs}) to ${MAX_PREFERENCE_WAIT_MS}`;
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
