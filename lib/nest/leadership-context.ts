import { AsyncLocalStorage } from 'node:async_hooks';

/** What a @LeaderOnly run knows about the leadership it runs under. */
export interface LeadershipContext {
  readonly leaseName: string;
  readonly identity: string;
  /** Fencing term: pass it with writes to other systems, which should reject older terms. */
  readonly term: number;
  /** Aborts when this leadership ends (lost, deadline, step-down, shutdown): stop long work. */
  readonly signal: AbortSignal;
  /** True while the leadership is current and inside its deadline. Check before side effects. */
  isActive(): boolean;
}

export const leadershipStorage = new AsyncLocalStorage<LeadershipContext>();

/** The leadership of the @LeaderOnly run in progress (undefined outside such a run). */
export function currentLeadership(): LeadershipContext | undefined {
  return leadershipStorage.getStore();
}
