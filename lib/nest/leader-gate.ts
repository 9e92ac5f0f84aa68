import { Inject, Injectable } from '@nestjs/common';
import { isObservable, Observable, Subject } from 'rxjs';
import { validateLeaseName } from '../core/election-options.js';
import { InvalidElectionOptionError, LeaderElectionSetupError } from '../core/errors.js';
import type { LeaderElector } from '../core/leader-elector.js';
import type { ElectionLogger } from '../core/logger.js';
import type { GatedCall, GatedRunEvent, LeaderGate } from './interfaces/leader-gate.interface.js';
import type { LeaderOnlyMetadata, LeaderOnlyOptions } from './interfaces/leader-only-options.interface.js';
import { RESOLVED_LEADER_ELECTION_OPTIONS } from './leader-election.constants.js';
import {
  asyncIterableRefused,
  following,
  missedTimeoutFailed,
  overlapSkipped,
  skippedWhileFollowing,
} from './leader-election.messages.js';
import type { ResolvedLeaderElectionOptions } from './leader-election-options.resolver.js';
import { CatchUpJobs, type CatchUpJob } from './catch-up.js';
import { LeaderElectionRegistry } from './leader-election.registry.js';
import { leadershipStorage, type LeadershipContext } from './leadership-context.js';
import { LeaderWorkTracker } from './leader-work.tracker.js';
import { contextOf, currentFrame, isReentry, type RunFrame } from './run-frame.js';
import { electionLogger } from './utils/election-logger.js';
import { describeFailure } from './utils/failure-text.js';
import { decoratorBoolean, refuseUnknownDecoratorKeys } from './utils/decorator-options.js';
import { isRequestKind } from './utils/handler-kind.js';
import { notLeaderError } from './utils/not-leader-error.js';
import { isAsyncIterable, isPromiseLike, learnShape, skippedResult } from './utils/return-shape.js';
import { drainsBeforeRelease, onTenureEnd, unsubscribeQuietly } from './utils/task-run.js';

/**
 * The @LeaderOnly gate of this app: decides each gated call (run, or skip: not leader, overlap,
 * shutdown), keeps the overlap slots and the missed @Timeout runs, counts skips, and logs role
 * changes instead of skipped ticks. @LeaderOnly wrappers reach it through their instance (LEADER_GATE,
 * set by the explorer). gatedRuns$ is the extension point the metrics binding uses.
 */
@Injectable()
export class LeaderGateRunner implements LeaderGate {
  private readonly overlapping = new WeakMap<object, Set<string>>();
  private readonly skips = new Map<string, number>();
  private readonly skipsSinceChange = new Map<string, number>();
  private readonly handlerCounts = new Map<string, number>();
  private readonly overlapLoggedForTerm = new Map<string, number>();
  private readonly missedTimeouts = new Map<string, MissedTimeout[]>();
  private readonly gatedRunsSubject = new Subject<GatedRunEvent>();
  private readonly logger: ElectionLogger;
  private readonly catchUp: CatchUpJobs;

  constructor(
    @Inject(RESOLVED_LEADER_ELECTION_OPTIONS) options: ResolvedLeaderElectionOptions,
    private readonly registry: LeaderElectionRegistry,
    private readonly work: LeaderWorkTracker,
  ) {
    this.logger = electionLogger(options);
    this.catchUp = new CatchUpJobs(
      options.store,
      this.logger,
      (leaseName) => registry.electorFor(leaseName).options.requestTimeoutMs,
    );
    // Elections created before this provider (electorFor() in another constructor), then the rest.
    for (const name of registry.leaseNames) this.watchTransitions(registry.electorFor(name));
    work.addSubscription(registry.electorCreated$.subscribe((elector) => this.watchTransitions(elector)));
  }

  /**
   * Every @LeaderOnly call as the gate decides it: run, or skipped with the reason. The extension point the
   * metrics binding uses.
   */
  get gatedRuns$(): Observable<GatedRunEvent> {
    return this.gatedRunsSubject.asObservable();
  }

