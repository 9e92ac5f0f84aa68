import { randomUUID } from 'node:crypto';
import { BehaviorSubject, distinctUntilChanged, Subject, type Observable } from 'rxjs';
import { sleep, systemClock, type Clock, type TimerHandle } from './clock.js';
import {
  InvalidElectionOptionError,
  jitteredRetryDelay,
  resolveElectionOptions,
  type ElectionOptions,
  type ResolvedElectionOptions,
} from './election-options.js';
import {
  errorKindOf,
  LeaseRecordLostError,
  type LeaseObservation,
  type LeaseStore,
  type LeaseStoreErrorKind,
} from './lease-store.js';
import { publishDiagnostics, type LeadershipEndReason, type LeadershipEvent } from './leadership-events.js';
import { consoleLogger, safeLogger, type ElectionLogger } from './logger.js';
import { PresenceAgent } from './presence-agent.js';
import { comparePreference, isPresenceStore, type LeaseMember, type PresenceRecord } from './presence.js';
import { RecordLossRules } from './record-loss.js';
import type { DelegatedRenewal, RenewalDelegate } from './renewal-delegate.js';
import { sanitizeForeignText } from './sanitize.js';
import { StoreRequests, type StoreRequestEvent } from './store-requests.js';

export type { StoreRequestEvent } from './store-requests.js';

export type LeaderRole = 'idle' | 'follower' | 'leader' | 'stopped';

/** A snapshot of one election as this replica sees it. */
export interface LeadershipState {
  leaseName: string;
  /** This replica's identity. */
  identity: string;
  role: LeaderRole;
  /** Identity of the current leader as last seen (this replica when leading), if any. */
  leader?: string;
  /** Term of the current leader (this replica's term when leading), or the last term seen. */
  term?: number;
  /** Wall-clock ms when `role` last changed. */
  since: number;
  /** Wall-clock ms of the last successful store response. */
  lastStoreContactAt?: number;
  /** The most recent store failure, cleared by the next success. */
  lastError?: { kind: LeaseStoreErrorKind; message: string; code?: string; at: number };
  /** Number of store failures in a row (0 while the store answers). */
  consecutiveFailures: number;
}

/**
 * One tenure as leader. `signal` aborts the moment the tenure ends (deadline, loss, stop, step-down)
 * so long-running work can stop, and `term` lets that work fence writes to other systems.
 */
export interface Leadership {
  readonly leaseName: string;
  readonly identity: string;
  /** Fencing term: strictly greater than the term of every earlier leader of this lease. */
  readonly term: number;
  readonly signal: AbortSignal;
  /** Wall-clock ms when this tenure began. */
  readonly since: number;
  /** True while this tenure is current and inside its deadline (same check as isLeader()). */
  isActive(): boolean;
  /**
   * Monotonic ms left before this replica must consider the tenure over unless it renews (0 once it
   * ended). Renewals move it forward; a long step should check it (or isActive()) before starting.
   */
  remainingMs(): number;
}

/** Reason given to a leadership signal when the tenure ends. */
export class LeadershipEndedError extends Error {
  constructor(
    /** Human-readable detail, as logged. */
    readonly reason: string,
    /** Why the tenure ended, typed: 'lost', 'deadline', 'step-down' or 'stopped'. */
    readonly kind: LeadershipEndReason = 'stopped',
  ) {
    super(`Leadership ended: ${reason}`);
    this.name = 'LeadershipEndedError';
  }
}

export interface LeaderElectorDependencies {
  clock?: Clock;
  /** Uniform [0, 1) source for the poll jitter. */
  random?: () => number;
  logger?: ElectionLogger;
  /**
   * The drain: runs after a tenure's signal was aborted and before its lease is released (yieldTo,
   * failback, stepDown, onError 'step-down'; stop() too unless StopOptions.beforeRelease is given):
   * wait for the tenure's work. Resolving false, or not resolving within drainTimeoutMs, keeps the
   * lease from being released (it expires instead).
   */
  beforeHandover?: () => Promise<boolean | void>;
  /** Longest wait for the drain before the lease is left to expire, ms. Default: the lease duration. */
  drainTimeoutMs?: number;
  /**
   * Renews leases off the main thread (lib/renewal: RenewalThread). The main thread still acquires,
   * steps down and checks every deadline, reading the renewal send times from shared memory.
   */
  renewalDelegate?: RenewalDelegate;
}

export interface StopOptions {
  /** Release the lease after stepping down (default true), so a follower takes over within one poll. */
  release?: boolean;
  /**
   * Runs after the leadership signal is aborted and before the lease is released (e.g. drain running
   * jobs). Resolving `false` keeps the lease from being released: work of the ended tenure is still
   * running, and handing the lease to a follower now could let a new leader start beside it. The
   * lease then expires by itself within one lease duration.
   */
  beforeRelease?: () => Promise<boolean | void>;
}

interface Tenure {
  term: number;
  controller: AbortController;
  since: number;
}

/**
 * Leader election for one lease name over a {@link LeaseStore}.
 *
 * Follower: observe the lease every retryInterval (± jitter); try to acquire only when it is free
 * (or recorded as ours). Leader: renew every renewInterval. The replica counts as leader only while
 * `now < deadline`, with deadline = tSend + D − safetyMargin and tSend the monotonic time just before
 * the last successful acquire/renew was sent: the server's lease started after tSend, so it surely
 * lasts until tSend + D. Renewals that fail transiently are retried until the deadline, each bounded
 * by the time left; a definite loss steps down at once. The loop survives every error; only stop()
 * ends it.
 */
export class LeaderElector {
  readonly options: ResolvedElectionOptions;
  /** Proposed lease id, stable for this candidate's life so that retried acquires are idempotent. */
  readonly leaseId: string = randomUUID();

  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly logger: ElectionLogger;
  private readonly stateSubject: BehaviorSubject<LeadershipState>;

