import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { isObservable, merge, Observable, Subject, type Subscription } from 'rxjs';
import { LeaderElector, type Leadership, type LeadershipState } from '../core/leader-elector.js';
import { validateLeaseName } from '../core/election-options.js';
import { runWhileLeader as runTaskWhileLeader, type LeaderTaskHandle } from '../core/leader-task.js';
import type { LeadershipEvent } from '../core/leadership-events.js';
import type { LeaseMember } from '../core/presence.js';
import type { ElectionLogger } from '../core/logger.js';
import { safeLogger, silentLogger } from '../core/logger.js';
import { decoratedLeaseNames } from './leader-election-metadata.accessor.js';
import type { GatedCall, GatedRunEvent, LeaderGate, LeaderInfo } from './interfaces/leader-gate.interface.js';
import type { LeaderOnlyMetadata, LeaderOnlyOptions } from './interfaces/leader-only-options.interface.js';
import type {
  LeaderTaskOptions,
  OnLeaderChanged,
  OnLeadershipAcquired,
  OnLeadershipLost,
} from './interfaces/leader-work.interface.js';
import { RESOLVED_LEADER_ELECTION_OPTIONS } from './leader-election.constants.js';
import type { ResolvedLeaderElectionOptions } from './leader-election-options.resolver.js';
import {
  following,
  unknownLease,
  missedTimeoutFailed,
  overlapSkipped,
  skippedWhileFollowing,
  startupTimedOut,
} from './leader-election.messages.js';
import { leadershipStorage, type LeadershipContext } from './leadership-context.js';
import { RenewalThread } from '../renewal/renewal-thread.js';
import { ElectorStoppedError, InvalidElectionOptionError, UnknownLeaseError } from '../core/errors.js';
import { isRequestKind } from './utils/handler-kind.js';
import { notLeaderError } from './utils/not-leader-error.js';
import { isPromiseLike, learnShape, skippedResult } from './utils/return-shape.js';
import { cleanText, describeFailure } from './utils/failure-text.js';
import { fakeTimersWarning, globalTimersAreFaked } from './utils/fake-timers.js';

export type { GatedCall, GatedRunEvent, LeaderGate, LeaderInfo };

/**
 * Leadership as the application sees it: one election per declared lease (the default lease, every
 * @LeaderOnly lease, and leases joined explicitly with join()/electorFor(); reads never create one),
 * leadership checks, state and change streams, waiting for leadership, voluntary step-down.
 */
@Injectable()
export class LeaderElectionService implements LeaderGate, OnModuleDestroy {
  private readonly electors = new Map<string, LeaderElector>();
  private readonly runs = new Map<string, Set<Promise<unknown>>>();
  private readonly overlapping = new WeakMap<object, Set<string>>();
  private readonly skips = new Map<string, number>();
  private readonly skipsSinceChange = new Map<string, number>();
  private readonly handlerCounts = new Map<string, number>();
  private readonly overlapLoggedForTerm = new Map<string, number>();
  private readonly missedTimeouts = new Map<string, MissedTimeout[]>();
  private readonly transitionSubscriptions: Subscription[] = [];
  /** Leader tasks per lease (@LeaderTask methods and runWhileLeader calls): drained at shutdown. */
  private readonly tasks = new Map<string, Set<LeaderTaskHandle>>();
  private readonly logger: ElectionLogger;
  /** Extension points for metrics (see electorCreated$ and gatedRuns$). */
  private readonly electorCreatedSubject = new Subject<LeaderElector>();
  private readonly gatedRunsSubject = new Subject<GatedRunEvent>();
  private startedAll = false;
  private readonly startedLeases = new Set<string>();
  /** The process's renewal thread for this app (renewalThread option), created with the first election. */
  private renewal?: RenewalThread;
  private renewalDecided = false;
  private shuttingDown = false;
  private shutdownDone?: Promise<void>;

  constructor(
    @Inject(RESOLVED_LEADER_ELECTION_OPTIONS) private readonly options: ResolvedLeaderElectionOptions,
  ) {
    // Wrapped: a logger that throws must never break a tick, the loop or shutdown.
    this.logger = safeLogger(
      options.logger === false ? silentLogger : (options.logger ?? new Logger('LeaderElection')),
    );
  }

  /** This replica's identity. */
  get identity(): string {
    return this.options.identity;
  }

  get defaultLeaseName(): string {
    return this.options.defaultLeaseName;
  }