  /** See LeaderElectionService.skippedCount. */
  skippedCount(leaseName?: string): number {
    return this.skips.get(this.registry.nameOf(leaseName)) ?? 0;
  }

  /** Counts the @LeaderOnly handlers of each lease (for the follower's log line). Called by the explorer. */
  registerHandlers(counts: ReadonlyMap<string, number>): void {
    for (const [name, count] of counts)
      this.handlerCounts.set(name, (this.handlerCounts.get(name) ?? 0) + count);
  }

  /** A @Cron method with @LeaderOnly({ catchUp }), from the explorer (refused on a store without ledger). */
  registerCatchUp(job: CatchUpJob): void {
    this.catchUp.register(job);
  }

  /**
   * The @LeaderOnly gate as a function wrapper, for jobs added at run time (SchedulerRegistry's
   * addCronJob / addInterval / addTimeout, setInterval): the wrapped function runs only on the leader,
   * skips an overlapping call (unless allowOverlap), runs inside the leadership context, and is
   * drained at shutdown like a decorated method. A skipped call returns undefined (or a resolved
   * Promise once the function has returned one). Declares the lease.
   *
   *   const sync = this.election.leaderOnly(() => this.sync(), { name: 'sync' });
   *   this.schedulerRegistry.addInterval('sync', setInterval(sync, 5_000));
   */
  leaderOnly<A extends unknown[], R>(
    fn: (...args: A) => R,
    options: LeaderOnlyOptions & { name?: string } = {},
  ): (...args: A) => R | undefined {
    if (typeof fn !== 'function') throw new InvalidElectionOptionError('leaderOnly fn', fn, 'a function');
    // Checked like the decorator's: a misspelt key or allowOverlap: "false" must not pass unread.
    refuseUnknownDecoratorKeys('leaderOnly()', options, [...LEADER_ONLY_FUNCTION_KEYS]);
    if (options.leaseName !== undefined) validateLeaseName(options.leaseName, 'leaderOnly leaseName');
    const allowOverlap = decoratorBoolean('leaderOnly()', 'allowOverlap', options.allowOverlap, false);
    this.registry.electorFor(options.leaseName);
    const metadata: LeaderOnlyMetadata = {
      leaseName: options.leaseName,
      allowOverlap,
      runMissedTimeout: false,
      handlerName: options.name ?? (fn.name || 'dynamic job'),
    };
    const owner = {}; // overlap is per wrapped function
    const info: GatedCall = { kind: 'background', shape: { promise: false, observable: false } };
    return (...args: A) => this.runGated(metadata, owner, () => fn(...args), info) as R | undefined;
  }

