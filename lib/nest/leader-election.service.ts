import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { merge, type Observable } from 'rxjs';
import { LeaderElector, type Leadership, type LeadershipState } from '../core/leader-elector.js';
import { validateLeaseName } from '../core/election-options.js';
import type { ElectionLogger } from '../core/logger.js';
import { safeLogger, silentLogger } from '../core/logger.js';
import type { LeaderOnlyMetadata } from './interfaces/leader-only-options.interface.js';
import { RESOLVED_LEADER_ELECTION_OPTIONS } from './leader-election.constants.js';
import type { ResolvedLeaderElectionOptions } from './leader-election-options.resolver.js';
import { skippedNotLeader, skippedOverlap, skippedShuttingDown, startupTimedOut } from './leader-election.messages.js';
import { leadershipStorage, type LeadershipContext } from './leadership-context.js';
import { NotLeaderException } from './not-leader.exception.js';

/** How a @LeaderOnly wrapper reaches the election of its app (see LEADER_GATE). */
export interface LeaderGate {
  runGated(metadata: LeaderOnlyMetadata, instance: object, call: () => unknown, kind: { isRoute: boolean; isAsync: boolean }): unknown;
}

/** The current leader of a lease as this replica last saw it. */
export interface LeaderInfo {
  leaseName: string;
  identity: string;
  term: number | undefined;
  /** True when the leader is this replica. */
  self: boolean;
}

/**
 * Leadership as the application sees it: one election per lease name (created on first use),
 * leadership checks, state and change streams, waiting for leadership, voluntary step-down.
 */
@Injectable()
export class LeaderElectionService implements LeaderGate, OnModuleDestroy {
  private readonly electors = new Map<string, LeaderElector>();
  private readonly runs = new Map<string, Set<Promise<unknown>>>();
  private readonly overlapping = new WeakMap<object, Set<string>>();
  private readonly logger: ElectionLogger;
  private started = false;
  private shuttingDown = false;

