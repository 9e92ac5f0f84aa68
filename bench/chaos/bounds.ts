import type { ChaosTimings, FaultRecord } from './types.js';

/** One storage request to the local Azurite (poll, break, acquire): milliseconds; scheduling is in the slack. */
export const REQUEST_ALLOWANCE_MS = 100;
/** Date and Last-Modified are whole seconds: each may hide up to 1 s of the silence a follower judges. */
export const HEADER_RESOLUTION_MS = 2000;

/**
 * Fast failover (lib/core/fast-failover.ts, docs/fast-failover.md): the longest time from a fault
 * that silences the holder (SIGKILL, SIGSTOP or partition longer than livenessMs) until a follower
 * leads. W = the holder's last write of its record (heartbeat or acquire), at or before the fault.
 * A follower breaks the lease at a poll p only when both hold:
 *   (1) server silence Date − Last-Modified − 1 s > L + drift: Date ≥ p − 1 s and Last-Modified ≤ W
 *       (whole seconds), so p > W + L + drift + 2 s suffices;
 *   (2) its own watch saw the same ETag for > L + drift: first seen by a poll sent within one poll
 *       gap R of W and answered one request later, so p > W + R + request + L + drift suffices.
 * The first poll after both is at most R later; then five requests (that poll's Get Properties, the
 * conditional break, and the acquire's Acquire Lease, Get Properties and Set Metadata: the tenure
 * begins after the last) before the new leader's role line:
 *   bound = L + drift + max(2 s, R + request) + R + 5 × request + slack
 * (L 3000 ms: drift 50 ms; R 300 ms + 20 % = 360 ms; slack 2000 ms: 3000 + 50 + 2000 + 360 + 500 + 2000 = 7910 ms).
 */
export function fastTakeoverBoundMs(timings: ChaosTimings): number {
  const fast = timings.fastFailover;
  if (!fast) throw new RangeError('fastTakeoverBoundMs needs timings.fastFailover');
  const R = longestPollGapMs(timings);
  return (
    fast.livenessMs +
    fast.driftMs +
    Math.max(HEADER_RESOLUTION_MS, R + REQUEST_ALLOWANCE_MS) +
    R +
    5 * REQUEST_ALLOWANCE_MS +
    timings.slackMs
  );
}

/** The fast bound's arithmetic in words and numbers, for the checker's report. */
export function describeFastBound(timings: ChaosTimings): string {
  const fast = timings.fastFailover!;
  const R = longestPollGapMs(timings);
  return (
    `livenessMs ${fast.livenessMs} + drift ${fast.driftMs} + max(header resolution ${HEADER_RESOLUTION_MS}, R ${R} + a request ${REQUEST_ALLOWANCE_MS}) ` +
    `+ R ${R} + 5 requests × ${REQUEST_ALLOWANCE_MS} + slack ${timings.slackMs} = ${fastTakeoverBoundMs(timings)} ms`
  );
}

/** The longest gap between two polls of a follower: R plus its jitter. */
export function longestPollGapMs(timings: ChaosTimings): number {
  return Math.round(timings.retryIntervalMs * (1 + timings.retryJitter));
}

/**
 * Fast failover: the longest a tenure can be believed in, from its last heartbeat (or renewal
 * without fast failover). A SIGSTOP longer than this surely outlived the tenure.
 */
export function longestBeliefMs(timings: ChaosTimings): number {
  return (timings.fastFailover?.livenessMs ?? timings.leaseMs) - timings.safetyMarginMs;
}

/** Fast-failover faults the holder may live through without a takeover (a SIGSTOP shorter than livenessMs). */
export function mayKeepLeading(fault: FaultRecord): boolean {
  return fault.kind === 'block' || (fault.kind === 'sigstop' && fault.variant === 'short');
}

/** Fast-failover faults held to the fast takeover bound (the holder silenced longer than livenessMs). */
export function heldToFastBound(fault: FaultRecord): boolean {
  return (
    fault.kind === 'sigkill' ||
    fault.kind === 'partition' ||
    (fault.kind === 'sigstop' && fault.variant !== 'short' && fault.variant !== undefined)
  );
}

