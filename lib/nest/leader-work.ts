import { Inject, Injectable } from '@nestjs/common';
import { ElectorStoppedError } from '../core/errors.js';
import type { Leadership } from '../core/leader-elector.js';
import { runWhileLeader as runTaskWhileLeader, type LeaderTaskHandle } from '../core/leader-task.js';
import type { LeadershipEvent } from '../core/leadership-events.js';
import type { ElectionLogger } from '../core/logger.js';
import type {
  LeaderTaskOptions,
  OnLeaderChanged,
  OnLeadershipAcquired,
  OnLeadershipLost,
} from './interfaces/leader-work.interface.js';
import { RESOLVED_LEADER_ELECTION_OPTIONS } from './leader-election.constants.js';
import type { ResolvedLeaderElectionOptions } from './leader-election-options.resolver.js';
import { LeaderElectionRegistry } from './leader-election.registry.js';
import { leadershipStorage } from './leadership-context.js';
import { LeaderWorkTracker } from './leader-work.tracker.js';
import { contextOf } from './run-frame.js';
import { electionLogger } from './utils/election-logger.js';
import { LEADER_TASK_OPTION_KEYS, refuseUnknownDecoratorKeys } from './utils/decorator-options.js';
import { describeFailure } from './utils/failure-text.js';
import { isPromiseLike } from './utils/return-shape.js';
import { FailureLog, untilTenureEnds } from './utils/task-run.js';

/** The frame owner of leader-task runs (they are never nested in gated runs' overlap checks). */
const handleKey = {};

/**
 * Leader work beyond ticks: leader tasks (@LeaderTask methods, runWhileLeader calls) that run for a
 * tenure, and the hooks of @LeaderElection() providers that see every transition.
 */
@Injectable()
export class LeaderWorkRunner {
  private readonly logger: ElectionLogger;

  constructor(
    @Inject(RESOLVED_LEADER_ELECTION_OPTIONS) options: ResolvedLeaderElectionOptions,
    private readonly registry: LeaderElectionRegistry,
    private readonly work: LeaderWorkTracker,
  ) {
    this.logger = electionLogger(options);
  }

  /**
   * Runs `task` each time this replica becomes leader of the lease, for that tenure (the programmatic
   * form of @LeaderTask; see core runWhileLeader for the rules). The task receives the tenure (term,
   * AbortSignal, isActive()) and runs inside the leadership context (currentLeadership() works). At
   * shutdown its signal aborts and the module waits for it (shutdownTimeoutMs) before releasing the
   * lease; a run still going then keeps the lease from being released. Declares the lease.
   */
  runWhileLeader(
    task: (leadership: Leadership) => unknown,
    options: LeaderTaskOptions & { name?: string } = {},
  ): LeaderTaskHandle {
    if (this.registry.isShuttingDown)
      throw new ElectorStoppedError(
        undefined,
        'LeaderElectionService.runWhileLeader: the application is shutting down',
      );
    refuseUnknownDecoratorKeys('runWhileLeader()', options, [...LEADER_TASK_OPTION_KEYS, 'name']);
    const elector = this.registry.electorFor(options.leaseName);
    const name = options.name ?? 'leader task';
    const failures = new FailureLog(this.logger);
    const handle = runTaskWhileLeader(
      elector,
      (leadership) =>
        failures.watch(() =>
          leadershipStorage.run(
            // A root frame: no @LeaderOnly call shares its instance, so it never makes a call re-entry.
            contextOf(leadership, { instance: handleKey, handlerName: name, parent: undefined, openRuns: 0 }),
            () =>
              untilTenureEnds(task(leadership), leadership.signal, {
                logger: this.logger,
                name,
                deferCut: (cut) => this.work.cutWhenDrainGivesUp(elector.leaseName, cut),
              }),
          ),
        ),
      {
        name,
        onError: options.onError,
        restartDelayMs: options.restartDelayMs,
        maxRestartDelayMs: options.maxRestartDelayMs,
        logger: failures.logger,
      },
    );
    this.work.addTask(elector.leaseName, handle);
    return handle;
  }

  /**
   * Calls a provider's OnLeadershipAcquired / OnLeadershipLost / OnLeaderChanged methods for every
   * transition of the lease, in the elector's order. A hook that throws or rejects is logged; it
   * never stops the election. Called by the explorer; declares the lease.
   */
  addHooks(
    instance: Partial<OnLeadershipAcquired & OnLeadershipLost & OnLeaderChanged>,
    leaseName?: string,
    owner = 'provider',
  ): void {
    const elector = this.registry.electorFor(leaseName);
    const methods: Record<
      LeadershipEvent['type'],
      keyof (OnLeadershipAcquired & OnLeadershipLost & OnLeaderChanged)
    > = {
      acquired: 'onLeadershipAcquired',
      lost: 'onLeadershipLost',
      'leader-changed': 'onLeaderChanged',
    };
    const subscription = elector.events$.subscribe((event) => {
      const method = methods[event.type];
      const hook = instance[method] as ((event: LeadershipEvent) => unknown) | undefined;
      if (typeof hook !== 'function') return;
      const fail = (error: unknown): void => {
        const failure = describeFailure(error);
        this.logger.error(
          `${owner}.${method} for "${event.leaseName}" failed (ignored; the election goes on): ` +
            `${failure.message}`,
          failure.stack,
        );
      };
      try {
        const result = hook.call(instance, event);
        if (isPromiseLike(result)) Promise.resolve(result).catch(fail);
      } catch (error) {
        fail(error);
      }
    });
    this.work.addSubscription(subscription);
  }
}