  private role: LeaderRole = 'idle';
  private roleSince: number;
  private tenure?: Tenure;
  /** Monotonic time before the last successful acquire/renew was sent. */
  private lastSendAt = -Infinity;
  private deadline = -Infinity;
  private deadlineTimer?: TimerHandle;
  private observedLeader?: string;
  private observedTerm?: number;
  /** Highest term ever seen here: passed to acquire so terms never go backwards. */
  private highestTermSeen = 0;
  /** Acquires refused although the record named us: another replica uses our identity (see identityCollision). */
  private refusedOwnRecord = 0;
  /** Another replica uses this identity: a record naming us is not taken as ours. */
  private identityCollision = false;
  /** Permanent errors in a row: their backoff grows with these only, not with earlier transient ones. */
  private consecutivePermanentFailures = 0;
  /** Monotonic time the last renewal request of the current tenure was sent. */
  private lastRenewAttemptAt = -Infinity;
  private lastStoreContactAt?: number;
  private lastError?: LeadershipState['lastError'];
  private consecutiveFailures = 0;
  /** Counts releases sent: an acquire that a release overtook must not be used (see followerAttempt). */
  private releasesSent = 0;
  /** The last acquire failed in an unknown way: the lease may be ours, so try acquiring directly. */
  private acquireOutcomeUnknown = false;
  private cooldownUntil = -Infinity;
  private readonly stopController = new AbortController();
  private wakeController = new AbortController();
  private loop?: Promise<void>;
  private firstAttempt?: Promise<void>;
  private stopping?: Promise<void>;
  /** Every store call: timeouts, in-flight tracking for stop(), requests$. */
  private readonly requests: StoreRequests;
  private readonly recordLoss: RecordLossRules;
  /** Presence records (when on and the store supports them). */
  private readonly presence?: PresenceAgent;
  private readonly beforeHandover?: () => Promise<boolean | void>;
  private readonly renewalDelegate?: RenewalDelegate;
  /** The current tenure's renewals, when they run on the renewal thread. */
  private delegated?: DelegatedRenewal;
  /** Monotonic time start() was called (the election delay counts from it). */
  private startedAt = 0;
  /**
   * When this replica first saw the lease free, tied to the record it saw (term, successor): a mark
   * from another record (or from before this replica's own tenure) says nothing about this one.
   */
  private free?: { since: number; term: number; successor?: string };
  /** The release of an ended tenure (after its drain): no acquire while it is pending. */
  private pendingRelease?: Promise<void>;
  private readonly drainTimeoutMs: number;
  /**
   * Most better priority tiers seen live since the lease went free: a better candidate whose record
   * goes stale during the wait must not shorten it (it would let a worse tier tie with the next one).
   */
  private freeTiers = 0;
  /** stateSubject.next() is running: a transition made by a subscriber is emitted after it (see emit). */
  private emitting = false;
  private emitAgain = false;
  private readonly eventSubject = new Subject<LeadershipEvent>();
  /** Events not yet delivered: a transition caused by a subscriber waits for the current delivery. */
  private readonly eventQueue: LeadershipEvent[] = [];
  private deliveringEvents = false;
  /** The leader and term last announced by a 'leader-changed' event. */
  private announced?: { leader: string; term: number | undefined };

  constructor(
    private readonly store: LeaseStore,
    options: ElectionOptions,
    dependencies: LeaderElectorDependencies = {},
  ) {
    this.options = resolveElectionOptions(options);
    this.clock = dependencies.clock ?? systemClock;
    this.random = dependencies.random ?? Math.random;
    this.logger = safeLogger(dependencies.logger ?? consoleLogger(`LeaderElector:${this.options.leaseName}`));
    this.roleSince = this.clock.wallNow();
    this.requests = new StoreRequests(this.clock, this.stopController.signal, this.options);
    this.recordLoss = new RecordLossRules(this.clock, this.logger, this.options);
    this.beforeHandover = dependencies.beforeHandover;
    this.drainTimeoutMs = dependencies.drainTimeoutMs ?? this.options.leaseDurationMs;
    this.renewalDelegate = dependencies.renewalDelegate;
    const preference = this.options.preference;
    if (preference.presence && isPresenceStore(store)) {
      this.presence = new PresenceAgent(
        store,
        this,
        { ...preference, presence: preference.presence },
        this.requests,
        this.clock,
        this.logger,
        this.stopController.signal,
      );
    } else if (preference.prioritySet || preference.failbackAfterMs !== undefined) {
      throw new InvalidElectionOptionError(
        preference.prioritySet ? 'priority' : 'failback',
        preference.prioritySet ? preference.priority : 'on',
        `a store with presence records (MemoryLeaseStore or AzureBlobLeaseStore; ${store.description} has none)`,
      );
    }
    this.stateSubject = new BehaviorSubject(this.snapshot());
  }

  get leaseName(): string {
    return this.options.leaseName;
  }

  get identity(): string {
    return this.options.identity;
  }

  /**
   * True only while this replica holds the lease AND the monotonic clock is before the deadline.
   * Checked at every call, so a tick that runs late (starved timers, a paused process) is refused
   * even when no timer has yet noticed that the deadline passed. A call that finds the deadline
   * passed steps down on the spot, so the leadership signal aborts before the caller goes on (after
   * an event-loop stall the deadline timer only runs once the stalled task has finished).
   */
  isLeader(): boolean {
    if (this.role !== 'leader') return false;
    if (this.delegated) this.syncDelegated();
    if (this.role !== 'leader') return false;
    if (this.clock.now() < this.deadline) return true;
    this.demote('deadline', this.deadlineMissedReason());
    return false;
  }

  /** The current tenure, only while isLeader() is true. */
  get leadership(): Leadership | undefined {
    const tenure = this.tenure;
    if (!tenure || !this.isLeader()) return undefined;
    return this.describeTenure(tenure);
  }

  /** Monotonic ms left before this replica must consider itself deposed (0 when not leader). */
  remainingLeaseMs(): number {
    return this.isLeader() ? this.deadline - this.clock.now() : 0;
  }

  get state(): LeadershipState {
    this.isLeader(); // steps down first if the deadline has passed unnoticed
    return this.snapshot();
  }

