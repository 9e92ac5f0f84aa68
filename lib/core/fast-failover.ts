/**
 * Fast failover (issue 21, docs/fast-failover.md and docs/GUARANTEES.md, "Fast failover"): the
 * holder writes its record every heartbeat interval and believes it leads only until the send time of
 * its last successful heartbeat (or acquire) + livenessMs − safetyMarginMs; a follower that sees the
 * record unwritten for more than livenessMs + drift, in SERVER time, breaks the lease conditioned on
 * the record version it observed, then acquires as usual. Every rule of the mode is written here once.
 */
import { sleep, type Clock } from './clock.js';
import { InvalidElectionOptionError, LeaderElectionSetupError } from './errors.js';
import { errorKindOf, LeaseRecordLostError, type LeaseObservation, type LeaseStore } from './lease-store.js';
import type { ElectionLogger } from './logger.js';
import { messageOf } from './store-health.js';

/** What users give: `fastFailover: { livenessMs, heartbeatIntervalMs? }` (or false, the default). */
export type FastFailoverOption = false | { livenessMs: number; heartbeatIntervalMs?: number };

export interface ResolvedFastFailover {
  livenessMs: number;
  heartbeatIntervalMs: number;
  /** Extra server-time silence a follower waits for beyond livenessMs: absorbs clock-RATE drift. */
  driftMs: number;
}

/** Azure's Last-Modified and Date are whole seconds; below 3 s a heartbeat could not be told from silence. */
export const MIN_LIVENESS_MS = 3000;
/** Shortest heartbeat period accepted (a request every 100 ms is already 36 000 per hour). */
export const MIN_HEARTBEAT_INTERVAL_MS = 100;

/**
 * The follower's drift allowance: 1 % of livenessMs (at least 50 ms). The holder measures livenessMs
 * on its monotonic clock, the follower's judgement uses the server's clock only; two clocks whose
 * RATES differ by up to 1 % (NTP keeps them within 0.05 %) still cannot open a gap between them.
 */
export function driftAllowanceMs(livenessMs: number): number {
  return Math.max(50, Math.ceil(livenessMs / 100));
}

/**
 * Validates `fastFailover` against the lease duration and the safety margin; R's rule is checked by
 * fastFailoverRetryLimit. The belief after a heartbeat lasts livenessMs − safetyMarginMs: at most a
 * third of it between heartbeats, so one heartbeat may hang (it times out after an interval) and the
 * next still keeps the belief.
 */
export function resolveFastFailover(
  given: unknown,
  leaseDurationMs: number,
  safetyMarginMs: number,
): ResolvedFastFailover | false {
  if (given === undefined || given === false) return false;
  const shape = 'false (default) or { livenessMs, heartbeatIntervalMs? }';
  if (typeof given !== 'object' || given === null || Array.isArray(given))
    throw new InvalidElectionOptionError('fastFailover', given, shape);
  const spec = given as Record<string, unknown>;
  for (const key of Object.keys(spec))
    if (key !== 'livenessMs' && key !== 'heartbeatIntervalMs')
      throw new InvalidElectionOptionError(`fastFailover.${key}`, spec[key], `no such option; ${shape}`);
  const lowest = Math.max(MIN_LIVENESS_MS, safetyMarginMs + 3 * MIN_HEARTBEAT_INTERVAL_MS);
  const livenessAllowed =
    `a whole number of ms from ${lowest} (3000, and safetyMarginMs ${safetyMarginMs} + 300) ` +
    `to below the lease duration (${leaseDurationMs} ms)`;
  const livenessMs = readNumber(spec.livenessMs);
  if (!Number.isInteger(livenessMs) || livenessMs < lowest || livenessMs >= leaseDurationMs)
    throw new InvalidElectionOptionError('fastFailover.livenessMs', spec.livenessMs, livenessAllowed);
  const maxHeartbeat = Math.floor((livenessMs - safetyMarginMs) / 3);
  const heartbeatAllowed =
    `a number of ms from ${MIN_HEARTBEAT_INTERVAL_MS} to (livenessMs − safetyMarginMs) / 3 ` +
    `(${maxHeartbeat}): one heartbeat may hang and the next still keeps the leader's belief`;
  const heartbeatIntervalMs = readNumber(spec.heartbeatIntervalMs ?? maxHeartbeat);
  if (
    !Number.isFinite(heartbeatIntervalMs) ||
    heartbeatIntervalMs < MIN_HEARTBEAT_INTERVAL_MS ||
    heartbeatIntervalMs > maxHeartbeat
  )
    throw new InvalidElectionOptionError(
      'fastFailover.heartbeatIntervalMs',
      spec.heartbeatIntervalMs,
      heartbeatAllowed,
    );
  return { livenessMs, heartbeatIntervalMs, driftMs: driftAllowanceMs(livenessMs) };
}