  /** Every lease this replica takes part in. */
  get leaseNames(): string[] {
    return [...this.electors.keys()];
  }

  /** Description of the lease store (never contains credentials). */
  get storeDescription(): string {
    return this.options.store.description;
  }

  /**
   * True only while this replica holds the lease and is inside its deadline (checked now). False for
   * a lease this replica does not take part in (reads never start an election).
   */
  isLeader(leaseName?: string): boolean {
    return this.declaredElector(leaseName)?.isLeader() ?? false;
  }

  /** The current tenure (term, AbortSignal), only while leader (undefined for an undeclared lease). */
  leadership(leaseName?: string): Leadership | undefined {
    return this.declaredElector(leaseName)?.leadership;
  }

  /** State of a declared lease; throws UnknownLeaseError for any other name. */
  getState(leaseName?: string): LeadershipState {
    return this.requireElector(leaseName).state;
  }

  getStates(): LeadershipState[] {
    return [...this.electors.values()].map((elector) => elector.state);
  }

  /** Current state, then every change of role, leader or term, of one declared lease. */
  state$(leaseName?: string): Observable<LeadershipState> {
    return this.requireElector(leaseName).state$;
  }

  /**
   * Transitions of one declared lease, in order: 'acquired', 'lost' (with its reason), 'leader-changed'
   * (see LeaderElector.events$). Not replayed. Throws UnknownLeaseError for an undeclared lease.
   */
  events$(leaseName?: string): Observable<LeadershipEvent> {
    return this.requireElector(leaseName).events$;
  }

  /** Changes of every lease this replica takes part in at the time of the call. */
  changes$(): Observable<LeadershipState> {
    return merge(...[...this.electors.values()].map((elector) => elector.state$));
  }

  /** Who leads, as last seen (undefined when nobody holds the lease or it is unknown). */
  currentLeader(leaseName?: string): LeaderInfo | undefined {
    const state = this.getState(leaseName);
    if (!state.leader) return undefined;
    return {
      leaseName: state.leaseName,
      identity: state.leader,
      term: state.term,
      self: state.role === 'leader',
    };
  }