  /**
   * Every transition, in the order the elector makes them: 'acquired' (a tenure begins), 'lost' (it
   * ends, with the reason), 'leader-changed' (a new leader or term became known, this replica
   * included). Each fires exactly once per transition; nothing is replayed to late subscribers. A
   * subscriber that throws never breaks the election, but RxJS reports its error as unhandled
   * (process 'uncaughtException'): catch inside your subscriber. The same events are published on
   * `node:diagnostics_channel` (see LEADERSHIP_CHANNELS).
   */
  get events$(): Observable<LeadershipEvent> {
    return this.eventSubject.asObservable();
  }

  /**
   * One event per store call as it settles (operation, duration, outcome, error kind): what metrics
   * need for request latency, renewal failures and acquire attempts. Not replayed, not on a
   * diagnostics channel (a poll every few seconds per lease is not a transition).
   */
  get requests$(): Observable<StoreRequestEvent> {
    return this.requests.events$;
  }

  /** Current state first, then every change of role, leader or term. */
  get state$(): Observable<LeadershipState> {
    return this.stateSubject.pipe(
      distinctUntilChanged((a, b) => a.role === b.role && a.leader === b.leader && a.term === b.term),
    );
  }

  /**
   * Starts the election. Resolves once the first attempt (observe, and acquire when the lease is
   * free) has completed or failed; it never rejects for storage errors, so an outage at boot leaves
   * the replica a follower that keeps trying.
   */
  start(): Promise<void> {
    if (this.role === 'stopped')
      return Promise.reject(
        new Error(`LeaderElector "${this.leaseName}" was stopped and cannot be restarted`),
      );
    if (this.firstAttempt) return this.firstAttempt;
    let firstAttemptDone!: () => void;
    this.firstAttempt = new Promise<void>((resolve) => (firstAttemptDone = resolve));
    this.startedAt = this.clock.now();
    this.setRole('follower');
    this.presence?.start();
    this.loop = this.run(firstAttemptDone);
    return this.firstAttempt;
  }

  get requestTimeoutMs(): number {
    return this.options.requestTimeoutMs;
  }

  /**
   * The live members of this lease (presence records refreshed within staleAfterMs), best first, from
   * a listing at most one presence interval old. Rejects when presence is off or the store has none.
   */
  async members(): Promise<LeaseMember[]> {
    if (!this.presence)
      throw new Error(
        `Presence is off for "${this.leaseName}" (presence: false, or the store keeps no presence records)`,
      );
    return this.describeMembers(await this.presence.liveRecords());
  }

  /** The members as of the last listing, without I/O (for health output); undefined when presence is off. */
  lastKnownMembers(): LeaseMember[] | undefined {
    return this.presence ? this.describeMembers(this.presence.lastKnownLive()) : undefined;
  }

  private describeMembers(records: PresenceRecord[]): LeaseMember[] {
    const leader = this.isLeader() ? this.identity : this.observedLeader;
    // Candidates first: an observer (canLead false) never leads, whatever its priority.
    const order = (a: PresenceRecord, b: PresenceRecord): number =>
      a.canLead !== b.canLead ? (a.canLead ? -1 : 1) : comparePreference(a, b);
    return [...records].sort(order).map((record) => ({
      identity: record.identity,
      priority: record.priority,
      canLead: record.canLead,
      startedAt: record.startedAt,
      lastSeenAgoMs: Math.round(record.ageMs),
      role: record.identity === leader ? 'leader' : 'follower',
      self: record.identity === this.identity,
    }));
  }

  /**
   * Manual switchover: hands the lease to `identity`, a live member that can lead. Ends this tenure
   * (its signal aborts), waits for its work (beforeHandover), then releases the lease naming the
   * successor, which the other candidates leave to it for one preference window. This replica stays
   * out for that window too. Rejects when this replica does not lead or `identity` is not a live
   * member that can lead.
   */
  async yieldTo(identity: string): Promise<void> {
    if (!this.isLeader())
      throw new Error(`Not the leader of "${this.leaseName}": only the leader can hand it over`);
    if (identity === this.identity) throw new Error(`yieldTo: "${identity}" is this replica`);
    const members = this.presence ? await this.presence.liveRecords(0) : [];
    const target = members.find((member) => member.identity === identity);
    if (!target || !target.canLead) {
      throw new Error(
        `yieldTo: "${identity}" is not a live member of "${this.leaseName}" that can lead (live: ${members.map((m) => `"${m.identity}"`).join(', ') || 'none'})`,
      );
    }
    await this.handOver(identity, 'manual switchover (yieldTo)');
  }

  /** @internal Used by yieldTo and the presence agent (failback). */
  async handOver(identity: string, why: string): Promise<void> {
    if (this.role !== 'leader') return;
    // Only one poll: the successor mark itself keeps this replica (like every other) off the free
    // lease for one preference window, and it ends as soon as the successor has taken the lease, so
    // a successor that stops right away hands back within a poll (a window-long cooldown here made a
    // graceful stop just after a failback take 4–5 s).
    this.cooldownUntil = Math.max(this.cooldownUntil, this.clock.now() + this.options.retryIntervalMs);
    const tenure = this.tenure;
    this.demote('step-down', `handing over to "${identity}" (${why})`);
    await this.releaseEnded(tenure, this.beforeHandover, identity);
  }

  /**
   * Releases the lease of an ended tenure: drains its work first (bounded by drainTimeoutMs; past
   * it, or when the drain says work still runs, the lease is left to expire, logged), and never
   * frees a lease a later tenure holds. No acquire is made while this is pending, so the lease
   * cannot be re-acquired during the drain and then freed under the new tenure.
   */
  private releaseEnded(
    tenure: Tenure | undefined,
    drain: (() => Promise<boolean | void>) | undefined,
    successor?: string,
  ): Promise<void> {
    const releasing = (async () => {
      if (!(await this.drained(drain))) {
        // The lease stays ours until it expires: re-acquiring it would start a tenure beside that work.
        this.cooldownUntil = Math.max(this.cooldownUntil, this.clock.now() + this.options.leaseDurationMs);
        this.logger.warn(
          `Not releasing lease "${this.leaseName}"${successor === undefined ? '' : ` to "${successor}"`}: work of the ended tenure is still running; the lease expires by itself within ${this.options.leaseDurationSeconds} s, so no new leader starts beside that work until then`,
        );
        return;
      }
      if (this.tenure !== undefined && this.tenure !== tenure) return; // a later tenure holds the lease
      await this.releaseLease(successor);
    })();
    this.pendingRelease = releasing;
    void releasing.finally(() => {
      if (this.pendingRelease === releasing) this.pendingRelease = undefined;
      this.wake();
    });
    return releasing;
  }