  /**
   * Called by @LeaderOnly wrappers. Runs `call` only while this replica leads the method's lease.
   *
   * Request handlers (routes, message patterns, resolvers, gateway messages: `call.kind`) are never
   * skipped silently: a follower throws the transport's not-leader error, and overlap protection
   * does not apply to them (two concurrent requests are two different calls, not a late tick).
   * Background calls are skipped (counted, not logged per call) when not leader, when the previous
   * run of the same method on the same instance is still going (unless allowOverlap), and during
   * shutdown; a nested call from inside the method's own run is re-entry, not overlap.
   */
  runGated(
    metadata: LeaderOnlyMetadata,
    instance: object,
    call: () => unknown,
    info: GatedCall,
    /** A catch-up run's tick (else a catchUp job's tick is the latest scheduled instant up to now). */
    tickAt?: number,
  ): unknown {
    const elector = this.registry.electorFor(metadata.leaseName); // a @LeaderOnly lease is declared by code
    const request = isRequestKind(info.kind);
    if (this.registry.isShuttingDown) return this.skip(elector, info, 'shutdown');
    const leadership = elector.leadership;
    if (!leadership) {
      if (info.kind === 'timeout' && metadata.runMissedTimeout)
        this.rememberMissedTimeout(elector, metadata, instance, call, info);
      if (this.catchUp.isCatchUpJob(metadata)) this.catchUp.noteSkipped(metadata);
      return this.skip(elector, info);
    }
    const frame: RunFrame = {
      instance,
      handlerName: metadata.handlerName,
      parent: currentFrame(),
      openRuns: 0,
    };
    const slot =
      request || metadata.allowOverlap || isReentry(frame)
        ? undefined
        : this.takeSlot(instance, metadata.handlerName);
    if (slot === null) return this.skipOverlap(elector, metadata, info);
    const context = contextOf(leadership, frame);
    if (!request && this.catchUp.isCatchUpJob(metadata))
      return this.runRecordedTick(elector, metadata, slot, frame, context, call, info, tickAt);
    const finish = this.startRun(elector.leaseName, slot, frame);
    let result: unknown;
    try {
      result = leadershipStorage.run(context, call);
    } catch (error) {
      finish();
      throw error;
    }
    if (isAsyncIterable(result)) {
      finish(); // refused: its iteration could not end with the tenure (docs/leader-work.md)
      throw new LeaderElectionSetupError(asyncIterableRefused(metadata.handlerName, '@LeaderOnly'));
    }
    learnShape(info.shape, result);
    if (isObservable(result)) {
      finish(); // the call itself is over; each subscription is a run of its own
      return this.gateObservable(result, elector, metadata, info, context, frame);
    }
    if (isPromiseLike(result)) return Promise.resolve(result).finally(finish);
    finish();
    return result;
  }

  /**
   * A catchUp job's tick: recorded in the tick ledger under this tenure's term BEFORE the call starts,
   * and not run when the record says it started already (here or on an earlier leader) or cannot be
   * written (at most once: an unrecorded run could run again on the next leader). The ledger write
   * is tracked as the tenure's work, so a release waits for it like for the run.
   */
  private async runRecordedTick(
    elector: LeaderElector,
    metadata: LeaderOnlyMetadata,
    slot: OverlapSlot | undefined,
    frame: RunFrame,
    context: LeadershipContext,
    call: () => unknown,
    info: GatedCall,
    tickAt: number | undefined,
  ): Promise<unknown> {
    const finish = this.startRun(elector.leaseName, slot, frame, false);
    try {
      const tick = tickAt ?? this.catchUp.tickNow(metadata);
      const outcome =
        tick === undefined
          ? 'ledger_unavailable'
          : await this.catchUp.claim(elector.leaseName, metadata, tick, context.term, context.signal);
      if (outcome !== 'claimed')
        return this.skip(
          elector,
          info,
          outcome === 'already_run' ? 'tick_already_run' : 'ledger_unavailable',
        );
      // Recorded, yet the tenure may have ended during the write: the tick is then not run (at most once).
      if (this.registry.isShuttingDown || !context.isActive())
        return this.skip(elector, info, this.registry.isShuttingDown ? 'shutdown' : 'not_leader');
      this.announceRun(elector.leaseName);
      const result = leadershipStorage.run(context, call);
      learnShape(info.shape, result);
      return isPromiseLike(result) ? await result : result;
    } finally {
      finish();
    }
  }

