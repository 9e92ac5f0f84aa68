import { Inject, Injectable } from '@nestjs/common';
import type { Subscription } from 'rxjs';
import type { LeaderTaskHandle } from '../core/leader-task.js';
import type { ElectionLogger } from '../core/logger.js';
import { RESOLVED_LEADER_ELECTION_OPTIONS } from './leader-election.constants.js';
import type { ResolvedLeaderElectionOptions } from './leader-election-options.resolver.js';
import { electionLogger } from './utils/election-logger.js';

/**
 * The work of each lease's tenures that a release must wait for: @LeaderOnly runs in flight and
 * leader tasks (@LeaderTask methods, runWhileLeader calls), plus the subscriptions to close at the
 * end. The gate and the leader work register here; the registry drains here before a release.
 */
@Injectable()
export class LeaderWorkTracker {
  private readonly runs = new Map<string, Set<Promise<void>>>();
  private readonly tasks = new Map<string, Set<LeaderTaskHandle>>();
  private readonly subscriptions: Subscription[] = [];
  private readonly deferredCuts = new Map<string, Set<() => void>>();
  /** Drains in progress, per lease: a forced cut marks these (the drain it belongs to) unreleasable. */
  private readonly drainsInProgress = new Map<string, Set<{ forcedCut: boolean }>>();
  private readonly logger: ElectionLogger;

  constructor(
    @Inject(RESOLVED_LEADER_ELECTION_OPTIONS) private readonly options: ResolvedLeaderElectionOptions,
  ) {
    this.logger = electionLogger(options);
  }

  /** Records a gated run of the lease; call the returned function when it ends. */
  trackRun(leaseName: string): () => void {
    let resolve!: () => void;
    const run = new Promise<void>((r) => (resolve = r));
    let set = this.runs.get(leaseName);
    if (!set) this.runs.set(leaseName, (set = new Set()));
    set.add(run);
    return () => {
      set.delete(run);
      resolve();
    };
  }

  addTask(leaseName: string, handle: LeaderTaskHandle): void {
    let set = this.tasks.get(leaseName);
    if (!set) this.tasks.set(leaseName, (set = new Set()));
    set.add(handle);
  }

  /** Closed (unsubscribed) after the elections stopped. */
  addSubscription(subscription: Subscription): void {
    this.subscriptions.push(subscription);
  }

  /**
   * A stream of a tenure ended by stop, step-down or hand-over, left to finish within the drain (the
   * lease is held until then): `cut` runs when the drain gives up, or after twice shutdownTimeoutMs
   * if no drain comes. Returns the undo to call when the stream ended on its own.
   */
  cutWhenDrainGivesUp(leaseName: string, cut: () => void): () => void {
    let set = this.deferredCuts.get(leaseName);
    if (!set) this.deferredCuts.set(leaseName, (set = new Set()));
    const cuts = set;
    const entry = (): void => {
      clearTimeout(timer);
      cuts.delete(entry);
      cut();
    };
    const timer = setTimeout(() => {
      // Cut without its drain giving up: a drain of its tenure still running must not release. A
      // drain that starts later belongs to a later tenure (the tenure's drain follows its end).
      for (const draining of this.drainsInProgress.get(leaseName) ?? []) draining.forcedCut = true;
      entry();
    }, 2 * this.options.shutdownTimeoutMs);
    timer.unref?.();
    cuts.add(entry);
    return () => {
      clearTimeout(timer);
      cuts.delete(entry);
    };
  }

  private cutDeferred(leaseName: string): void {
    for (const cut of [...(this.deferredCuts.get(leaseName) ?? [])]) cut();
  }

  /** Number of deferred cuts of a lease waiting for their drain (undone when their stream ended). */
  deferredCutCount(leaseName: string): number {
    return this.deferredCuts.get(leaseName)?.size ?? 0;
  }

  /** Number of @LeaderOnly runs in progress for a lease. */
  runningCount(leaseName: string): number {
    return this.runs.get(leaseName)?.size ?? 0;
  }

  /**
   * Waits (until `deadline`) for the ended tenure's work: @LeaderOnly runs and leader tasks. Resolves
   * false when some is still running then: the lease must not be released (a follower could start
   * beside that work); it expires by itself instead (LeaderElector.stop logs which happened). When the
   * drain gives up (`deadline`, or `gaveUp`: the tenure's bound, e.g. the lease's end) the streams left
   * to finish within it are cut.
   */
  async drain(leaseName: string, deadline: number, gaveUp?: AbortSignal): Promise<boolean> {
    const runs = [...(this.runs.get(leaseName) ?? [])];
    const tasks = [...(this.tasks.get(leaseName) ?? [])].filter((handle) => handle.running);
    if (runs.length === 0 && tasks.length === 0) return true;
    const draining = { forcedCut: false };
    let inProgress = this.drainsInProgress.get(leaseName);
    if (!inProgress) this.drainsInProgress.set(leaseName, (inProgress = new Set()));
    inProgress.add(draining);
    try {
      return (await this.waitForWork(leaseName, runs, tasks, deadline, gaveUp)) && !draining.forcedCut;
    } finally {
      inProgress.delete(draining);
    }
  }

  private async waitForWork(
    leaseName: string,
    runs: Promise<void>[],
    tasks: LeaderTaskHandle[],
    deadline: number,
    gaveUp?: AbortSignal,
  ): Promise<boolean> {
    const left = Math.max(0, deadline - Date.now());
    let timer: NodeJS.Timeout | undefined;
    let stopWaiting = (): void => undefined;
    const drained = await Promise.race([
      Promise.all([Promise.allSettled(runs), ...tasks.map((handle) => handle.whenIdle())]).then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), left);
        stopWaiting = () => resolve(false);
        gaveUp?.addEventListener('abort', stopWaiting, { once: true });
        if (gaveUp?.aborted) resolve(false);
      }),
    ]);
    clearTimeout(timer);
    gaveUp?.removeEventListener('abort', stopWaiting);
    if (!drained) {
      this.cutDeferred(leaseName);
      const stillRunning = this.runningCount(leaseName) + tasks.filter((handle) => handle.running).length;
      this.logger.warn(
        `${stillRunning} @LeaderOnly run(s) or leader task(s) of "${leaseName}" still running ` +
          `${this.options.shutdownTimeoutMs} ms after their AbortSignal was aborted; the lease is left ` +
          `to expire instead of being released`,
      );
    }
    return drained;
  }

  /** After the elections stopped: no more hooks, transitions or task starts. */
  close(): void {
    for (const subscription of this.subscriptions.splice(0)) subscription.unsubscribe();
    for (const set of this.tasks.values()) for (const handle of set) handle.dispose();
  }
}