/** Upper bound on the time from a fault until a new leader is elected, from the configured timings. */
export function faultBounds(timings: ChaosTimings): (fault: FaultRecord) => number {
  const { leaseMs: D, slackMs } = timings;
  const R = timings.retryIntervalMs * (1 + timings.retryJitter); // the longest follower poll gap
  const fast = timings.fastFailover ? fastTakeoverBoundMs(timings) : undefined;
  // Priorities: the fault hits the leader; the best replica still running has at most one live
  // better tier (the faulted leader, whose record stays live up to staleAfterMs), so it leaves the
  // free lease to it for one preference window at most (docs/presence-and-priorities.md: D + R + tiers × window).
  const window = timings.priorities ? (timings.preferenceWindowMs ?? 0) : 0;
  return (fault) => base(fault) + (fault.kind === 'sigterm' ? 0 : window);
  function base(fault: FaultRecord): number {
    if (fast !== undefined) {
      const bound = fastBase(fault, fast);
      if (bound !== undefined) return bound;
    }
    switch (fault.kind) {
      case 'sigterm':
        // Graceful: drain the running job, release the lease; a follower sees it at its next poll.
        return timings.jobDurationMs + R + slackMs;
      case 'sigkill':
      case 'sigstop':
      case 'partition':
        // The server lease lasts at most D after the leader's last renewal (sent before the fault);
        // a follower acquires at its first poll after that.
        return D + R + slackMs;
      case 'latency': {
        // Requests still land d ms late: renewals (and the old leader's own re-acquires, which the
        // same lease id makes succeed) keep the server lease alive while the latency lasts, up to
        // heal + d + D, then a follower polls. (The old leader itself may win once healed.)
        const latencyMs = fault.params.latencyMs ?? 0;
        const delayMs = fault.params.delayMs ?? 0;
        return latencyMs + delayMs + D + R + slackMs;
      }
      case 'azurite-restart':
        // The store forgets the lease; its old holder may rightly believe in it until its deadline,
        // at most D after the fault. Every replica that saw a term notices the loss at its first
        // poll once the store is back (R), waits one lease duration (D), then acquires at its next
        // poll (R): downtime + 2R + D.
        return (fault.params.downMs ?? 0) + 2 * R + D + slackMs;
      case 'block': {
        // The leader's job busy-loops for blockMs. Recovery is the first run of the job after the
        // fault by any replica: the blocked one right after its block if it kept the lease, or a
        // successor once the lease expired. With main-thread renewals the last renewal went out
        // before the block: expiry ≤ D after it. With the renewal thread, renewals go on until the
        // main thread has been silent for maxBlockedMs: expiry ≤ maxBlockedMs + D.
        const blockMs = fault.params.blockMs ?? timings.blockMs ?? 0;
        const lossMs = (timings.renewalThread?.maxBlockedMs ?? 0) + D + R + slackMs;
        return Math.min(blockMs + timings.jobIntervalMs + slackMs, lossMs);
      }
    }
  }

  /** Fast failover: the kinds it changes (sigterm and azurite-restart keep their bounds). */
  function fastBase(fault: FaultRecord, fastMs: number): number | undefined {
    switch (fault.kind) {
      case 'sigkill':
      case 'partition':
        return fastMs;
      case 'sigstop':
        if (fault.variant !== 'short') return fastMs;
        {
          // Shorter than livenessMs: no follower sees livenessMs of silence. The holder either still
          // believes (next tick within a job interval of SIGCONT) or its belief ran out during the
          // stop: it steps down on SIGCONT without releasing and re-acquires its own lease at its
          // next poll (≤ R, three requests); a run in flight is drained first (job duration). Judged
          // by the stop it had (SIGCONT may come late on a busy machine), not the planned one.
          const stopMs =
            fault.healedAt !== undefined ? fault.healedAt - fault.at : (fault.params.stopMs ?? 0);
          const shortMs =
            stopMs +
            timings.jobIntervalMs +
            timings.jobDurationMs +
            2 * R +
            3 * REQUEST_ALLOWANCE_MS +
            slackMs;
          return stopMs >= (timings.fastFailover?.livenessMs ?? Infinity)
            ? Math.max(shortMs, fastMs)
            : shortMs;
        }
      case 'latency': {
        // Every request of the holder still lands d ms late, so its heartbeats keep the record
        // fresh while it sends them; after heal + d nothing it sent before heal can land, and from
        // then on it is a crash (fast bound) unless it leads again itself. Never later than without
        // fast failover.
        const latencyMs = fault.params.latencyMs ?? 0;
        const delayMs = fault.params.delayMs ?? 0;
        return Math.min(latencyMs + delayMs + fastMs, latencyMs + delayMs + D + R + slackMs);
      }
      case 'block': {
        // The busy loop starts at the leader's next run (≤ one job interval after SIGUSR2), after its
        // last heartbeat: from then on a crash, unless the block ends first and it runs again.
        const blockMs = fault.params.blockMs ?? timings.blockMs ?? 0;
        return Math.min(blockMs + timings.jobIntervalMs + slackMs, timings.jobIntervalMs + fastMs);
      }
      default:
        return undefined;
    }
  }
}

export function describeFault(fault: FaultRecord): string {
  switch (fault.kind) {
    case 'sigstop':
      return `SIGSTOP for ${(fault.params.stopMs! / 1000).toFixed(1)} s${variantNote(fault)}`;
    case 'partition':
      return `partition for ${(fault.params.partitionMs! / 1000).toFixed(1)} s${variantNote(fault)}`;
    case 'latency':
      return `latency +${fault.params.delayMs} ms each way for ${(fault.params.latencyMs! / 1000).toFixed(1)} s${variantNote(fault)}`;
    case 'block':
      return `event loop blocked for ${((fault.params.blockMs ?? 0) / 1000).toFixed(1)} s`;
    case 'azurite-restart':
      return `Azurite restart (down ${(fault.params.downMs! / 1000).toFixed(1)} s, all blobs lost)`;
    default:
      return fault.kind.toUpperCase();
  }
}

function variantNote(fault: FaultRecord): string {
  switch (fault.variant) {
    case 'short':
      return ' (< L)';
    case 'long':
      return ' (> L)';
    case 'lease':
      return ' (> D)';
    default:
      return '';
  }
}