  /**
   * An Observable runs when subscribed (Nest subscribes to a route's Observable after the handler
   * returned), so each subscription is checked, counted as a run until it completes, errors or is
   * unsubscribed, and runs inside the leadership context.
   */
  private gateObservable(
    source: Observable<unknown>,
    elector: LeaderElector,
    metadata: LeaderOnlyMetadata,
    info: GatedCall,
    context: LeadershipContext,
    frame: RunFrame,
  ): Observable<unknown> {
    return new Observable<unknown>((subscriber) => {
      if (this.registry.isShuttingDown || !context.isActive()) {
        try {
          this.skip(elector, info, this.registry.isShuttingDown ? 'shutdown' : 'not_leader');
          subscriber.complete();
        } catch (error) {
          subscriber.error(error);
        }
        return undefined;
      }
      const slot =
        isRequestKind(info.kind) || metadata.allowOverlap || isReentry(frame)
          ? undefined
          : this.takeSlot(frame.instance, metadata.handlerName);
      if (slot === null) {
        this.skipOverlap(elector, metadata, info);
        subscriber.complete();
        return undefined;
      }
      const finish = this.startRun(elector.leaseName, slot, frame);
      let detach = (): void => undefined;
      const subscription = leadershipStorage.run(context, () =>
        source.subscribe({
          next: (value) => subscriber.next(value),
          error: (error: unknown) => {
            detach();
            finish();
            subscriber.error(error);
          },
          complete: () => {
            detach();
            finish();
            subscriber.complete();
          },
        }),
      );
      // The run is the tenure's: when it ends, stop the source and end the subscriber (docs/leader-work.md).
      const cut = (): void => {
        unsubscribeQuietly(subscription, this.logger, metadata.handlerName);
        finish();
        if (isRequestKind(info.kind)) subscriber.error(this.notLeader(elector, info));
        else subscriber.complete();
      };
      if (!subscription.closed)
        detach = onTenureEnd(context.signal, () => {
          // Stop, step-down, hand-over: the lease is held until the drain ends, so the stream may finish
          // within it; it is cut when the drain gives up. A loss cuts it at once.
          if (drainsBeforeRelease(context.signal))
            return this.work.cutWhenDrainGivesUp(elector.leaseName, cut);
          cut();
        });
      return () => {
        detach();
        try {
          subscription.unsubscribe(); // a teardown error reaches the code that unsubscribes
        } finally {
          finish();
        }
      };
    });
  }

  /** A skipped call: an error for a request handler, else the promised shape (counted, not logged). */
  private skip(
    elector: LeaderElector,
    info: GatedCall,
    reason: GatedRunEvent['reason'] = 'not_leader',
  ): unknown {
    this.countSkip(elector.leaseName);
    if (this.gatedRunsSubject.observed)
      this.gatedRunsSubject.next({ leaseName: elector.leaseName, outcome: 'skipped', reason });
    if (isRequestKind(info.kind)) throw this.notLeader(elector, info);
    return skippedResult(info.shape);
  }

  /** The transport's not-leader error for a request (a skipped call, or a stream cut at tenure end). */
  private notLeader(elector: LeaderElector, info: GatedCall): Error {
    return notLeaderError(
      info.kind,
      elector.state,
      Math.max(1, Math.ceil(elector.options.retryIntervalMs / 1000)),
    );
  }

  private skipOverlap(elector: LeaderElector, metadata: LeaderOnlyMetadata, info: GatedCall): unknown {
    // One line per handler and tenure: a job slower than its schedule is worth knowing, not every tick.
    const term = elector.state.term ?? 0;
    const key = `${elector.leaseName}\u0000${metadata.handlerName}`;
    if (this.overlapLoggedForTerm.get(key) !== term) {
      this.overlapLoggedForTerm.set(key, term);
      this.logger.debug?.(overlapSkipped(metadata.handlerName));
    }
    return this.skip(elector, info, 'overlap');
  }

  private countSkip(leaseName: string): void {
    this.skips.set(leaseName, (this.skips.get(leaseName) ?? 0) + 1);
    this.skipsSinceChange.set(leaseName, (this.skipsSinceChange.get(leaseName) ?? 0) + 1);
  }

  /** null when the method is already running on this instance; else the slot to free when the run ends. */
  private takeSlot(instance: object, handlerName: string): OverlapSlot | null {
    let running = this.overlapping.get(instance);
    if (!running) this.overlapping.set(instance, (running = new Set()));
    if (running.has(handlerName)) return null;
    running.add(handlerName);
    return { running, handlerName };
  }

