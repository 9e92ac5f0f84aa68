import { Injectable } from '@nestjs/common';
import { LockLostError } from '../locks/lock-errors.js';
import type { LockDecision, LockDecisions } from '../locks/lock-events.js';

type Kind = 'lock' | 'run';

/**
 * Decides the locks and per-run ticks of a LeaderElectionTestingModule app, with no store and no
 * timer: by default every lock is acquired and every @OnOneReplica tick runs here. Inject it in a test
 * (`app.get(LockTesting)`) to make a lock or a job "held elsewhere", or to lose a lock while fn runs.
 */
@Injectable()
export class LockTesting implements LockDecisions {
  private readonly forced = new Map<string, LockDecision>();
  private readonly active = new Map<string, Set<{ controller: AbortController; term: number }>>();

  /** @internal Called by LockManager for each call. */
  decide(kind: Kind, name: string): LockDecision {
    return this.forced.get(key(kind, name)) ?? { acquired: true };
  }

  /** @internal Called by LockManager while a forced-acquired fn runs. */
  track(kind: Kind, name: string, controller: AbortController, term: number): () => void {
    const runs = this.active.get(key(kind, name)) ?? new Set();
    this.active.set(key(kind, name), runs);
    const entry = { controller, term };
    runs.add(entry);
    return () => runs.delete(entry);
  }

  /** withLock / tryWithLock / @WithLock on `name` find it held by `holder` (fn does not run). */
  holdElsewhere(name: string, holder = 'other-replica'): this {
    this.forced.set(key('lock', name), { acquired: false, holder });
    return this;
  }

  /** Every tick of the @OnOneReplica job `job` ("Class.method" by default) runs on another replica. */
  runElsewhere(job: string, holder = 'other-replica'): this {
    this.forced.set(key('run', job), { acquired: false, holder });
    return this;
  }

  /** The lock `name` is acquired here again (the default), optionally with a chosen fencing term. */
  acquire(name: string, options: { term?: number } = {}): this {
    this.forced.set(key('lock', name), { acquired: true, ...options });
    return this;
  }

  /** Ticks of `job` run here again (the default). */
  runHere(job: string, options: { term?: number } = {}): this {
    this.forced.set(key('run', job), { acquired: true, ...options });
    return this;
  }

  /**
   * Ends the lock `name` (or the running tick of job `name` with kind 'run') while its fn runs: its
   * signal aborts with LockLostError, as when a renewal is refused ('lost') or comes too late
   * ('deadline'). Returns how many runs it ended.
   */
  lose(name: string, options: { reason?: 'lost' | 'deadline'; kind?: Kind } = {}): number {
    const runs = this.active.get(key(options.kind ?? 'lock', name)) ?? new Set();
    for (const { controller, term } of runs)
      controller.abort(new LockLostError(name, term, options.reason ?? 'lost'));
    return runs.size;
  }

  /** Back to the default: everything acquired here. */
  reset(): void {
    this.forced.clear();
  }
}

function key(kind: Kind, name: string): string {
  return `${kind}\u0000${name}`;
}
