import type { LeaderTaskFailurePolicy } from '../../core/leader-task.js';
import type {
  LeaderChangedEvent,
  LeadershipAcquiredEvent,
  LeadershipLostEvent,
} from '../../core/leadership-events.js';

/** Options of @LeaderTask() and LeaderElectionService.runWhileLeader(). */
export interface LeaderTaskOptions {
  /** Lease whose tenures the task follows. Default: the module's `leaseName` ("leader"). */
  leaseName?: string;
  /**
   * When a run throws or rejects while its tenure is still current: 'restart' (default) runs it again
   * after a backoff; 'step-down' gives up leadership so another replica can try (what @nestjs/locks
   * does when onLeadershipAcquired throws). Either way the error is logged with lease and term.
   */
  onError?: LeaderTaskFailurePolicy;
  /** First pause before a restart, ms. Default 1000; doubles up to maxRestartDelayMs. */
  restartDelayMs?: number;
  /** Longest pause between restarts, ms. Default 30000. */
  maxRestartDelayMs?: number;
}

/** What @LeaderTask records on the method. */
export interface LeaderTaskMetadata extends LeaderTaskOptions {
  /** "ClassName.method", for logs. */
  handlerName: string;
}

/**
 * Called on a @LeaderElection() provider when this replica becomes leader of its lease (the module's
 * lease, or the one named by @LeaderElection(name)). `event.signal` aborts when the tenure ends.
 * Notification only: long work belongs in a @LeaderTask, which the module drains at shutdown. A hook
 * that throws or rejects is logged and never stops the election.
 */
export interface OnLeadershipAcquired {
  onLeadershipAcquired(event: LeadershipAcquiredEvent): unknown;
}

/** Called when this replica stops leading, with the reason: 'lost', 'deadline', 'step-down' or 'stopped'. */
export interface OnLeadershipLost {
  onLeadershipLost(event: LeadershipLostEvent): unknown;
}

/** Called when this replica learns of a new leader or term (itself included: `event.self`). */
export interface OnLeaderChanged {
  onLeaderChanged(event: LeaderChangedEvent): unknown;
}

/** What @LeaderElection(leaseName?) records on the class. */
export interface LeaderElectionHooksMetadata {
  leaseName?: string;
}
