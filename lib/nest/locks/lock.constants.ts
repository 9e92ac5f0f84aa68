/**
 * Hidden per-instance property through which @WithLock / @OnOneReplica wrappers find the LockService of
 * the Nest app that owns the instance (set by LockExplorer at module init), as @LeaderOnly finds its gate.
 */
export const LOCK_SERVICE_LINK = Symbol.for('nestjs-leader-election:lock-service');

/**
 * Optional provider that decides locks without the store (the testing kit's LockTesting): its answer
 * for a lock or a per-run tick, or undefined to use the store.
 */
export const LOCK_DECISIONS = Symbol.for('nestjs-leader-election:lock-decisions');

export type { LockDecision, LockDecisions } from '../../locks/lock-events.js';
