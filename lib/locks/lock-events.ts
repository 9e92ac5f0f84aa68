/** One withLock / tryWithLock call as it ended (LockManager `events.lock`, LockService.locks$). */
export interface LockEvent {
  name: string;
  outcome: 'acquired' | 'not-acquired' | 'error';
  /** Monotonic ms from the call to acquisition or giving up. */
  waitMs: number;
  /** Set when the lock was lost while fn ran: 'lost' or 'deadline'. */
  lost?: 'lost' | 'deadline';
}

/** One tick of a per-run job as this replica saw it (LockManager `events.run`, LockService.runs$). */
export interface JobRunEvent {
  job: string;
  /** The tick's scheduled time (start of its period), epoch ms. */
  tickAt: number;
  /** This replica's identity. */
  identity: string;
  /** 'ran': this replica ran the tick; 'error': it ran it and fn threw. */
  outcome: 'ran' | 'already-ran' | 'held-elsewhere' | 'error';
  term?: number;
}

/** Where a LockManager reports its calls (metrics, logs). */
export interface LockEventSink {
  lock?(event: LockEvent): void;
  run?(event: JobRunEvent): void;
}

/** A forced answer for one lock name or per-run job (the testing kit's LockTesting). */
export type LockDecision = { acquired: true; term?: number } | { acquired: false; holder?: string };

/** Decides locks without the store: its answer for a lock or a per-run job, or undefined to use the store. */
export interface LockDecisions {
  /** `kind` 'lock': a withLock/tryWithLock name; 'run': a per-run job name (every tick of it). */
  decide(kind: 'lock' | 'run', name: string): LockDecision | undefined;
  /** Called with each forced-acquired context while fn runs, so a test can end it (lose the lock). */
  track?(kind: 'lock' | 'run', name: string, controller: AbortController, term: number): () => void;
}