  /** Runs the drain, bounded by drainTimeoutMs: true when the ended tenure's work has stopped. */
  private async drained(drain: (() => Promise<boolean | void>) | undefined): Promise<boolean> {
    if (!drain) return true;
    const bound = new AbortController();
    try {
      const outcome = await Promise.race([
        drain().then((result) => result !== false),
        sleep(this.clock, this.drainTimeoutMs, bound.signal).then(() => false),
      ]);
      return outcome;
    } catch (error) {
      this.logger.warn(`The drain before releasing "${this.leaseName}" failed: ${messageOf(error)}`);
      return true;
    } finally {
      bound.abort();
    }
  }

  /** Resolves with the tenure as soon as this replica leads (at once if it already does). */
  waitForLeadership(signal?: AbortSignal): Promise<Leadership> {
    const current = this.leadership;
    if (current) return Promise.resolve(current);
    if (this.role === 'stopped')
      return Promise.reject(new Error(`LeaderElector "${this.leaseName}" is stopped`));
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        subscription.unsubscribe();
        reject(signal?.reason ?? new Error('waitForLeadership aborted'));
      };
      const subscription = this.stateSubject.subscribe((state) => {
        if (state.role === 'stopped') {
          queueMicrotask(() => subscription.unsubscribe());
          signal?.removeEventListener('abort', onAbort);
          reject(new Error(`LeaderElector "${this.leaseName}" stopped before it became leader`));
          return;
        }
        const leadership = this.leadership;
        if (leadership) {
          queueMicrotask(() => subscription.unsubscribe());
          signal?.removeEventListener('abort', onAbort);
          resolve(leadership);
        }
      });
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Voluntarily gives up leadership: aborts the tenure, releases the lease, and stays out of the
   * election for `cooldownMs` (default: one lease duration) so another replica can take over.
   */
  async stepDown(options: { cooldownMs?: number } = {}): Promise<void> {
    const cooldownMs = options.cooldownMs ?? this.options.leaseDurationMs;
    if (typeof cooldownMs !== 'number' || !(cooldownMs >= 0) || !Number.isFinite(cooldownMs)) {
      const got = typeof cooldownMs === 'number' ? String(cooldownMs) : typeof cooldownMs;
      throw new RangeError(`stepDown cooldownMs must be a finite number ≥ 0, got ${got}`);
    }
    // The later of the two: a short step-down must not end a longer one already running. (The
    // record-loss wait is separate state, so no cooldown can shorten it.)
    this.cooldownUntil = Math.max(this.cooldownUntil, this.clock.now() + cooldownMs);
    const tenure = this.role === 'leader' ? this.tenure : undefined;
    const mayHoldLease = tenure !== undefined || this.acquireOutcomeUnknown;
    this.demote('step-down', 'stepped down voluntarily');
    if (mayHoldLease) await this.releaseEnded(tenure, tenure ? this.beforeHandover : undefined);
    this.wake();
  }

  /**
   * Stops the election: no more polls or renewals, in-flight requests are aborted and awaited
   * (bounded by requestTimeoutMs), the tenure's signal is aborted, `beforeRelease` runs, and the lease
   * is released if this replica held it. Idempotent.
   */
  stop(options: StopOptions = {}): Promise<void> {
    this.stopping ??= this.doStop(options);
    return this.stopping;
  }

  private async doStop({ release = true, beforeRelease }: StopOptions): Promise<void> {
    this.stopController.abort(new LeadershipEndedError('election stopped'));
    await this.loop;
    await this.requests.settle();
    const tenure = this.role === 'leader' ? this.tenure : undefined;
    const mayHoldLease = tenure !== undefined || this.acquireOutcomeUnknown;
    this.demote('stopped', 'election stopped');
    this.setRole('stopped');
    await this.pendingRelease;
    const drain = beforeRelease ?? (tenure ? this.beforeHandover : undefined);
    if (release && mayHoldLease) await this.releaseEnded(tenure, drain);
    else if (drain) await this.drained(drain);
    await this.presence?.stop();
    this.stateSubject.complete();
    this.eventSubject.complete();
    this.requests.complete();
  }

  // ---------------------------------------------------------------- for test doubles

  /**
   * Transitions without a store, for the testing kit's manually driven elector
   * (nestjs-leader-election/testing): the same state stream, events, signals and logs as real ones.
   */
  protected grantTenure(term: number): boolean {
    if (this.role === 'stopped') return false;
    if (this.role === 'leader') this.demote('lost', 'tenure replaced by the test');
    return this.promote(this.clock.now(), term);
  }

  protected endTenure(reason: LeadershipEndReason, message: string): void {
    this.demote(reason, message);
  }

  protected noteLeader(leader: string | undefined, term: number | undefined): void {
    this.noteObservation({
      held: leader !== undefined,
      holder: leader,
      term: term ?? this.observedTerm ?? 0,
    });
  }

  protected enterRole(role: LeaderRole): void {
    this.setRole(role);
    if (role === 'stopped') {
      this.stateSubject.complete();
      this.eventSubject.complete();
      this.requests.complete();
    }
  }

  // ---------------------------------------------------------------- the loop