  /** Resolves when this replica leads `leaseName` (at once if it does); rejects for an undeclared lease. */
  waitForLeadership(leaseName?: string, signal?: AbortSignal): Promise<Leadership> {
    try {
      return this.requireElector(leaseName).waitForLeadership(signal);
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  /** Gives up leadership of `leaseName` and stays out for `cooldownMs` (default one lease duration). */
  stepDown(leaseName?: string, options?: { cooldownMs?: number }): Promise<void> {
    try {
      return this.requireElector(leaseName).stepDown(options);
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  /**
   * Each election this service creates, as it is created (before it starts; not replayed: read
   * `leaseNames` / `electorFor()` for the ones that exist). An extension point (the metrics use it).
   */
  get electorCreated$(): Observable<LeaderElector> {
    return this.electorCreatedSubject.asObservable();
  }

  /** Every @LeaderOnly call as the gate decides it: run, or skipped with the reason. An extension point (the metrics use it). */
  get gatedRuns$(): Observable<GatedRunEvent> {
    return this.gatedRunsSubject.asObservable();
  }

  /** Number of @LeaderOnly runs in progress for a lease. */
  runningCount(leaseName?: string): number {
    return this.runs.get(this.nameOf(leaseName))?.size ?? 0;
  }

  /**
   * Number of @LeaderOnly calls of a lease skipped on this replica since it started (not leader,
   * overlapping, or shutting down). Followers log role changes, not each skipped tick: this count
   * is where the skips show (e.g. in a metrics or health endpoint).
   */
  skippedCount(leaseName?: string): number {
    return this.skips.get(this.nameOf(leaseName)) ?? 0;
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
    if (this.shuttingDown)
      throw new ElectorStoppedError(
        undefined,
        'LeaderElectionService.runWhileLeader: the application is shutting down',
      );
    const elector = this.electorFor(options.leaseName);
    const name = options.name ?? 'leader task';
    const failures = new FailureLog(this.logger);
    const handle = runTaskWhileLeader(
      elector,
      (leadership) =>
        failures.watch(() =>
          leadershipStorage.run(
            contextOf(leadership, { instance: handleKey, handlerName: name, parent: undefined }),
            () => untilTenureEnds(task(leadership), leadership.signal),
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
    let set = this.tasks.get(elector.leaseName);
    if (!set) this.tasks.set(elector.leaseName, (set = new Set()));
    set.add(handle);
    return handle;
  }

  /**
   * The live members of a lease (presence records refreshed within the staleness bound), best first:
   * identity, priority, canLead, startedAt, lastSeenAgoMs, role, self. Lists at most once per presence
   * interval. Rejects when presence is off.
   */
  members(leaseName?: string): Promise<LeaseMember[]> {
    try {
      return this.requireElector(leaseName).members();
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  /** The live members as of the last presence listing, without I/O; undefined when presence is off. */
  lastKnownMembers(leaseName?: string): LeaseMember[] | undefined {
    return this.declaredElector(leaseName)?.lastKnownMembers();
  }

  /**
   * Manual switchover: hands leadership of the lease to `identity`, a live member that can lead. This
   * tenure ends (signal aborted), its @LeaderOnly runs and leader tasks are awaited (shutdownTimeoutMs),
   * then the lease is released naming `identity` as successor: the others leave it to that member for
   * one preference window. Rejects when this replica does not lead or the member is not live.
   */
  yieldTo(identity: string, leaseName?: string): Promise<void> {
    try {
      return this.requireElector(leaseName).yieldTo(identity);
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  /**
   * The @LeaderOnly gate as a function wrapper, for jobs added at run time (SchedulerRegistry's
   * addCronJob / addInterval / addTimeout, setInterval): the wrapped function runs only on the leader,
   * skips an overlapping call (unless allowOverlap), runs inside the leadership context, and is
   * drained at shutdown like a decorated method. A skipped call returns undefined (or a resolved
   * Promise once the function has returned one). Declares the lease.
   *
   *   this.schedulerRegistry.addInterval('sync', setInterval(this.election.leaderOnly(() => this.sync(), { name: 'sync' }), 5_000));
   */
  leaderOnly<A extends unknown[], R>(
    fn: (...args: A) => R,
    options: LeaderOnlyOptions & { name?: string } = {},
  ): (...args: A) => R | undefined {
    if (typeof fn !== 'function') throw new InvalidElectionOptionError('leaderOnly fn', fn, 'a function');
    if (options.leaseName !== undefined) validateLeaseName(options.leaseName, 'leaderOnly leaseName');
    this.electorFor(options.leaseName);
    const metadata: LeaderOnlyMetadata = {
      leaseName: options.leaseName,
      allowOverlap: options.allowOverlap ?? false,
      runMissedTimeout: false,
      handlerName: options.name ?? (fn.name || 'dynamic job'),
    };
    const owner = {}; // overlap is per wrapped function
    const info: GatedCall = { kind: 'background', shape: { promise: false, observable: false } };
    return (...args: A) => this.runGated(metadata, owner, () => fn(...args), info) as R | undefined;
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
    const elector = this.electorFor(leaseName);
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
          `${owner}.${method} for "${event.leaseName}" failed (ignored; the election goes on): ${failure.message}`,
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
    this.transitionSubscriptions.push(subscription);
  }

  /**
   * Takes part in the election of `leaseName` (declares it, starts it once the module has started)
   * and resolves after its first attempt, bounded by startupTimeoutMs. The explicit way to use a
   * lease that no @LeaderOnly names; reads of other names never start an election.
   */
  async join(leaseName: string): Promise<LeaderElector> {
    const elector = this.electorFor(leaseName);
    if (this.isStarted(elector.leaseName) && !this.shuttingDown) await this.startOne(elector);
    return elector;
  }

  /**
   * The election for `leaseName`, created (and started, once the module started) on first use.
   * An explicit declaration, like join(): never pass names that come from input.
   */
  electorFor(leaseName?: string): LeaderElector {
    const name = this.leaseNameOf(leaseName);
    let elector = this.electors.get(name);
    if (!elector) {
      const electionOptions = { ...this.options.timings, leaseName: name, identity: this.options.identity };
      elector = this.options.createElector
        ? this.options.createElector(electionOptions, { logger: this.logger })
        : new LeaderElector(this.options.store, electionOptions, {
            logger: this.logger,
            renewalDelegate: this.renewalThread(),
            // A hand-over (yieldTo, failback) waits for the tenure's work like a shutdown does.
            beforeHandover: () => this.drainWork(name, Date.now() + this.options.shutdownTimeoutMs),
          });
      this.electors.set(name, elector);
      this.watchTransitions(elector);
      this.electorCreatedSubject.next(elector);
      if (this.isStarted(name) && !this.shuttingDown) void this.startOne(elector);
    }
    return elector;
  }

  /** Records how many @LeaderOnly handlers use each lease (for the follower's log line). Called by the explorer. */
  registerHandlers(counts: ReadonlyMap<string, number>): void {
    for (const [name, count] of counts)
      this.handlerCounts.set(name, (this.handlerCounts.get(name) ?? 0) + count);
  }

  /**
   * Called by the explorer at init: declares the default lease and the decorated ones, then joins
   * their elections unless `autoStart` is false (the app then calls start() when it is ready).
   */
  async boot(leaseNames: Iterable<string>): Promise<void> {
    if (this.shuttingDown) return this.start();
    this.electorFor();
    for (const name of leaseNames) this.electorFor(name);
    // The testing kit (createElector) creates no timers; the real module's renewals need real turns.
    if (!this.options.createElector && globalTimersAreFaked()) this.logger.warn(fakeTimersWarning());
    if (this.options.autoStart) return this.start();
    this.logger.log(
      `Leader election not started (autoStart: false): leader-only work skips until LeaderElectionService.start() is called`,
    );
  }

  /**
   * Joins the elections: every declared lease (no argument; later declarations then start at once),
   * or only the named lease(s), declaring them. Resolves after their first attempt, bounded by
   * startupTimeoutMs, so a replica that can lead does so before the first scheduled tick; a storage
   * outage never makes it reject. The module calls it at boot unless `autoStart` is false.
   */
  async start(leaseNames?: string | Iterable<string>): Promise<void> {
    if (this.shuttingDown) {
      // app.close() ran while another module's init was still pending: the destroy hooks have run
      // already, so an election started now would never be stopped (a zombie holding the lease).
      this.logger.log('Not starting leader election: the application is already shutting down');
      return;
    }
    let electors: LeaderElector[];
    if (leaseNames === undefined) {
      this.electorFor();
      this.startedAll = true;
      electors = [...this.electors.values()];
    } else {
      const names = typeof leaseNames === 'string' ? [leaseNames] : [...leaseNames];
      electors = names.map((name) => this.electorFor(name));
      for (const elector of electors) this.startedLeases.add(elector.leaseName);
    }
    this.logger.log(
      `Starting leader election as "${this.identity}" on ${this.options.store.description} for lease(s) ${electors.map((elector) => `"${elector.leaseName}"`).join(', ')}`,
    );
    await Promise.all(electors.map((elector) => this.startOne(elector)));
  }

  /** False until start() (or the boot, with autoStart) joined this lease's election. */
  isStarted(leaseName?: string): boolean {
    return this.startedAll || this.startedLeases.has(this.nameOf(leaseName));
  }

  private async startOne(elector: LeaderElector): Promise<void> {
    const timeoutMs = this.options.startupTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
      timer.unref();
    });
    try {
      const outcome = await Promise.race([elector.start().then(() => 'started' as const), timedOut]);
      if (outcome === 'timeout') this.logger.warn(startupTimedOut(elector.leaseName, timeoutMs));
    } catch (error) {
      const failure = describeFailure(error);
      this.logger.error(
        `Could not start the election for "${elector.leaseName}": ${failure.message}`,
        failure.stack,
      );
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Shutdown: close the gate (no new gated runs), stop polling, abort leadership signals, wait
   * (bounded) for runs in flight, then release held leases so a follower takes over within one poll.
   * Idempotent. The explorer calls it from the first onModuleDestroy hook Nest runs (before the
   * application's own modules are destroyed, see LeaderElectionExplorer); onModuleDestroy here is
   * the fallback.
   */
  shutdown(): Promise<void> {
    this.shuttingDown = true;
    this.shutdownDone ??= this.stopElections();
    return this.shutdownDone;
  }

  private async stopElections(): Promise<void> {
    const drainDeadline = Date.now() + this.options.shutdownTimeoutMs;
    await Promise.allSettled(
      [...this.electors.values()].map((elector) =>
        elector.stop({
          release: this.options.releaseOnShutdown,
          beforeRelease: () => this.drainWork(elector.leaseName, drainDeadline),
        }),
      ),
    );
    for (const subscription of this.transitionSubscriptions) subscription.unsubscribe();
    for (const set of this.tasks.values()) for (const handle of set) handle.dispose();
    await this.renewal?.close();
  }

  async onModuleDestroy(): Promise<void> {
    await this.shutdown();
    if (this.options.ownsStore) await this.options.store.close?.();
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
  runGated(metadata: LeaderOnlyMetadata, instance: object, call: () => unknown, info: GatedCall): unknown {
    const elector = this.electorFor(metadata.leaseName); // a @LeaderOnly lease is declared by code
    const request = isRequestKind(info.kind);
    if (this.shuttingDown) return this.skip(elector, info, 'shutdown');
    const leadership = elector.leadership;
    if (!leadership) {
      if (info.kind === 'timeout' && metadata.runMissedTimeout)
        this.rememberMissedTimeout(elector, metadata, instance, call, info);
      return this.skip(elector, info);
    }
    const frame: RunFrame = { instance, handlerName: metadata.handlerName, parent: currentFrame() };
    const slot =
      request || metadata.allowOverlap || isReentry(frame)
        ? undefined
        : this.takeSlot(instance, metadata.handlerName);
    if (slot === null) return this.skipOverlap(elector, metadata, info);
    const context = contextOf(leadership, frame);
    const finish = this.startRun(elector.leaseName, slot);
    let result: unknown;
    try {
      result = leadershipStorage.run(context, call);
    } catch (error) {
      finish();
      throw error;
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
      if (this.shuttingDown || !context.isActive()) {
        try {
          this.skip(elector, info, this.shuttingDown ? 'shutdown' : 'not_leader');
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
      const finish = this.startRun(elector.leaseName, slot);
      const subscription = leadershipStorage.run(context, () =>
        source.subscribe({
          next: (value) => subscriber.next(value),
          error: (error: unknown) => {
            finish();
            subscriber.error(error);
          },
          complete: () => {
            finish();
            subscriber.complete();
          },
        }),
      );
      return () => {
        subscription.unsubscribe();
        finish();
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
    if (isRequestKind(info.kind))
      throw notLeaderError(
        info.kind,
        elector.state,
        Math.max(1, Math.ceil(elector.options.retryIntervalMs / 1000)),
      );
    return skippedResult(info.shape);
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

  private startRun(leaseName: string, slot: OverlapSlot | undefined): () => void {
    const done = this.trackRun(leaseName);
    if (this.gatedRunsSubject.observed) this.gatedRunsSubject.next({ leaseName, outcome: 'run' });
    let finished = false;
    return () => {
      if (finished) return;
      finished = true;
      slot?.running.delete(slot.handlerName);
      done();
    };
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
      }
      last = { role: state.role, leader: state.leader };
    });
    this.transitionSubscriptions.push(subscription);
  }

  /** The renewal thread, when the renewalThread option asks for one and a connection string allows it. */
  private renewalThread(): RenewalThread | undefined {
    if (this.renewalDecided) return this.renewal;
    this.renewalDecided = true;
    const setting = this.options.renewalThread;
    if (!setting) return undefined;
    if ('fallback' in setting) {
      this.logger.warn(`renewalThread: ${setting.fallback}`);
      return undefined;
    }
    this.renewal = new RenewalThread({ ...setting, logger: this.logger });
    this.renewal.ready.catch((error: unknown) => {
      const failure = describeFailure(error);
      this.logger.error(`renewalThread: the renewal thread did not start: ${failure.message}`, failure.stack);
    });
    this.logger.log(
      `Renewing leases on a worker thread; it stops renewing once the main thread has not run for more than ${setting.maxBlockedMs} ms`,
    );
    return this.renewal;
  }

  /** The election of a declared lease (the default one, any @LeaderOnly one, or joined), never a new one for another name. */
  private declaredElector(leaseName: string | undefined): LeaderElector | undefined {
    const name = leaseName ?? this.options.defaultLeaseName;
    const elector = this.electors.get(name);
    if (elector) return elector;
    if (name === this.options.defaultLeaseName || decoratedLeaseNames.has(name)) return this.electorFor(name);
    return undefined;
  }

  private requireElector(leaseName: string | undefined): LeaderElector {
    const elector = this.declaredElector(leaseName);
    if (!elector)
      throw new UnknownLeaseError(
        String(leaseName),
        this.leaseNames,
        unknownLease(String(leaseName), this.leaseNames),
      );
    return elector;
  }

  private nameOf(leaseName: string | undefined): string {
    return leaseName ?? this.options.defaultLeaseName;
  }

  private trackRun(leaseName: string): () => void {
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

  /**
   * Waits (until `deadline`) for the ended tenure's work: @LeaderOnly runs and leader tasks. Resolves
   * false when some is still running then: the lease must not be released (a follower could start
   * beside that work); it expires by itself instead (LeaderElector.stop logs which happened).
   */
  private async drainWork(leaseName: string, deadline: number): Promise<boolean> {
    const runs = [...(this.runs.get(leaseName) ?? [])];
    const tasks = [...(this.tasks.get(leaseName) ?? [])].filter((handle) => handle.running);
    if (runs.length === 0 && tasks.length === 0) return true;
    const left = Math.max(0, deadline - Date.now());
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      Promise.all([Promise.allSettled(runs), ...tasks.map((handle) => handle.whenIdle())]).then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), left))),
    ]);
    clearTimeout(timer);
    if (!drained) {
      const stillRunning =
        (this.runs.get(leaseName)?.size ?? 0) + tasks.filter((handle) => handle.running).length;
      this.logger.warn(
        `${stillRunning} @LeaderOnly run(s) or leader task(s) of "${leaseName}" still running ${this.options.shutdownTimeoutMs} ms after their AbortSignal was aborted; the lease is left to expire instead of being released`,
      );
    }
    return drained;
  }

  private leaseNameOf(leaseName: string | undefined): string {
    return leaseName === undefined ? this.options.defaultLeaseName : validateLeaseName(leaseName);
  }
}

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

/**
 * The chain of gated runs of the current async context, to tell re-entry (recursion) from overlap.
 * Kept on the run's leadership context under a private symbol (one AsyncLocalStorage for both).
 */
interface RunFrame {
  instance: object;
  handlerName: string;
  parent: RunFrame | undefined;
}

const RUN_FRAME = Symbol('nestjs-leader-election:run-frame');

/** The frame owner of leader-task runs (they are never nested in gated runs' overlap checks). */
const handleKey = {};

function currentFrame(): RunFrame | undefined {
  return (leadershipStorage.getStore() as { [RUN_FRAME]?: RunFrame } | undefined)?.[RUN_FRAME];
}

function isReentry(frame: RunFrame): boolean {
  for (let outer = frame.parent; outer; outer = outer.parent) {
    if (outer.instance === frame.instance && outer.handlerName === frame.handlerName) return true;
  }
  return false;
}

/**
 * The core's runWhileLeader logs a failed run as one line (message only): this remembers the error
 * the run threw and adds its stack and cause chain to that line, as Nest's Logger.error(message,
 * stack) shows them. Messages are redacted like the stack.
 */
class FailureLog {
  private last: unknown;
  private failed = false;
  readonly logger: ElectionLogger;

  constructor(target: ElectionLogger) {
    this.logger = {
      debug: (message) => target.debug?.(cleanText(message)),
      log: (message) => target.log(cleanText(message)),
      warn: (message) => target.warn(cleanText(message)),
      error: (message, stack) => {
        const remembered = this.failed ? describeFailure(this.last).stack : undefined;
        this.failed = false;
        this.last = undefined;
        target.error(cleanText(message), stack ?? remembered);
      },
    };
  }

  watch(run: () => unknown): unknown {
    this.failed = false;
    this.last = undefined;
    const remember = (error: unknown): never => {
      this.failed = true;
      this.last = error;
      throw error;
    };
    try {
      const result = run();
      return isPromiseLike(result) ? Promise.resolve(result).catch(remember) : result;
    } catch (error) {
      return remember(error);
    }
  }
}

/**
 * A task's Observable is its run: subscribed now (inside the leadership context), over when it
 * completes or errors, and unsubscribed when the tenure's signal aborts. Anything else is returned as is.
 */
function untilTenureEnds(result: unknown, signal: AbortSignal): unknown {
  if (!isObservable(result)) return result;
  return new Promise<void>((resolve, reject) => {
    const end = (): void => {
      subscription.unsubscribe();
      resolve();
    };
    const subscription = result.subscribe({
      error: (error: unknown) => {
        signal.removeEventListener('abort', end);
        reject(error as Error);
      },
      complete: () => {
        signal.removeEventListener('abort', end);
        resolve();
      },
    });
    if (signal.aborted) end();
    else if (!subscription.closed) signal.addEventListener('abort', end, { once: true });
  });
}

function contextOf(leadership: Leadership, frame: RunFrame): LeadershipContext {
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
