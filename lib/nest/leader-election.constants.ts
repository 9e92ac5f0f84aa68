/** Lease used by @LeaderOnly() and the service when no lease name is given. */
export const DEFAULT_LEASE_NAME = 'leader';

/** Reflect-metadata key for @LeaderTask settings, stored on the method. */
export const LEADER_TASK_METADATA = 'nestjs-leader-election:leader-task';

/** Reflect-metadata key of @LeaderElection(leaseName) on a class (the lease its hooks receive). */
export const LEADER_ELECTION_CLASS_METADATA = 'nestjs-leader-election:hooks-lease';

/** Reflect-metadata key for @LeaderOnly settings, stored on the wrapped method. */
export const LEADER_ONLY_METADATA = 'nestjs-leader-election:leader-only';

/**
 * Hidden per-instance property through which a @LeaderOnly wrapper finds the gate of the Nest app
 * that owns the instance (set by the explorer at module init). Per instance, not global, so several
 * apps in one process each gate their own providers.
 */
export const LEADER_GATE = Symbol.for('nestjs-leader-election:gate');

/** Injection token of the validated, defaulted module options. */
export const RESOLVED_LEADER_ELECTION_OPTIONS = Symbol.for('nestjs-leader-election:resolved-options');

export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;
export const DEFAULT_STARTUP_TIMEOUT_MS = 10_000;
