import type { ChaosTimings, FaultRecord } from './types.js';

/** Upper bound on the time from a fault until a new leader is elected, from the configured timings. */
export function faultBounds(timings: ChaosTimings): (fault: FaultRecord) => number {
  const { leaseMs: D, slackMs } = timings;
  const R = timings.retryIntervalMs * (1 + timings.retryJitter); // the longest follower poll gap
  // Priorities: the fault hits the leader; the best replica still running has at most one live
  // better tier (the faulted leader, whose record stays live up to staleAfterMs), so it leaves the
  // free lease to it for one preference window at most (docs/presence-and-priorities.md: D + R + tiers × window).
  const window = timings.priorities ? (timings.preferenceWindowMs ?? 0) : 0;
  return (fault) => base(fault) + (fault.kind === 'sigterm' ? 0 : window);
  function base(fault: FaultRecord): number {
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
}

export function describeFault(fault: FaultRecord): string {
  switch (fault.kind) {
    case 'sigstop':
      return `SIGSTOP for ${(fault.params.stopMs! / 1000).toFixed(1)} s`;
    case 'partition':
      return `partition for ${(fault.params.partitionMs! / 1000).toFixed(1)} s`;
    case 'latency':
      return `latency +${fault.params.delayMs} ms each way for ${(fault.params.latencyMs! / 1000).toFixed(1)} s`;
    case 'block':
      return `event loop blocked for ${((fault.params.blockMs ?? 0) / 1000).toFixed(1)} s`;
    case 'azurite-restart':
      return `Azurite restart (down ${(fault.params.downMs! / 1000).toFixed(1)} s, all blobs lost)`;
    default:
      return fault.kind.toUpperCase();
  }
}
