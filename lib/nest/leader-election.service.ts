import { Injectable } from '@nestjs/common';
import { merge, type Observable } from 'rxjs';
import type { LeaderElector, Leadership, LeadershipState } from '../core/leader-elector.js';
import type { LeaderTaskHandle } from '../core/leader-task.js';
import type { LeadershipEvent } from '../core/leadership-events.js';
import type { LeaseMember } from '../core/presence.js';
import type { GatedCall, GatedRunEvent, LeaderGate, LeaderInfo } from './interfaces/leader-gate.interface.js';
import type { LeaderOnlyOptions } from './interfaces/leader-only-options.interface.js';
import type { LeaderTaskOptions } from './interfaces/leader-work.interface.js';
import { LeaderElectionRegistry } from './leader-election.registry.js';
import { LeaderGateRunner } from './leader-gate.js';
import { LeaderWorkRunner } from './leader-work.js';
import { LeaderWorkTracker } from './leader-work.tracker.js';

export type { GatedCall, GatedRunEvent, LeaderGate, LeaderInfo };

/**
 * Leadership as the application sees it: one election per declared lease (the default lease, every
 * @LeaderOnly lease, and leases joined explicitly with join()/electorFor(); reads never create one),
 * leadership checks, state and change streams, waiting for leadership, voluntary step-down, and the
 * few commands an app gives (start, join, stepDown, yieldTo, runWhileLeader, leaderOnly).
 */
@Injectable()
export class LeaderElectionService {
  constructor(
    private readonly registry: LeaderElectionRegistry,
    private readonly gate: LeaderGateRunner,
    private readonly work: LeaderWorkRunner,
    private readonly tracker: LeaderWorkTracker,
  ) {}

  /** This replica's identity. */
  get identity(): string {
    return this.registry.options.identity;
  }

  get defaultLeaseName(): string {
    return this.registry.options.defaultLeaseName;
  }

  /** Every lease this replica takes part in. */
  get leaseNames(): string[] {
    return this.registry.leaseNames;
  }

  /** Description of the lease store (never contains credentials). */
  get storeDescription(): string {
    return this.registry.options.store.description;
  }

  /** True only while this replica holds the lease inside its deadline (checked now); false if undeclared. */
  isLeader(leaseName?: string): boolean {
    return this.registry.declaredElector(leaseName)?.isLeader() ?? false;
  }

  /** The current tenure (term, AbortSignal), only while leader (undefined for an undeclared lease). */
  leadership(leaseName?: string): Leadership | undefined {
    return this.registry.declaredElector(leaseName)?.leadership;
  }

  /** State of a declared lease; throws UnknownLeaseError for any other name. */
  getState(leaseName?: string): LeadershipState {
    return this.registry.requireElector(leaseName).state;
  }

  getStates(): LeadershipState[] {
    return this.registry.leaseNames.map((name) => this.registry.electorFor(name).state);
  }

  /** Current state, then every change of role, leader or term, of one declared lease. */
  state$(leaseName?: string): Observable<LeadershipState> {
    return this.registry.requireElector(leaseName).state$;
  }

  /**
   * Transitions of one declared lease, in order: 'acquired', 'lost' (with its reason), 'leader-changed'.
   * Not replayed.
   */
  events$(leaseName?: string): Observable<LeadershipEvent> {
    return this.registry.requireElector(leaseName).events$;
  }

  /** Changes of every lease this replica takes part in at the time of the call. */
  changes$(): Observable<LeadershipState> {
    return merge(...this.registry.leaseNames.map((name) => this.registry.electorFor(name).state$));
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
    return this.withElector(leaseName, (elector) => elector.waitForLeadership(signal));
  }

  /** Gives up leadership of `leaseName` and stays out for `cooldownMs` (default one lease duration). */
  stepDown(leaseName?: string, options?: { cooldownMs?: number }): Promise<void> {
    return this.withElector(leaseName, (elector) => elector.stepDown(options));
  }

  /** Number of @LeaderOnly runs in progress for a lease. */
  runningCount(leaseName?: string): number {
    return this.tracker.runningCount(this.registry.nameOf(leaseName));
  }

  /**
   * Number of @LeaderOnly calls of a lease skipped on this replica since it started (not leader,
   * overlapping, or shutting down). Followers log role changes, not each skipped tick: this count
   * is where the skips show (e.g. in a metrics or health endpoint).
   */
  skippedCount(leaseName?: string): number {
    return this.gate.skippedCount(leaseName);
  }

