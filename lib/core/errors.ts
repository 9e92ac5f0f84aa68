import type { LeadershipEndReason } from './leadership-events.js';

/**
 * The errors this library throws, as @nestjs/locks does it (lib/errors/): one base class to catch
 * them all (`error instanceof LeaderElectionError`), and a subclass per case a caller may handle.
 * Where a transport needs its own error (HTTP 503, an RPC or WebSocket exception), the gate throws
 * that instead: NotLeaderException is Nest's ServiceUnavailableException.
 */
export class LeaderElectionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * The module, a decorator or a provider is set up in a way that cannot work (no lease storage given,
 * two storages given, the module registered twice, leader work on a request-scoped provider, a
 * decorator on something that is not a method, metrics required but unavailable). Thrown at boot
 * or at decoration time, never while the app runs.
 */
export class LeaderElectionSetupError extends LeaderElectionError {}

/** A value as an error may carry it: primitives only (strings truncated), never an object. */
export type DescribedOptionValue = string | number | boolean | bigint | symbol | null | undefined;

/** Strings that look like storage or Entra credentials: never echoed, even truncated. */
export const CREDENTIAL_LIKE = new RegExp(
  [
    ...['AccountKey=', 'SharedAccessSignature=', String.raw`(?:^|[?&;])sig=`, String.raw`Bearer\s`],
    ...[String.raw`eyJ[A-Za-z0-9_-]{6,}\.`, '(?:access|refresh|id)_token', 'client_secret'],
  ].join('|'),
  'i',
);

/** An option value as messages show it: credential-looking strings hidden, long ones cut. */
export function safeString(value: string): string {
  if (CREDENTIAL_LIKE.test(value)) return '[not shown: looks like a credential]';
  return value.length > 80 ? `${value.slice(0, 80)}…` : value;
}

/**
 * An option has a value that is not allowed (or a key that is no option). Names the option, the value
 * and what is allowed.
 */
export class InvalidElectionOptionError extends LeaderElectionError {
  /**
   * The offending value when it is a primitive (a string is truncated to 80 characters, and replaced
   * by a placeholder when it looks like a credential). Objects and functions are never kept: a
   * ContainerClient, a credential or a logger may hold keys or SAS tokens, and Nest prints an
   * exception's enumerable fields. `valueType` describes them instead.
   */
  readonly value: DescribedOptionValue;
  /** The type of the offending value, e.g. "string", "number", "object (ContainerClient)", "function". */
  readonly valueType: string;

  /** `typeOnly`: describe the value by its type alone (an unknown key's value may be a bare secret). */
  constructor(
    readonly option: string,
    value: unknown,
    readonly allowed: string,
    typeOnly = false,
  ) {
    const shown = typeOnly
      ? `${article(typeOf(value))} ${typeOf(value)} (value not shown)`
      : describeValue(value);
    super(`Invalid leader election option "${option}": got ${shown}; allowed: ${allowed}.`);
    this.name = 'InvalidElectionOptionError';
    this.value = typeOnly ? undefined : safeValue(value);
    this.valueType = typeOf(value);
  }
}

/** This replica does not lead the lease, and the operation needs the leader (e.g. yieldTo). */
export class NotLeaderError extends LeaderElectionError {
  constructor(
    readonly leaseName: string,
    message = `This replica is not the leader of "${leaseName}"`,
  ) {
    super(message);
  }
}

/** The election was stopped (application shutdown, stop()): it cannot lead, start or take new work. */
export class ElectorStoppedError extends LeaderElectionError {
  constructor(
    readonly leaseName: string | undefined,
    message = `The election of "${leaseName ?? 'every lease'}" is stopped`,
  ) {
    super(message);
  }
}

/** A lease this replica does not take part in (reads never start an election). */
export class UnknownLeaseError extends LeaderElectionError {
  constructor(
    readonly leaseName: string,
    readonly declared: string[],
    message = `Lease "${leaseName}" is not declared; declared leases: ` +
      declared.map((name) => `"${name}"`).join(', '),
  ) {
    super(message);
  }
}

/**
 * The reason a leadership's AbortSignal aborts with: the tenure ended, `kind` says why ('lost',
 * 'deadline', 'step-down' or 'stopped'). Work that passes the signal on stops with this error.
 */
export class LeadershipEndedError extends LeaderElectionError {
  constructor(
    /** Human-readable detail, as logged. */
    readonly reason: string,
    /** Why the tenure ended, typed. */
    readonly kind: LeadershipEndReason = 'stopped',
  ) {
    super(`Leadership ended: ${reason}`);
  }
}

function safeValue(value: unknown): DescribedOptionValue {
  if (typeof value === 'string') return safeString(value);
  if (value === null || (typeof value !== 'object' && typeof value !== 'function'))
    return value as DescribedOptionValue;
  return undefined;
}

/** "object (ContainerClient)", "array", "function", or the primitive's typeof. Never the content. */
function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'object') {
    let name: unknown;
    try {
      name = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
    } catch {
      name = undefined; // a Proxy may throw: the type is all we need
    }
    return typeof name === 'string' && name && name !== 'Object' && /^[\w$]{1,60}$/.test(name)
      ? `object (${name})`
      : 'object';
  }
  return typeof value;
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(safeString(value));
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  if (typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  const type = typeOf(value);
  return `${article(type)} ${type}`;
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? 'an' : 'a';
}
