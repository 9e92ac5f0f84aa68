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

/** What a LOCK_DECISIONS provider answers for one lock name or per-run job. */
export type LockDecision = { acquired: true; term?: number } | { acquired: false; holder?: string };

export interface LockDecisions {
  /** `kind` 'lock': a withLock/tryWithLock name; 'run': a per-run job name (every tick of it). */
  decide(kind: 'lock' | 'run', name: string): LockDecision | undefined;
  /** Called with each forced-acquired context while fn runs, so a test can end it (lose the lock). */
  track?(kind: 'lock' | 'run', name: string, controller: AbortController, term: number): () => void;
}
