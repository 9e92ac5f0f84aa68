/**
 * Names, units and attributes of the metrics this library records, following the OpenTelemetry
 * semantic conventions: dotted lower-case names under one namespace, durations in seconds ("s"),
 * counts with a {annotation} unit, `error.type` for the kind of a failure.
 *
 * A Prometheus exporter turns dots into underscores, adds `_total` to counters and a unit suffix to
 * the histogram: see docs/metrics.md for the names as Prometheus shows them.
 */
export const METRIC_NAMES = {
  /** Gauge, 1 while this replica leads the lease, else 0 (set at every role change). */
  isLeader: 'leader_election.is_leader',
  /** Counter of leadership transitions of this replica: type acquired | lost (with reason). */
  transitions: 'leader_election.transitions',
  /** Histogram of lease-store call durations, seconds. */
  storeRequestDuration: 'leader_election.store.request.duration',
  /** Counter of failed renewals (each failed renew call; the leader retries until its deadline). */
  renewalFailures: 'leader_election.renewal.failures',
  /** Counter of acquire calls: outcome acquired | held_by_other | error. */
  acquireAttempts: 'leader_election.acquire.attempts',
  /** Counter of @LeaderOnly calls: outcome run | skipped (with reason). Recorded by the Nest module. */
  gatedRuns: 'leader_election.gated_runs',
} as const;

/** Attribute keys. `identity` is added only when includeIdentity is set (one series per replica). */
export const METRIC_ATTRIBUTES = {
  lease: 'lease',
  identity: 'identity',
  type: 'type',
  reason: 'reason',
  operation: 'operation',
  outcome: 'outcome',
  errorType: 'error.type',
} as const;

/** Default meter (instrumentation scope) name. */
export const DEFAULT_METER_NAME = 'nestjs-leader-election';

/**
 * Bucket boundaries (seconds) suggested for the store request histogram: Azure blob lease calls take
 * a few ms to a few hundred ms; a call that times out counts its timeout (seconds).
 */
export const STORE_REQUEST_BUCKETS_SECONDS = [
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
];