  private async run(firstAttemptDone: () => void): Promise<void> {
    const stopSignal = this.stopController.signal;
    while (!stopSignal.aborted) {
      try {
        if (this.role === 'leader') {
          firstAttemptDone();
          await this.renewWhenDue();
          continue;
        }
        const delay = await this.followerAttempt();
        firstAttemptDone();
        if (!this.isLeader() && !stopSignal.aborted) {
          await sleep(this.clock, delay, [stopSignal, this.wakeController.signal]);
        }
      } catch (error) {
        // Defensive: every expected failure is handled below. Never let the loop die.
        firstAttemptDone();
        this.logger.error(`Unexpected error in the election loop (continuing): ${messageOf(error)}`);
        await sleep(this.clock, this.options.retryIntervalMs, stopSignal);
      }
    }
    firstAttemptDone();
  }

  /** One follower poll. Returns how long to wait before the next one. */
  private async followerAttempt(): Promise<number> {
    const now = this.clock.now();
    if (now < this.cooldownUntil) return this.cooldownUntil - now;
    if (this.pendingRelease) return this.pollDelay(); // woken when it settles
    try {
      // Observe even when the last acquire's outcome is unknown: the observation is where a lost
      // record is noticed, and skipping it once could let this replica lead beside a holder that
      // still believes in the lost lease, with the same term.
      const observation = trustedObservation(
        await this.request(
          'observe',
          (signal) => this.store.observe(this.leaseName, signal),
          this.options.requestTimeoutMs,
        ),
      );
      this.storeAnswered();
      this.noteObservation(observation);
      if (this.recordLoss.waitingAfter(observation)) return this.pollDelay();
      // stepDown() may have been called while the observation was on its way.
      if (this.clock.now() < this.cooldownUntil) return this.cooldownUntil - this.clock.now();
      // A lease recorded as ours may be one we hold from before a failed renewal or a lost acquire
      // response: acquiring with our stable lease id is idempotent, so just try (unless another
      // replica is known to use our identity: then the record may be theirs).
      this.noteFree(observation);
      const recordedAsOurs = observation.holder === this.identity && !this.identityCollision;
      const shouldAcquire = this.acquireOutcomeUnknown || !observation.held || recordedAsOurs;
      if (!shouldAcquire || !this.options.preference.canLead) return this.pollDelay();
      if (
        !observation.held &&
        !this.acquireOutcomeUnknown &&
        (await this.leavesFreeLeaseToOthers(observation))
      )
        return this.pollDelay();
      return await this.tryAcquire(observation);
    } catch (error) {
      if (this.stopController.signal.aborted) return 0;
      const kind = errorKindOf(error);
      if (kind === 'lost') this.acquireOutcomeUnknown = false;
      this.storeFailed(error, 'follower poll');
      if (kind === 'permanent') {
        return Math.min(
          this.options.maxErrorBackoffMs,
          this.options.retryIntervalMs * 2 ** Math.min(16, this.consecutivePermanentFailures - 1),
        );
      }
      return this.pollDelay();
    }
  }

  /**
   * Preference for a FREE lease (a held one is never contested): true while this replica must leave
   * it to others. Never for ever: a named successor gets one preference window; better priority
   * tiers that are live get one window each, counted from when this replica first saw the lease free;
   * a newly started candidate with a priority first waits electionDelayMs so better ones can announce.
   * A failed presence listing never blocks (liveness first). canLead false never takes a lease.
   */
  private async leavesFreeLeaseToOthers(observation: LeaseObservation): Promise<boolean> {
    const preference = this.options.preference;
    if (!preference.canLead) return true;
    const now = this.clock.now();
    const freeSince = this.free?.since ?? now;
    const freeFor = now - freeSince;
    if (observation.successor !== undefined) {
      if (observation.successor === this.identity) return false;
      if (freeFor < preference.preferenceWindowMs) return true;
    }
    if (!preference.prioritySet || !this.presence) return false;
    const eligibleAt = this.startedAt + preference.electionDelayMs;
    if (now < eligibleAt) return true;
    try {
      this.freeTiers = Math.max(this.freeTiers, await this.presence.betterTiers());
      const tiers = this.freeTiers;
      // Windows count from when this replica could first compete (a lease free during our own
      // election delay was not yet left to anyone).
      return now - Math.max(freeSince, eligibleAt) < tiers * preference.preferenceWindowMs;
    } catch {
      return false;
    }
  }

  /** Keeps the "free since" mark while the same free record is observed; any other record resets it. */
  private noteFree(observation: LeaseObservation): void {
    const same =
      this.free !== undefined &&
      this.free.term === observation.term &&
      this.free.successor === observation.successor;
    if (observation.held || !same) this.freeTiers = 0;
    this.free = observation.held
      ? undefined
      : same
        ? this.free
        : { since: this.clock.now(), term: observation.term, successor: observation.successor };
  }