  /**
   * Runs `task` each time this replica becomes leader of the lease, for that tenure (the programmatic
   * form of @LeaderTask): it gets the tenure (term, AbortSignal, isActive()) and runs inside the
   * leadership context. An Observable it returns is subscribed for the tenure. At shutdown its signal
   * aborts and the module waits for it (shutdownTimeoutMs) before releasing the lease. Declares the lease.
   */
  runWhileLeader(
    task: (leadership: Leadership) => unknown,
    options: LeaderTaskOptions & { name?: string } = {},
  ): LeaderTaskHandle {
    return this.work.runWhileLeader(task, options);
  }

  /**
   * The live members of a lease, best first (identity, priority, canLead, lastSeenAgoMs, role, self). Rejects
   * when presence is off.
   */
  members(leaseName?: string): Promise<LeaseMember[]> {
    return this.withElector(leaseName, (elector) => elector.members());
  }

  /** The live members as of the last presence listing, without I/O; undefined when presence is off. */
  lastKnownMembers(leaseName?: string): LeaseMember[] | undefined {
    return this.registry.declaredElector(leaseName)?.lastKnownMembers();
  }

  /**
   * Manual switchover: hands leadership of the lease to `identity`, a live member that can lead. This
   * tenure ends, its work is awaited (shutdownTimeoutMs), then the lease is released naming `identity`
   * as successor. Rejects when this replica does not lead or the member is not live.
   */
  yieldTo(identity: string, leaseName?: string): Promise<void> {
    return this.withElector(leaseName, (elector) => elector.yieldTo(identity));
  }

  /**
   * The @LeaderOnly gate as a function wrapper, for jobs added at run time (SchedulerRegistry,
   * setInterval): runs only on the leader, skips an overlapping call (unless allowOverlap), runs in the
   * leadership context, drained at shutdown. A skipped call returns undefined (or a resolved Promise
   * once the function has returned one). Declares the lease.
   */
  leaderOnly<A extends unknown[], R>(
    fn: (...args: A) => R,
    options: LeaderOnlyOptions & { name?: string } = {},
  ): (...args: A) => R | undefined {
    return this.gate.leaderOnly(fn, options);
  }

  /**
   * Joins the elections: every declared lease (no argument; leases declared later then start at
   * once), or only the named one(s), declaring them. Resolves after their first attempt, bounded by
   * startupTimeoutMs (a storage outage never makes it reject). The module calls it at boot unless
   * `autoStart` is false; until then leader-only work skips and health shows `started: false`.
   */
  start(leaseName?: string | Iterable<string>): Promise<void> {
    return this.registry.start(leaseName);
  }

  /** False until start() (or the boot, with autoStart) joined this lease's election. */
  isStarted(leaseName?: string): boolean {
    return this.registry.isStarted(leaseName);
  }

  /**
   * Takes part in the election of `leaseName` (declares it; starts it once the module has started)
   * and resolves after its first attempt, bounded by startupTimeoutMs. The explicit way to use a
   * lease that no decorator names; reads of other names never start an election.
   */
  join(leaseName: string): Promise<LeaderElector> {
    return this.registry.join(leaseName);
  }

  /** The election for `leaseName`, created (and started, if started) on first use. Never pass input names. */
  electorFor(leaseName?: string): LeaderElector {
    return this.registry.electorFor(leaseName);
  }

  /**
   * Closes the gate, stops the elections, drains their work and releases held leases (idempotent; the module
   * calls it at shutdown).
   */
  shutdown(): Promise<void> {
    return this.registry.shutdown();
  }

  /** @deprecated since 0.2: inject LeaderElectionRegistry and use its electorCreated$; removed in 0.3. */
  get electorCreated$(): Observable<LeaderElector> {
    return this.registry.electorCreated$;
  }

  /** @deprecated since 0.2: inject LeaderGateRunner and use its gatedRuns$; removed in 0.3. */
  get gatedRuns$(): Observable<GatedRunEvent> {
    return this.gate.gatedRuns$;
  }

  private withElector<T>(
    leaseName: string | undefined,
    use: (elector: LeaderElector) => Promise<T>,
  ): Promise<T> {
    try {
      return use(this.registry.requireElector(leaseName));
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }
}