  constructor(@Inject(RESOLVED_LEADER_ELECTION_OPTIONS) private readonly options: ResolvedLeaderElectionOptions) {
    // Wrapped: a logger that throws must never break a tick, the loop or shutdown.
    this.logger = safeLogger(options.logger === false ? silentLogger : (options.logger ?? new Logger('LeaderElection')));
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

  /** True only while this replica holds the lease and is inside its deadline (checked now). */
  isLeader(leaseName?: string): boolean {
    return this.electorFor(leaseName).isLeader();
  }

  /** The current tenure (term, AbortSignal), only while leader. */
  leadership(leaseName?: string): Leadership | undefined {
    return this.electorFor(leaseName).leadership;
  }

  getState(leaseName?: string): LeadershipState {
    return this.electorFor(leaseName).state;
  }

  getStates(): LeadershipState[] {
    return [...this.electors.values()].map((elector) => elector.state);
  }

  /** Current state, then every change of role, leader or term, of one lease. */
  state$(leaseName?: string): Observable<LeadershipState> {
    return this.electorFor(leaseName).state$;
  }

  /** Changes of every lease this replica takes part in at the time of the call. */
  changes$(): Observable<LeadershipState> {
    return merge(...[...this.electors.values()].map((elector) => elector.state$));
  }

  /** Who leads, as last seen (undefined when nobody holds the lease or it is unknown). */
  currentLeader(leaseName?: string): LeaderInfo | undefined {
    const state = this.getState(leaseName);
    if (!state.leader) return undefined;
    return { leaseName: state.leaseName, identity: state.leader, term: state.term, self: state.role === 'leader' };
  }

  /** Resolves when this replica leads `leaseName` (at once if it does). */
  waitForLeadership(leaseName?: string, signal?: AbortSignal): Promise<Leadership> {
    return this.electorFor(leaseName).waitForLeadership(signal);
  }

  /** Gives up leadership of `leaseName` and stays out for `cooldownMs` (default one lease duration). */
  stepDown(leaseName?: string, options?: { cooldownMs?: number }): Promise<void> {
    return this.electorFor(leaseName).stepDown(options);
  }

  /** Number of @LeaderOnly runs in progress for a lease. */
  runningCount(leaseName?: string): number {
    return this.runs.get(this.leaseNameOf(leaseName))?.size ?? 0;
  }

  /** The election for `leaseName`, created (and started, once the module started) on first use. */
  electorFor(leaseName?: string): LeaderElector {
    const name = this.leaseNameOf(leaseName);
    let elector = this.electors.get(name);
    if (!elector) {
      elector = new LeaderElector(
        this.options.store,
        { ...this.options.timings, leaseName: name, identity: this.options.identity },
        { logger: this.logger },
      );
      this.electors.set(name, elector);
      if (this.started && !this.shuttingDown) void this.startOne(elector);
    }
    return elector;
  }

  /**
   * Starts the elections for the given leases (and the default one) and waits, bounded by
   * startupTimeoutMs, for their first attempt, so a replica that can lead does so before the
   * first scheduled tick. Called by the module at init; a storage outage never fails boot.
   */
  async start(leaseNames: Iterable<string> = []): Promise<void> {
    if (this.shuttingDown) {
      // app.close() ran while another module's init was still pending: the destroy hooks have run
      // already, so an election started now would never be stopped (a zombie holding the lease).
      this.logger.log('Not starting leader election: the application is already shutting down');
      return;
    }
    this.electorFor();
    for (const name of leaseNames) this.electorFor(name);
    this.started = true;
    this.logger.log(
      `Starting leader election as "${this.identity}" on ${this.options.store.description} for lease(s) ${this.leaseNames.map((name) => `"${name}"`).join(', ')}`,
    );
    await Promise.all([...this.electors.values()].map((elector) => this.startOne(elector)));
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
      this.logger.error(`Could not start the election for "${elector.leaseName}": ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Shutdown: no new gated runs, stop polling, abort leadership signals, wait (bounded) for runs in
   * flight, then release held leases so a follower takes over within one poll.
   */
  async onModuleDestroy(): Promise<void> {
    this.shuttingDown = true;
    const drainDeadline = Date.now() + this.options.shutdownTimeoutMs;
    await Promise.allSettled(
      [...this.electors.values()].map((elector) =>
        elector.stop({
          release: this.options.releaseOnShutdown,
          beforeRelease: () => this.drainRuns(elector.leaseName, drainDeadline),
        }),
      ),
    );
    if (this.options.ownsStore) await this.options.store.close?.();
  }

  /** Called by @LeaderOnly wrappers. Runs `call` only while this replica leads the method's lease. */
  runGated(metadata: LeaderOnlyMetadata, instance: object, call: () => unknown, kind: { isRoute: boolean; isAsync: boolean }): unknown {
    const skip = (): unknown => (kind.isAsync ? Promise.resolve(undefined) : undefined);
    const elector = this.electorFor(metadata.leaseName);
    if (this.shuttingDown) {
      if (kind.isRoute) throw this.notLeader(elector);
      this.logger.debug?.(skippedShuttingDown(metadata.handlerName));
      return skip();
    }
    const leadership = elector.leadership;
    if (!leadership) {
      if (kind.isRoute) throw this.notLeader(elector);
      this.logger.debug?.(skippedNotLeader(metadata.handlerName, elector.leaseName, elector.state.leader));
      return skip();
    }
    let running: Set<string> | undefined;
    if (!metadata.allowOverlap) {
      running = this.overlapping.get(instance);
      if (!running) this.overlapping.set(instance, (running = new Set()));
      if (running.has(metadata.handlerName)) {
        this.logger.debug?.(skippedOverlap(metadata.handlerName));
        return skip();
      }
      running.add(metadata.handlerName);
    }
    const context: LeadershipContext = {
      leaseName: leadership.leaseName,
      identity: leadership.identity,
      term: leadership.term,
      signal: leadership.signal,
      isActive: () => leadership.isActive(),
    };
    const done = this.trackRun(elector.leaseName);
    const finish = (): void => {
      running?.delete(metadata.handlerName);
      done();
    };
    let result: unknown;
    try {
      result = leadershipStorage.run(context, call);
    } catch (error) {
      finish();
      throw error;
    }
    if (isPromiseLike(result)) {
      return Promise.resolve(result).finally(finish);
    }
    finish();
    return result;
  }

  private notLeader(elector: LeaderElector): NotLeaderException {
    return new NotLeaderException(elector.state, Math.max(1, Math.ceil(elector.options.retryIntervalMs / 1000)));
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

  private async drainRuns(leaseName: string, deadline: number): Promise<void> {
    const set = this.runs.get(leaseName);
    if (!set || set.size === 0) return;
    const pending = set.size;
    const left = Math.max(0, deadline - Date.now());
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      Promise.allSettled([...set]).then(() => 'drained' as const),
      new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), left))),
    ]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.logger.warn(`${set.size} of ${pending} @LeaderOnly run(s) of "${leaseName}" still running after the shutdown timeout; releasing the lease anyway (they were told to stop via their AbortSignal)`);
    }
  }

  private leaseNameOf(leaseName: string | undefined): string {
    return leaseName === undefined ? this.options.defaultLeaseName : validateLeaseName(leaseName);
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
