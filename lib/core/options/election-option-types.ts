/** The election's options as users give them (see election-option-table.ts for ranges and defaults). */
export interface ElectionTimingOptions {
  /** Lease duration D in whole seconds, 15–60. Default 15. Crash takeover takes up to D + retryInterval. */
  leaseDurationSeconds?: number;
  /** How often the leader renews, ms. Default D/3. Must satisfy renewIntervalMs + safetyMarginMs < D. */
  renewIntervalMs?: number;
  /** How often a follower polls the lease, ms. Default 2000. Graceful takeover takes about this long. */
  retryIntervalMs?: number;
  /** Random spread applied to retryIntervalMs, as a fraction in [0, 1). Default 0.2 (±20 %). */
  retryJitter?: number;
  /** Subtracted from the lease end to absorb clock-rate drift between us and the server, ms. Default 1000. */
  safetyMarginMs?: number;
  /**
   * Upper bound for one store request, ms. Default min(5000, renewIntervalMs). Renewals are further bounded
   * by the time left.
   */
  requestTimeoutMs?: number;
  /** Pause between retries of a failed renewal, ms. Default min(500, renewIntervalMs / 4). */
  renewRetryIntervalMs?: number;
  /** Longest pause between follower polls after permanent errors (auth, names), ms. Default 30000. */
  maxErrorBackoffMs?: number;
  /**
   * Fast failover (docs/fast-failover.md): the leader writes a heartbeat every heartbeatIntervalMs
   * (default and maximum (livenessMs − safetyMarginMs) / 3) and leads only while one succeeded
   * within livenessMs; a follower that sees the record silent for longer (server time) breaks the
   * lease conditionally and takes over, well below the 15 s lease floor. Off by default (false).
   * Needs a store that supports it.
   */
  fastFailover?: false | { livenessMs: number; heartbeatIntervalMs?: number };
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
  /**
   * With a priority set: how long a newly started candidate waits before taking a free lease, ms. Default
   * presence interval + retryIntervalMs.
   */
  electionDelayMs?: number;
  /**
   * How long a free lease is left to better candidates, per better priority tier present, ms: a
   * candidate with k better tiers live takes a free lease after k × this. Default 2 × retryIntervalMs +
   * requestTimeoutMs.
   */
  preferenceWindowMs?: number;
  /**
   * Failback: a leader that sees a better live candidate present for afterStableMs hands over to it
   * (finishes its work, releases with the candidate named as successor). Off by default (false).
   */
  failback?: false | { afterStableMs: number };
}