/** Followers poll at least twice per livenessMs: a silent holder is noticed in about 1.5 × livenessMs. */
export function fastFailoverRetryLimit(fast: ResolvedFastFailover): number {
  return Math.floor(fast.livenessMs / 2);
}

/** The holder's fast belief after a heartbeat (or the acquire) sent at `sentAt`. */
export function heartbeatDeadlineAfter(
  sentAt: number,
  fast: ResolvedFastFailover,
  t: { safetyMarginMs: number },
): number {
  return sentAt + fast.livenessMs - t.safetyMarginMs;
}

/**
 * How long a record whose holder declared `holderLivenessMs` must be silent before that holder has
 * surely stopped believing it leads: its livenessMs plus the drift allowance (judged by what the
 * HOLDER declared, never by the follower's own setting: replicas may differ during a rolling deploy).
 */
export function staleAfterMs(holderLivenessMs: number): number {
  return holderLivenessMs + driftAllowanceMs(holderLivenessMs);
}

/**
 * A held record a follower may break: its holder declared a livenessMs for this term (so it
 * heartbeats), and the store's lower bound of its silence, in server time, exceeds that livenessMs +
 * drift. Never judged on a local clock, never without a version to condition the break on, and never
 * for a holder that did not declare a livenessMs (fast failover off, or a version without it).
 */
export function isStaleHolder(observation: LeaseObservation): boolean {
  const silent = observation.silentForAtLeastMs;
  const declared = observation.holderLivenessMs;
  return (
    observation.held &&
    observation.etag !== undefined &&
    typeof declared === 'number' &&
    Number.isSafeInteger(declared) &&
    declared >= MIN_LIVENESS_MS &&
    typeof silent === 'number' &&
    Number.isFinite(silent) &&
    silent > staleAfterMs(declared)
  );
}

/** What a follower needs to break a stale lease. */
export interface BreakerHost {
  readonly lease: {
    leaseName: string;
    options: { fastFailover: ResolvedFastFailover | false; requestTimeoutMs: number };
  };
  readonly store: LeaseStore;
  readonly requests: {
    send<T>(
      operation: 'break',
      call: (signal: AbortSignal) => Promise<T>,
      o: { timeoutMs: number },
    ): Promise<T>;
  };
}

/**
 * A follower's fast-failover step: when `observation` shows a stale holder, break its lease on the
 * condition that the record is still the version observed. True: the lease is free now (the caller
 * acquires, conditioned on the same version); false: not stale, or a heartbeat landed in between.
 */
export async function breakIfStale(
  host: BreakerHost,
  observation: LeaseObservation,
  watch: VersionWatch,
): Promise<boolean> {
  const fast = host.lease.options.fastFailover;
  const store = host.store;
  if (!fast || !store.breakStale) return false;
  const watchedMs = watch.note(observation);
  if (!isStaleHolder(observation) || watchedMs <= staleAfterMs(observation.holderLivenessMs!)) return false;
  const { leaseName, options } = host.lease;
  return await host.requests.send(
    'break',
    (signal) => store.breakStale!(leaseName, observation.etag!, signal),
    {
      timeoutMs: options.requestTimeoutMs,
    },
  );
}

/**
 * The follower's own evidence, needing no server clock: how long (its monotonic clock) it has seen
 * the same record version held. The write that made that version happened before it was first seen,
 * so the holder's last successful heartbeat was sent earlier still; Date and Last-Modified need not
 * come from one clock (docs/azure-storage-facts.md, D3) for a break to be safe.
 */
export class VersionWatch {
  private seen?: { etag: string; at: number };

  constructor(private readonly clock: Clock) {}

  /** Notes an observation; returns how long this version has been seen held (0 the first time). */
  note(observation: LeaseObservation): number {
    const now = this.clock.now();
    if (!observation.held || observation.etag === undefined) {
      this.seen = undefined;
      return 0;
    }
    if (this.seen?.etag !== observation.etag) this.seen = { etag: observation.etag, at: now };
    return now - this.seen.at;
  }
}