  /** A run begins: tracked for the drain, its frame open (re-entry) until the returned finish is called. */
  private startRun(
    leaseName: string,
    slot: OverlapSlot | undefined,
    frame: RunFrame,
    announce = true,
  ): () => void {
    const done = this.work.trackRun(leaseName);
    if (announce) this.announceRun(leaseName);
    frame.openRuns++;
    let finished = false;
    return () => {
      if (finished) return;
      finished = true;
      frame.openRuns--;
      slot?.running.delete(slot.handlerName);
      done();
    };
  }

  private announceRun(leaseName: string): void {
    if (this.gatedRunsSubject.observed) this.gatedRunsSubject.next({ leaseName, outcome: 'run' });
  }

  /**
   * A @Timeout tick skipped because this replica was a follower (e.g. a pod started by a rolling
   * deploy while the old pod still led) runs once when this replica first becomes leader of the
   * lease: a one-shot job that ran on the old version should run on the new one too. Opt out with
   * @LeaderOnly({ runMissedTimeout: false }).
   */
  private rememberMissedTimeout(
    elector: LeaderElector,
    metadata: LeaderOnlyMetadata,
    instance: object,
    call: () => unknown,
    info: GatedCall,
  ): void {
    let pending = this.missedTimeouts.get(elector.leaseName);
    if (!pending) this.missedTimeouts.set(elector.leaseName, (pending = []));
    if (pending.some((entry) => entry.instance === instance && entry.metadata === metadata)) return;
    pending.push({ instance, metadata, call, info });
  }

  private runMissedTimeouts(leaseName: string): void {
    const pending = this.missedTimeouts.get(leaseName);
    if (!pending?.length) return;
    this.missedTimeouts.delete(leaseName);
    // Outside the elector's state emission: user code must not run inside the election loop.
    setTimeout(() => {
      for (const entry of pending) {
        const fail = (error: unknown): void => {
          const failure = describeFailure(error);
          this.logger.error(missedTimeoutFailed(entry.metadata.handlerName, failure.message), failure.stack);
        };
        try {
          const result = this.runGated(entry.metadata, entry.instance, entry.call, entry.info);
          if (isPromiseLike(result)) Promise.resolve(result).catch(fail);
        } catch (error) {
          fail(error);
        }
      }
    }, 0).unref?.();
  }

  /**
   * Followers log role changes, not ticks: one line when this replica starts following a leader
   * (naming it and how many leader-only handlers skip here), one when it leads after skipping runs.
   */
  private watchTransitions(elector: LeaderElector): void {
    let last: { role: string; leader?: string } = { role: 'idle' };
    const subscription = elector.state$.subscribe((state) => {
      const name = elector.leaseName;
      if (
        state.role === 'follower' &&
        state.leader &&
        (last.role !== 'follower' || last.leader !== state.leader)
      ) {
        this.logger.log(following(name, state.leader, this.handlerCounts.get(name) ?? 0));
        this.skipsSinceChange.set(name, 0);
      } else if (state.role === 'leader' && last.role !== 'leader') {
        const skipped = this.skipsSinceChange.get(name) ?? 0;
        if (skipped > 0) this.logger.log(skippedWhileFollowing(name, skipped));
        this.skipsSinceChange.set(name, 0);
        this.runMissedTimeouts(name);
        const leadership = elector.leadership;
        // After the emission: user code must not run inside the election loop.
        if (leadership)
          void Promise.resolve()
            .then(() => this.catchUp.runMissedTicks(name, leadership.signal))
            .catch((error: unknown) => this.logger.error(describeFailure(error).message));
      }
      last = { role: state.role, leader: state.leader };
    });
    this.work.addSubscription(subscription);
  }
}

/** The options leaderOnly(fn, options) takes (runMissedTimeout is for decorated @Timeout methods only). */
const LEADER_ONLY_FUNCTION_KEYS = ['leaseName', 'allowOverlap', 'name'] as const;

interface OverlapSlot {
  running: Set<string>;
  handlerName: string;
}

interface MissedTimeout {
  instance: object;
  metadata: LeaderOnlyMetadata;
  call: () => unknown;
  info: GatedCall;
}