  /** The acquire half of a follower poll, after `observation` showed the lease free or ours. */
  private async tryAcquire(observation: LeaseObservation): Promise<number> {
    const sentAt = this.clock.now();
    const releasesBefore = this.releasesSent;
    const outcomeWasUnknown = this.acquireOutcomeUnknown;
    const termOnRecord = this.recordLoss.termOnRecord;
    const recoveredTerm = this.recordLoss.recoveredTerm;
    this.acquireOutcomeUnknown = true;
    const result = await this.request(
      'acquire',
      (signal) =>
        this.store.acquire(
          {
            leaseName: this.leaseName,
            leaseId: this.leaseId,
            identity: this.identity,
            durationSeconds: this.options.leaseDurationSeconds,
            minimumTerm: this.highestTermSeen,
            ...(recoveredTerm !== undefined ? { recoveredTerm } : {}),
          },
          signal,
        ),
      this.options.requestTimeoutMs,
      undefined,
      // Not aborted by stop(): an acquire the server may already be processing is awaited, so that
      // stop()'s release reaches the server after it (otherwise the release could land first and
      // leave the lease held for a whole lease duration). It is still bounded by requestTimeoutMs.
      false,
    );
    this.storeAnswered();
    if (!result.acquired) {
      this.acquireOutcomeUnknown = false;
      if (observation.held && observation.holder === this.identity && !outcomeWasUnknown)
        this.noteRefusedOwnRecord();
      // A refused acquire may not say who holds the lease (Azure's 409 does not): keep the holder
      // the observation just showed instead of forgetting it.
      const refused = trustedObservation(result.observation);
      this.noteObservation({ ...refused, holder: refused.holder ?? observation.holder });
      return this.pollDelay();
    }
    if (this.stopController.signal.aborted) return 0; // stop() releases: acquireOutcomeUnknown is still set
    if (this.releasesSent !== releasesBefore) {
      // stepDown() sent a release while this acquire was on its way. The server may have
      // processed the release after the acquire, so the lease may already be free and another
      // replica about to take it: never lead on this answer. Release again (409 is fine).
      await this.releaseLease();
      return Math.max(0, this.cooldownUntil - this.clock.now());
    }
    this.acquireOutcomeUnknown = false;
    this.highestTermSeen = Math.max(this.highestTermSeen, result.term);
    if (
      this.recordLoss.lostAtAcquisition(
        termOnRecord,
        result.previousTerm,
        result.term,
        recoveredTerm !== undefined,
      )
    ) {
      // The record was lost between our last observation and this acquisition: the holder from
      // before the loss may still believe in its lease. Do not lead on it, and do not release it
      // either: holding it unused keeps everyone else out for one lease duration, which is exactly
      // the wait the loss calls for. We take it up again (same lease id) once the wait is over.
      return this.pollDelay();
    }
    if (!this.promote(sentAt, result.term)) {
      this.acquireOutcomeUnknown = true; // we hold the lease but the acquisition took too long
      return 0;
    }
    return 0;
  }

  /** Leader: sleep until the next renewal is due, then renew, retrying transient failures until the deadline. */
  private async renewWhenDue(): Promise<void> {
    const tenure = this.tenure;
    if (!tenure) return;
    const stopSignal = this.stopController.signal;
    const tenureOrStop = [stopSignal, tenure.controller.signal];
    const ended = (): boolean => stopSignal.aborted || tenure.controller.signal.aborted;
    if (this.delegated) {
      // The renewal thread renews; this loop only follows its progress (and the deadline timer and
      // every isLeader() read it too).
      while (this.tenure === tenure && !ended()) {
        this.syncDelegated();
        if (this.tenure !== tenure) return;
        await sleep(
          this.clock,
          Math.min(this.options.renewRetryIntervalMs, Math.max(0, this.deadline - this.clock.now())),
          tenureOrStop,
        );
      }
      return;
    }
    await sleep(this.clock, this.lastSendAt + this.options.renewIntervalMs - this.clock.now(), tenureOrStop);

    while (this.tenure === tenure && !ended()) {
      const remaining = this.deadline - this.clock.now();
      if (remaining <= 0) {
        this.demote('deadline', this.deadlineMissedReason());
        return;
      }
      const sentAt = this.clock.now();
      this.lastRenewAttemptAt = sentAt;
      try {
        await this.request(
          'renew',
          (signal) => this.store.renew(this.leaseName, this.leaseId, signal),
          Math.min(this.options.requestTimeoutMs, remaining),
          tenure.controller.signal,
        );
        if (this.tenure !== tenure) return; // deposed while the answer was on its way; the next poll re-acquires
        this.lastSendAt = sentAt;
        this.deadline = sentAt + this.options.leaseDurationMs - this.options.safetyMarginMs;
        this.armDeadlineTimer(tenure);
        this.storeAnswered();
        return;
      } catch (error) {
        if (ended()) return;
        if (errorKindOf(error) === 'lost') {
          this.storeAnswered();
          if (error instanceof LeaseRecordLostError && this.clock.now() < this.deadline) {
            // Our lease was valid until the deadline, so the record was lost while we held it: we
            // are the only replica that could believe in the lost lease, and we are stepping down.
            this.recordLoss.ownRecordLost(tenure.term, this.lastSendAt + this.options.leaseDurationMs);
          }
          this.demote('lost', `lease lost: ${messageOf(error)}`);
          return;
        }
        this.storeFailed(error, 'renewal');
        const left = this.deadline - this.clock.now();
        await sleep(this.clock, Math.min(this.options.renewRetryIntervalMs, Math.max(0, left)), tenureOrStop);
      }
    }
  }

  // ---------------------------------------------------------------- transitions

  /** Becomes leader after a successful acquire sent at `sentAt`. False if the deadline already passed. */
  private promote(sentAt: number, term: number): boolean {
    const deadline = sentAt + this.options.leaseDurationMs - this.options.safetyMarginMs;
    if (this.clock.now() >= deadline) {
      this.logger.warn(
        `Acquired lease "${this.leaseName}" too late to use it (the request took longer than the lease); acquiring again`,
      );
      return false;
    }
    this.lastSendAt = sentAt;
    this.deadline = deadline;
    this.tenure = { term, controller: new AbortController(), since: this.clock.wallNow() };
    this.observedLeader = this.identity;
    this.observedTerm = term;
    this.highestTermSeen = Math.max(this.highestTermSeen, term);
    // Our own acquisition wrote the newest record: any loss before it is settled, and a later drop
    // below this term is a new loss (never "already waited out").
    this.recordLoss.promoted(term);
    this.free = undefined;
    this.freeTiers = 0;
    if (this.renewalDelegate) this.delegated = this.delegate(sentAt);
    this.armDeadlineTimer(this.tenure);
    this.setRole('leader');
    this.logger.log(`Became leader of "${this.leaseName}" as "${this.identity}" (term ${term})`);
    const now = this.clock.wallNow();
    this.publish({
      type: 'acquired',
      leaseName: this.leaseName,
      identity: this.identity,
      at: now,
      term,
      signal: this.tenure.controller.signal,
      expiresAt: now + (deadline - this.clock.now()),
    });
    this.announceLeader();
    return true;
  }

