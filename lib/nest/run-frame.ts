import type { Leadership } from '../core/leader-elector.js';
import { leadershipStorage, type LeadershipContext } from './leadership-context.js';

/**
 * The chain of gated runs of the current async context, to tell re-entry (recursion) from overlap.
 * Kept on the run's leadership context under a private symbol (one AsyncLocalStorage for both).
 */
export interface RunFrame {
  instance: object;
  handlerName: string;
  parent: RunFrame | undefined;
  /**
   * Runs of this frame still going (the call, then each subscription of an Observable it returned).
   * The async context outlives them (timers, promise callbacks), so a frame counts only while open.
   */
  openRuns: number;
}

const RUN_FRAME = Symbol('nestjs-leader-election:run-frame');

export function currentFrame(): RunFrame | undefined {
  return (leadershipStorage.getStore() as { [RUN_FRAME]?: RunFrame } | undefined)?.[RUN_FRAME];
}

/** A nested call of a run of the same method on the same instance that is still in progress. */
export function isReentry(frame: RunFrame): boolean {
  for (let outer = frame.parent; outer; outer = outer.parent) {
    if (outer.openRuns > 0 && outer.instance === frame.instance && outer.handlerName === frame.handlerName)
      return true;
  }
  return false;
}

/** The leadership context a run sees through currentLeadership(), carrying its frame. */
export function contextOf(leadership: Leadership, frame: RunFrame): LeadershipContext {
  const context: LeadershipContext = {
    leaseName: leadership.leaseName,
    identity: leadership.identity,
    term: leadership.term,
    signal: leadership.signal,
    isActive: () => leadership.isActive(),
  };
  Object.defineProperty(context, RUN_FRAME, { value: frame, enumerable: false });
  return context;
}