/** Boot check: the store must be able to heartbeat, break conditionally and bound silence. */
export function checkFastFailoverSetup(
  fast: ResolvedFastFailover | false,
  store: LeaseStore,
  renewalDelegate: unknown,
): void {
  if (!fast) return;
  if (typeof store.heartbeat !== 'function' || typeof store.breakStale !== 'function')
    throw new LeaderElectionSetupError(
      `Option "fastFailover" needs a store that can heartbeat and break a stale lease conditionally; ` +
        `${store.description} cannot (leave fastFailover off with this store)`,
    );
  if (renewalDelegate !== undefined)
    throw new LeaderElectionSetupError(
      'Option "fastFailover" cannot be combined with "renewalThread" yet: the renewal thread does not ' +
        'send heartbeats, so a busy leader would lose its fast belief (turn one of them off)',
    );
}

/** What the heartbeat loop needs from the tenure keeper. */
export interface HeartbeatHost {
  clock: Clock;
  logger: ElectionLogger;
  leaseName: string;
  fast: ResolvedFastFailover;
  requestTimeoutMs: number;
  stopSignal: AbortSignal;
  send(timeoutMs: number): Promise<void>;
  /** The heartbeat found the lease (or its record) gone. */
  lost(message: string, recordLost: boolean): void;
  answered(): void;
  failed(error: unknown): void;
}

/** The tenure as the heartbeat loop sees it. */
export interface HeartbeatTenure {
  readonly signal: AbortSignal;
  readonly deadline: number;
  lastHeartbeatAt: number;
  isValid(now?: number): boolean;
  heartbeated(sentAt: number): void;
}

/**
 * Heartbeats while the tenure leads: one every heartbeatIntervalMs after the last successful send,
 * each bounded by the time the fast belief has left; failures retried at the same pace until the
 * belief runs out (the deadline timer then steps down). A definite loss ends the tenure at once.
 */
export async function keepHeartbeating(host: HeartbeatHost, tenure: HeartbeatTenure): Promise<void> {
  const { clock, fast } = host;
  const until = [host.stopSignal, tenure.signal];
  let nextAt = tenure.lastHeartbeatAt + fast.heartbeatIntervalMs;
  while (tenure.isValid() && !host.stopSignal.aborted) {
    await sleep(clock, nextAt - clock.now(), until);
    if (!tenure.isValid() || host.stopSignal.aborted) return;
    const sentAt = clock.now();
    try {
      // Timed out after one interval: a hung heartbeat leaves room for the next within the belief.
      const timeoutMs = Math.min(host.requestTimeoutMs, fast.heartbeatIntervalMs, tenure.deadline - sentAt);
      await host.send(Math.max(1, timeoutMs));
      if (!tenure.isValid()) return; // ended (or the belief ran out) while the answer was on its way
      tenure.heartbeated(sentAt);
      host.answered();
      nextAt = sentAt + fast.heartbeatIntervalMs;
    } catch (error) {
      if (tenure.signal.aborted || host.stopSignal.aborted) return;
      if (errorKindOf(error) === 'lost') {
        host.lost(`lease lost (heartbeat): ${messageOf(error)}`, error instanceof LeaseRecordLostError);
        return;
      }
      host.failed(error);
      nextAt = clock.now() + Math.min(fast.heartbeatIntervalMs, MIN_LIVENESS_MS / 10);
    }
  }
}

/** Warns once per elector when heartbeats could not keep the fast belief alive, and counts it. */
export class HeartbeatLapses {
  count = 0;
  private warned = false;

  constructor(
    private readonly logger: ElectionLogger,
    private readonly leaseName: string,
  ) {}

  lapsed(fast: ResolvedFastFailover): void {
    this.count += 1;
    if (this.warned) return;
    this.warned = true;
    this.logger.warn(
      `Leadership of "${this.leaseName}" lost: no heartbeat succeeded within fastFailover.livenessMs ` +
        `(${fast.livenessMs} ms). Storage answering slower than that (or a blocked event loop) costs ` +
        'leadership in fast-failover mode: raise livenessMs, or turn fastFailover off (warned once)',
    );
  }
}

function readNumber(value: unknown): number {
  if (typeof value === 'string' && /^\d+$/.test(value.trim())) return Number(value);
  return typeof value === 'number' ? value : NaN;
}