  /** Hands the tenure's renewals to the delegate; on the main thread if the delegate cannot take it. */
  private delegate(sentAt: number): DelegatedRenewal | undefined {
    try {
      return this.renewalDelegate!.begin({
        leaseName: this.leaseName,
        leaseId: this.leaseId,
        sentAt,
        leaseDurationMs: this.options.leaseDurationMs,
        safetyMarginMs: this.options.safetyMarginMs,
        renewIntervalMs: this.options.renewIntervalMs,
        renewRetryIntervalMs: this.options.renewRetryIntervalMs,
        requestTimeoutMs: this.options.requestTimeoutMs,
      });
    } catch (error) {
      this.logger.warn(
        `The renewal delegate cannot renew "${this.leaseName}" (${messageOf(error)}); renewing on the main thread`,
      );
      return undefined;
    }
  }

  /**
   * Why the deadline passed, for the step-down line. A renewal that was due but never sent means
   * this process could not run its timers (event loop blocked, process paused): name that, since the
   * fix is in the user's job code, not in the storage configuration.
   */
  private deadlineMissedReason(): string {
    const base = 'lease deadline reached without a successful renewal';
    const threadStopped = this.delegated?.stoppedBecause();
    if (threadStopped) return `${base}: ${threadStopped}`;
    const now = this.clock.now();
    const renewalDueAt = this.lastSendAt + this.options.renewIntervalMs;
    const sentSinceDue = this.lastRenewAttemptAt >= renewalDueAt;
    const overdueMs = now - renewalDueAt;
    if (!sentSinceDue && overdueMs > this.options.renewRetryIntervalMs) {
      return `${base}: no renewal could be sent for ${(overdueMs / 1000).toFixed(1)} s after it was due (event loop blocked or process paused?)`;
    }
    if (this.lastError) return `${base} (last error: ${this.lastError.message})`;
    return base;
  }

  /**
   * Reads the renewal thread's progress (a synchronous shared-memory read): a later renewal send time
   * moves the deadline exactly as a main-thread renewal would; a definite loss steps down at once.
   */
  private syncDelegated(): void {
    const delegated = this.delegated;
    const tenure = this.tenure;
    if (!delegated || !tenure) return;
    const lost = delegated.lost();
    if (lost) {
      if (lost.recordLost && this.clock.now() < this.deadline)
        this.recordLoss.ownRecordLost(tenure.term, this.lastSendAt + this.options.leaseDurationMs);
      this.demote('lost', `lease lost: ${lost.message}`);
      return;
    }
    const sentAt = delegated.lastSentAt();
    if (sentAt > this.lastSendAt) {
      this.lastSendAt = sentAt;
      this.lastRenewAttemptAt = sentAt;
      this.deadline = sentAt + this.options.leaseDurationMs - this.options.safetyMarginMs;
      this.storeAnswered();
    }
  }

  /** Ends the current tenure (if any): abort its signal, go back to following. */
  private demote(reason: LeadershipEndReason, message: string): void {
    const tenure = this.tenure;
    if (!tenure) return;
    this.tenure = undefined;
    this.deadline = -Infinity;
    this.delegated?.end();
    this.delegated = undefined;
    if (this.deadlineTimer !== undefined) this.clock.clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    this.observedLeader = undefined;
    if (this.role === 'leader') this.setRole('follower');
    tenure.controller.abort(new LeadershipEndedError(message, reason));
    const line = `Stepped down from "${this.leaseName}" (term ${tenure.term}): ${message}`;
    // Leaving on purpose (stop, step-down) is routine; losing the lease deserves a warning.
    if (reason === 'step-down' || reason === 'stopped') this.logger.log(line);
    else this.logger.warn(line);
    this.publish({
      type: 'lost',
      leaseName: this.leaseName,
      identity: this.identity,
      at: this.clock.wallNow(),
      term: tenure.term,
      reason,
      message,
    });
  }

  /** Steps down exactly at the deadline even if a renewal is still hanging. */
  private armDeadlineTimer(tenure: Tenure): void {
    if (this.deadlineTimer !== undefined) this.clock.clearTimeout(this.deadlineTimer);
    const fire = (): void => {
      this.deadlineTimer = undefined;
      if (this.tenure !== tenure) return;
      if (this.delegated) this.syncDelegated();
      if (this.tenure !== tenure) return;
      const left = this.deadline - this.clock.now();
      if (left > 0) {
        this.deadlineTimer = this.clock.setTimeout(fire, left); // timers may fire a little early
        return;
      }
      this.demote('deadline', this.deadlineMissedReason());
    };
    this.deadlineTimer = this.clock.setTimeout(fire, this.deadline - this.clock.now());
  }

  private async releaseLease(successor?: string): Promise<void> {
    this.releasesSent += 1;
    try {
      await this.request(
        'release',
        (signal) =>
          successor === undefined
            ? this.store.release(this.leaseName, this.leaseId, signal)
            : this.store.release(this.leaseName, this.leaseId, signal, { successor }),
        this.options.requestTimeoutMs,
        undefined,
        false,
      );
      this.acquireOutcomeUnknown = false;
      this.storeAnswered();
      this.logger.log(`Released lease "${this.leaseName}"`);
    } catch (error) {
      // The lease expires by itself within one lease duration; nothing else to do.
      this.storeFailed(error, 'release');
    }
  }

  // ---------------------------------------------------------------- helpers

  /** Runs one store call through `requests` (timeout, stop, tracking, requests$). */
  private request<T>(
    operation: StoreRequestEvent['operation'],
    call: (signal: AbortSignal) => Promise<T>,
    timeoutMs: number,
    extraSignal?: AbortSignal,
    abortOnStop = true,
  ): Promise<T> {
    return this.requests.send(operation, call, { timeoutMs, signal: extraSignal, abortOnStop });
  }

  /** Number of store calls tracked as in flight (for tests and diagnostics). */
  get inFlightRequests(): number {
    return this.requests.size;
  }

  private pollDelay(): number {
    return jitteredRetryDelay(this.options, this.random);
  }

  private wake(): void {
    const previous = this.wakeController;
    this.wakeController = new AbortController();
    previous.abort();
  }

  private noteObservation(observation: LeaseObservation): void {
    if (observation.held && observation.holder !== this.identity) this.refusedOwnRecord = 0;
    this.observedLeader = observation.held ? observation.holder : undefined;
    this.observedTerm = observation.term > 0 ? observation.term : this.observedTerm;
    this.highestTermSeen = Math.max(this.highestTermSeen, observation.term);
    this.announceLeader();
    this.emit();
  }

  /** Publishes 'leader-changed' when the known (leader, term) pair changed to a known leader. */
  private announceLeader(): void {
    const leader = this.observedLeader;
    const term = this.observedTerm;
    if (leader === undefined) return;
    if (this.announced && this.announced.leader === leader && this.announced.term === term) return;
    this.announced = { leader, term };
    this.publish({
      type: 'leader-changed',
      leaseName: this.leaseName,
      identity: this.identity,
      at: this.clock.wallNow(),
      leader,
      term,
      self: leader === this.identity && this.role === 'leader',
    });
  }

  /**
   * Delivers an event to events$ subscribers and its diagnostics channel, in transition order: an
   * event caused by a subscriber is queued until the current one has reached everyone.
   */
  private publish(event: LeadershipEvent): void {
    this.eventQueue.push(event);
    if (this.deliveringEvents) return;
    this.deliveringEvents = true;
    try {
      for (let next = this.eventQueue.shift(); next; next = this.eventQueue.shift()) {
        // RxJS catches a throwing subscriber and rethrows it asynchronously as an unhandled error:
        // the loop goes on either way (the Nest hooks catch and log their callers' errors).
        this.eventSubject.next(next);
        publishDiagnostics(next);
      }
    } finally {
      this.deliveringEvents = false;
    }
  }

  /**
   * An acquire was refused although the record named this replica and no acquire of ours was in
   * doubt: another replica uses the same identity (e.g. two apps in one process, or containers on
   * host networking where every pid is 1). Twice in a row rules out a takeover racing our poll.
   */
  private noteRefusedOwnRecord(): void {
    this.refusedOwnRecord += 1;
    if (this.refusedOwnRecord < 2 || this.identityCollision) return;
    this.identityCollision = true;
    this.logger.warn(
      `Another replica holds "${this.leaseName}" under this replica's own identity "${this.identity}": give every replica a unique identity (logs, health and currentLeader() cannot tell them apart). Until then this replica no longer treats a record naming "${this.identity}" as its own`,
    );
  }

  private storeAnswered(): void {
    if (this.consecutiveFailures > 0) {
      this.logger.log(
        `Lease store reachable again for "${this.leaseName}" after ${this.consecutiveFailures} failed request(s)`,
      );
    }
    this.consecutiveFailures = 0;
    this.consecutivePermanentFailures = 0;
    this.lastError = undefined;
    this.lastStoreContactAt = this.clock.wallNow();
  }

  private storeFailed(error: unknown, during: string): void {
    const kind = errorKindOf(error);
    const message = messageOf(error);
    this.consecutiveFailures += 1;
    if (kind === 'permanent') this.consecutivePermanentFailures += 1;
    this.lastError = { kind, message, code: codeOf(error), at: this.clock.wallNow() };
    const line = `Lease store ${kind} error during ${during} of "${this.leaseName}": ${message}`;
    if (kind === 'permanent')
      this.logger.error(`${line} (check the storage configuration; retrying with backoff)`);
    else if (this.consecutiveFailures === 1) this.logger.warn(line);
    else this.logger.debug?.(`${line} (failure ${this.consecutiveFailures} in a row)`);
  }

  private setRole(role: LeaderRole): void {
    if (this.role === role) return;
    this.role = role;
    this.roleSince = this.clock.wallNow();
    this.emit();
  }

  /**
   * Publishes the current state. A subscriber may cause a transition while it is being told of one
   * (e.g. it calls stepDown() on "leader"): that transition is published after every subscriber has
   * seen the first one, so all subscribers see the same order and the last state they see is current.
   */
  private emit(): void {
    if (!this.stateSubject || this.stateSubject.closed) return;
    if (this.emitting) {
      this.emitAgain = true;
      return;
    }
    this.emitting = true;
    try {
      do {
        this.emitAgain = false;
        this.stateSubject.next(this.snapshot());
      } while (this.emitAgain && !this.stateSubject.closed);
    } finally {
      this.emitting = false;
    }
  }

  private snapshot(): LeadershipState {
    const leading = this.role === 'leader';
    return {
      leaseName: this.options.leaseName,
      identity: this.options.identity,
      role: this.role,
      leader: leading ? this.identity : this.observedLeader,
      term: leading ? this.tenure?.term : this.observedTerm,
      since: this.roleSince,
      lastStoreContactAt: this.lastStoreContactAt,
      lastError: this.lastError,
      consecutiveFailures: this.consecutiveFailures,
    };
  }

  private describeTenure(tenure: Tenure): Leadership {
    return {
      leaseName: this.leaseName,
      identity: this.identity,
      term: tenure.term,
      signal: tenure.controller.signal,
      since: tenure.since,
      isActive: () => this.tenure === tenure && this.isLeader(),
      remainingMs: () => (this.tenure === tenure && this.isLeader() ? this.deadline - this.clock.now() : 0),
    };
  }
}

/**
 * What a store reports is foreign input (another replica wrote it; a custom store may pass it through
 * unchecked): terms must be safe integers (anything else reads as 0, a lost record, so the
 * record-loss rules apply) and holder identities are stripped of control characters and capped.
 */
function trustedObservation(observation: LeaseObservation): LeaseObservation {
  const safeTerm = (value: unknown): number | undefined =>
    typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const recoveredTerm = safeTerm(observation.recoveredTerm);
  const successor = sanitizeForeignText(observation.successor);
  return {
    held: observation.held === true,
    holder: sanitizeForeignText(observation.holder),
    term: safeTerm(observation.term) ?? 0,
    acquiredAt: observation.acquiredAt,
    ...(recoveredTerm !== undefined ? { recoveredTerm } : {}),
    ...(successor !== undefined ? { successor } : {}),
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}
