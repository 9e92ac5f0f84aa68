import { randomUUID } from 'node:crypto';
import type { Observable } from 'rxjs';
import { Candidacy, type CandidacyHost } from './candidacy.js';
import { sleep, systemClock, type Clock } from './clock.js';
import {
  InvalidElectionOptionError,
  resolveElectionOptions,
  type ElectionOptions,
  type ResolvedElectionOptions,
} from './election-options.js';
import type { LeaseObservation, LeaseStore } from './lease-store.js';
import {
  LeadershipEndedError,
  type LeaderElectorDependencies,
  type LeaderRole,
  type Leadership,
  type LeadershipState,
  type StopOptions,
} from './leadership.js';
import type { LeadershipEndReason, LeadershipEvent } from './leadership-events.js';
import { LeadershipPublisher } from './leadership-publisher.js';
import { consoleLogger, safeLogger, type ElectionLogger } from './logger.js';
import { PresenceAgent } from './presence-agent.js';
import { describeMembers, isPresenceStore, type LeaseMember } from './presence.js';
import { RecordLossRules } from './record-loss.js';
import type { DelegatedRenewal, RenewalDelegate } from './renewal-delegate.js';
import { messageOf, StoreHealth } from './store-health.js';
import { StoreRequests, type StoreRequestEvent } from './store-requests.js';
import { Tenure, type TenureEnvironment } from './tenure.js';
import { renewWhenDue, type RenewalHost } from './tenure-renewal.js';
import { deadlineAfter } from './timing.js';

export type { StoreRequestEvent } from './store-requests.js';
export {
  LeadershipEndedError,
  type LeaderElectorDependencies,
  type LeaderRole,
  type Leadership,
  type LeadershipState,
  type StopOptions,
} from './leadership.js';

/**
 * Leader election for one lease name over a {@link LeaseStore}: a thin loop over three parts. A
 * {@link Candidacy} makes one follower poll at a time (observe; acquire only a free lease or one
 * recorded as ours). A {@link Tenure} is one leadership: term, signal, send-time deadline (the
 * replica leads only while now < tSend + D − safetyMargin), renewals, and the release, which drains
 * the tenure's work first. A {@link LeadershipPublisher} tells the world. The loop survives every
 * error; only stop() ends it. Rules and their tests: docs/GUARANTEES.md.
 */
export class LeaderElector {
  readonly options: ResolvedElectionOptions;
  /** Proposed lease id, stable for this candidate's life so that retried acquires are idempotent. */
  readonly leaseId: string = randomUUID();

  private readonly clock: Clock;
  private readonly logger: ElectionLogger;
  private role: LeaderRole = 'idle';
  private roleSince: number;
  private tenure?: Tenure;
  private observedLeader?: string;
  private observedTerm?: number;
  /** Highest term ever seen here: passed to acquire so terms never go backwards. */
  private highestTermSeen = 0;
  private readonly stopController = new AbortController();
  private wakeController = new AbortController();
  private loop?: Promise<void>;
  private firstAttempt?: Promise<void>;
  private stopping?: Promise<void>;
  /** The release of an ended tenure, after its drain: the candidacy acquires nothing meanwhile. */
  private pendingRelease?: Promise<void>;
  private readonly requests: StoreRequests;
  private readonly recordLoss: RecordLossRules;
  private readonly health: StoreHealth;
  private readonly candidacy: Candidacy;
  private readonly publisher: LeadershipPublisher;
  private readonly presence?: PresenceAgent;
  private readonly beforeHandover?: () => Promise<boolean | void>;
  private readonly renewalDelegate?: RenewalDelegate;
  private readonly tenureEnvironment: TenureEnvironment;
  private readonly renewalHost: RenewalHost;

  constructor(
    private readonly store: LeaseStore,
    options: ElectionOptions,
    dependencies: LeaderElectorDependencies = {},
  ) {
    this.options = resolveElectionOptions(options);
    const clock = (this.clock = dependencies.clock ?? systemClock);
    const logger = (this.logger = safeLogger(
      dependencies.logger ?? consoleLogger(`LeaderElector:${this.options.leaseName}`),
    ));
    this.roleSince = clock.wallNow();
    this.requests = new StoreRequests(clock, this.stopController.signal, this.options);
    this.recordLoss = new RecordLossRules(clock, logger, this.options);
    this.health = new StoreHealth(clock, logger, this.options.leaseName);
    this.beforeHandover = dependencies.beforeHandover;
    this.renewalDelegate = dependencies.renewalDelegate;
    this.tenureEnvironment = {
      clock,
      logger,
      timings: this.options,
      leaseName: this.options.leaseName,
      drainTimeoutMs: dependencies.drainTimeoutMs ?? this.options.leaseDurationMs,
      onDeadline: (tenure) => this.checkDeadline(tenure),
    };
    const preference = this.options.preference;
    if (preference.presence && isPresenceStore(store)) {
      const settings = { ...preference, presence: preference.presence };
      const stop = this.stopController.signal;
      this.presence = new PresenceAgent(store, this, settings, this.requests, clock, logger, stop);
    } else if (preference.prioritySet || preference.failbackAfterMs !== undefined) {
      throw new InvalidElectionOptionError(
        preference.prioritySet ? 'priority' : 'failback',
        preference.prioritySet ? preference.priority : 'on',
        `a store with presence records (MemoryLeaseStore or AzureBlobLeaseStore; ${store.description} has none)`,
      );
    }
    this.candidacy = new Candidacy(this.candidacyHost(), clock, logger, dependencies.random ?? Math.random);
    this.renewalHost = {
      clock,
      timings: this.options,
      health: this.health,
      stopSignal: this.stopController.signal,
      sendRenew: (tenure, timeoutMs) =>
        this.requests.send('renew', (signal) => store.renew(this.leaseName, this.leaseId, signal), {
          timeoutMs,
          signal: tenure.signal,
        }),
      lost: (tenure, message, recordLost) => this.lost(tenure, message, recordLost),
      deadlinePassed: (tenure) => this.demote(tenure, 'deadline', this.deadlineMissedReason(tenure)),
      followDelegate: (tenure) => this.followDelegate(tenure),
    };
    this.publisher = new LeadershipPublisher(() => this.snapshot());
  }

  get leaseName(): string {
    return this.options.leaseName;
  }

  get identity(): string {
    return this.options.identity;
  }

  /**
   * True only while this replica holds the lease AND the monotonic clock is before the deadline,
   * checked at every call: a tick that runs late (starved timers, a paused process) is refused, and
   * the call steps down on the spot, so the tenure's signal aborts before the caller goes on.
   */
  isLeader(): boolean {
    const tenure = this.tenure;
    if (!tenure || this.role !== 'leader') return false;
    this.followDelegate(tenure);
    if (tenure.isValid()) return true;
    this.demote(tenure, 'deadline', this.deadlineMissedReason(tenure));
    return false;
  }

  /** The current tenure, only while isLeader() is true. */
  get leadership(): Leadership | undefined {
    const tenure = this.tenure;
    return tenure && this.isLeader() ? this.describeTenure(tenure) : undefined;
  }

  /** Monotonic ms left before this replica must consider itself deposed (0 when not leader). */
  remainingLeaseMs(): number {
    return this.isLeader() ? this.tenure!.remainingMs() : 0;
  }

  get state(): LeadershipState {
    this.isLeader(); // steps down first if the deadline has passed unnoticed
    return this.snapshot();
  }

  /**
   * Every transition in the order the elector makes them: 'acquired', 'lost' (with the reason),
   * 'leader-changed'. Each fires once; nothing is replayed. A throwing subscriber never breaks the
   * election (RxJS reports it as unhandled: catch inside). Also on `node:diagnostics_channel`.
   */
  get events$(): Observable<LeadershipEvent> {
    return this.publisher.events$;
  }

  /** One event per store call as it settles (operation, duration, outcome, error kind), for metrics. */
  get requests$(): Observable<StoreRequestEvent> {
    return this.requests.events$;
  }

  /** Current state first, then every change of role, leader or term. */
  get state$(): Observable<LeadershipState> {
    return this.publisher.state$;
  }

  /**
   * Starts the election. Resolves once the first attempt has completed or failed; never rejects for
   * storage errors (an outage at boot leaves a follower that keeps trying).
   */
  start(): Promise<void> {
    if (this.role === 'stopped')
      return Promise.reject(
        new Error(`LeaderElector "${this.leaseName}" was stopped and cannot be restarted`),
      );
    if (this.firstAttempt) return this.firstAttempt;
    let firstAttemptDone!: () => void;
    this.firstAttempt = new Promise<void>((resolve) => (firstAttemptDone = resolve));
    this.candidacy.started();
    this.setRole('follower');
    this.presence?.start();
    this.loop = this.run(firstAttemptDone);
    return this.firstAttempt;
  }

  get requestTimeoutMs(): number {
    return this.options.requestTimeoutMs;
  }

  /** Number of store calls tracked as in flight (for tests and diagnostics). */
  get inFlightRequests(): number {
    return this.requests.size;
  }

  /** The live members, candidates first then best first, from a listing at most one presence interval old. */
  async members(): Promise<LeaseMember[]> {
    if (!this.presence)
      throw new Error(
        `Presence is off for "${this.leaseName}" (presence: false, or the store keeps no presence records)`,
      );
    const records = await this.presence.liveRecords();
    return describeMembers(records, this.isLeader() ? this.identity : this.observedLeader, this.identity);
  }

  /** The members as of the last listing, without I/O (for health output); undefined when presence is off. */
  lastKnownMembers(): LeaseMember[] | undefined {
    if (!this.presence) return undefined;
    const leader = this.isLeader() ? this.identity : this.observedLeader;
    return describeMembers(this.presence.lastKnownLive(), leader, this.identity);
  }

  /**
   * Manual switchover to `identity`, a live member that can lead: ends this tenure, drains its work,
   * then releases naming the successor, whom the others leave the free lease to for one window.
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
    const tenure = this.tenure;
    if (this.role !== 'leader' || !tenure) return;
    // One poll only: the successor mark keeps everyone (us included) off the free lease for a window.
    this.candidacy.coolDown(this.clock.now() + this.options.retryIntervalMs);
    this.demote(tenure, 'step-down', `handing over to "${identity}" (${why})`);
    await this.releaseAfter(tenure, this.beforeHandover, identity);
  }

  /** Resolves with the tenure as soon as this replica leads (at once if it already does). */
  waitForLeadership(signal?: AbortSignal): Promise<Leadership> {
    const current = this.leadership;
    if (current) return Promise.resolve(current);
    if (this.role === 'stopped')
      return Promise.reject(new Error(`LeaderElector "${this.leaseName}" is stopped`));
    const stopped = `LeaderElector "${this.leaseName}" stopped before it became leader`;
    return this.publisher.waitFor(() => this.leadership, stopped, signal);
  }

  /**
   * Voluntarily gives up leadership: ends the tenure, drains its work, releases the lease, and stays
   * out for `cooldownMs` (default: one lease duration) so another replica can take over.
   */
  async stepDown(options: { cooldownMs?: number } = {}): Promise<void> {
    const cooldownMs = options.cooldownMs ?? this.options.leaseDurationMs;
    if (typeof cooldownMs !== 'number' || !(cooldownMs >= 0) || !Number.isFinite(cooldownMs)) {
      const got = typeof cooldownMs === 'number' ? String(cooldownMs) : typeof cooldownMs;
      throw new RangeError(`stepDown cooldownMs must be a finite number ≥ 0, got ${got}`);
    }
    // The later of the two; the record-loss wait is separate state, so no cooldown shortens it.
    this.candidacy.coolDown(this.clock.now() + cooldownMs);
    const tenure = this.role === 'leader' ? this.tenure : undefined;
    const mayHoldLease = tenure !== undefined || this.candidacy.mayHoldLease;
    if (tenure) this.demote(tenure, 'step-down', 'stepped down voluntarily');
    if (mayHoldLease) await this.releaseAfter(tenure, tenure ? this.beforeHandover : undefined);
    this.wake();
  }

  /**
   * Stops the election: no more polls or renewals, in-flight requests aborted and awaited (bounded),
   * the tenure ended, its work drained (`beforeRelease`, else the elector's drain), and the lease
   * released if this replica may hold it. Idempotent.
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
    const mayHoldLease = tenure !== undefined || this.candidacy.mayHoldLease;
    if (tenure) this.demote(tenure, 'stopped', 'election stopped');
    this.setRole('stopped');
    await this.pendingRelease;
    const drain = beforeRelease ?? (tenure ? this.beforeHandover : undefined);
    if (release && mayHoldLease) await this.releaseAfter(tenure, drain);
    else if (drain)
      await drain().catch((error: unknown) => this.logger.warn(`Drain failed: ${messageOf(error)}`));
    await this.presence?.stop();
    this.publisher.complete();
    this.requests.complete();
  }

  // ---------------------------------------------------------------- for test doubles (lib/testing)

  /** Transitions without a store: the same state stream, events, signals and logs as real ones. */
  protected grantTenure(term: number): boolean {
    if (this.role === 'stopped') return false;
    if (this.tenure) this.demote(this.tenure, 'lost', 'tenure replaced by the test');
    return this.promote(this.clock.now(), term);
  }

  protected endTenure(reason: LeadershipEndReason, message: string): void {
    if (this.tenure) this.demote(this.tenure, reason, message);
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
      this.publisher.complete();
      this.requests.complete();
    }
  }

  // ---------------------------------------------------------------- the loop and its transitions

  private async run(firstAttemptDone: () => void): Promise<void> {
    const stopSignal = this.stopController.signal;
    while (!stopSignal.aborted) {
      try {
        const tenure = this.tenure;
        if (tenure && this.role === 'leader') {
          firstAttemptDone();
          await renewWhenDue(tenure, this.renewalHost);
          continue;
        }
        const delay = await this.candidacy.poll();
        firstAttemptDone();
        if (!this.isLeader() && !stopSignal.aborted)
          await sleep(this.clock, delay, [stopSignal, this.wakeController.signal]);
      } catch (error) {
        // Defensive: every expected failure is handled where it happens. Never let the loop die.
        firstAttemptDone();
        this.logger.error(`Unexpected error in the election loop (continuing): ${messageOf(error)}`);
        await sleep(this.clock, this.options.retryIntervalMs, stopSignal);
      }
    }
    firstAttemptDone();
  }

  /** Becomes leader after a successful acquire sent at `sentAt`. False if its deadline already passed. */
  private promote(sentAt: number, term: number): boolean {
    if (this.clock.now() >= deadlineAfter(sentAt, this.options)) {
      this.logger.warn(
        `Acquired lease "${this.leaseName}" too late to use it (the request took longer than the lease); acquiring again`,
      );
      return false;
    }
    const delegated = this.renewalDelegate ? this.delegate(sentAt) : undefined;
    const tenure = (this.tenure = new Tenure(term, sentAt, this.tenureEnvironment, delegated));
    this.observedLeader = this.identity;
    this.observedTerm = term;
    this.highestTermSeen = Math.max(this.highestTermSeen, term);
    // Our acquisition wrote the newest record: any earlier loss is settled, and marks about the free
    // lease seen before it say nothing about the record now.
    this.recordLoss.promoted(term);
    this.candidacy.tenureBoundary();
    tenure.armDeadlineTimer();
    this.setRole('leader');
    this.logger.log(`Became leader of "${this.leaseName}" as "${this.identity}" (term ${term})`);
    const at = this.clock.wallNow();
    const expiresAt = at + (tenure.deadline - this.clock.now());
    const base = { leaseName: this.leaseName, identity: this.identity, at };
    this.publisher.publish({ type: 'acquired', ...base, term, signal: tenure.signal, expiresAt });
    this.announceLeader();
    return true;
  }

  /** Ends `tenure` if it is the current one: back to following, its signal aborted, 'lost' published. */
  private demote(tenure: Tenure, reason: LeadershipEndReason, message: string): void {
    if (this.tenure !== tenure) return;
    this.tenure = undefined;
    this.observedLeader = undefined;
    this.candidacy.tenureBoundary();
    if (this.role === 'leader') this.setRole('follower');
    tenure.end(reason, message);
    const line = `Stepped down from "${this.leaseName}" (term ${tenure.term}): ${message}`;
    // Leaving on purpose (stop, step-down) is routine; losing the lease deserves a warning.
    if (reason === 'step-down' || reason === 'stopped') this.logger.log(line);
    else this.logger.warn(line);
    const at = this.clock.wallNow();
    const base = { leaseName: this.leaseName, identity: this.identity, at };
    this.publisher.publish({ type: 'lost', ...base, term: tenure.term, reason, message });
  }

  private lost(tenure: Tenure, message: string, recordLost: boolean): void {
    // The record vanished while our lease was valid: we were its holder (the mark expires with it).
    if (recordLost) this.recordLoss.ownRecordLost(tenure.term, tenure.leaseExpiredBy());
    this.demote(tenure, 'lost', message);
  }

  /** The deadline timer fired: re-read a delegated renewal, then step down unless the deadline moved. */
  private checkDeadline(tenure: Tenure): void {
    if (this.tenure !== tenure) return;
    this.followDelegate(tenure);
    if (this.tenure !== tenure) return;
    if (tenure.isValid())
      tenure.armDeadlineTimer(); // timers may fire a little early
    else this.demote(tenure, 'deadline', this.deadlineMissedReason(tenure));
  }

  /** Reads the renewal thread's progress (a shared-memory read): a loss ends the tenure at once. */
  private followDelegate(tenure: Tenure): void {
    if (!tenure.delegated) return;
    const sentBefore = tenure.lastSendAt;
    const lost = tenure.followDelegate();
    if (lost) this.lost(tenure, `lease lost: ${lost.message}`, lost.recordLost && tenure.isValid());
    else if (tenure.lastSendAt > sentBefore) this.health.answered();
  }

  private deadlineMissedReason(tenure: Tenure): string {
    return tenure.deadlineMissedReason(this.health.lastError?.message);
  }

  /** Hands the tenure's renewals to the delegate; on the main thread if the delegate cannot take it. */
  private delegate(sentAt: number): DelegatedRenewal | undefined {
    const { leaseDurationMs, safetyMarginMs, renewIntervalMs, renewRetryIntervalMs, requestTimeoutMs } =
      this.options;
    try {
      return this.renewalDelegate!.begin({
        leaseName: this.leaseName,
        leaseId: this.leaseId,
        sentAt,
        leaseDurationMs,
        safetyMarginMs,
        renewIntervalMs,
        renewRetryIntervalMs,
        requestTimeoutMs,
      });
    } catch (error) {
      this.logger.warn(
        `The renewal delegate cannot renew "${this.leaseName}" (${messageOf(error)}); renewing on the main thread`,
      );
      return undefined;
    }
  }

  /**
   * Releases what an ended tenure (or an acquire in doubt) may hold, through the tenure: drained
   * first, never freeing a later tenure's lease. No acquire is made while it is pending.
   */
  private releaseAfter(
    tenure: Tenure | undefined,
    drain?: () => Promise<boolean | void>,
    successor?: string,
  ): Promise<void> {
    const channel = { current: () => this.tenure, send: (to?: string) => this.candidacy.release(to) };
    const releasing = (async () => {
      if (!tenure) return this.candidacy.release(successor);
      const outcome = await tenure.release(channel, drain, successor);
      // The lease stays ours until it expires: re-acquiring it would start a tenure beside that work.
      if (outcome === 'left-to-expire') this.candidacy.coolDown(tenure.leaseExpiredBy());
    })();
    this.pendingRelease = releasing;
    void releasing.finally(() => {
      if (this.pendingRelease === releasing) this.pendingRelease = undefined;
      this.wake();
    });
    return releasing;
  }

  private candidacyHost(): CandidacyHost {
    return {
      leaseName: this.options.leaseName,
      identity: this.options.identity,
      leaseId: this.leaseId,
      options: this.options,
      store: this.store,
      requests: this.requests,
      health: this.health,
      recordLoss: this.recordLoss,
      presence: this.presence,
      stopSignal: this.stopController.signal,
      highestTermSeen: () => this.highestTermSeen,
      noteObservation: (observation) => this.noteObservation(observation),
      promote: (sentAt, term) => this.promote(sentAt, term),
      releasePending: () => this.pendingRelease !== undefined,
    };
  }

  private wake(): void {
    const previous = this.wakeController;
    this.wakeController = new AbortController();
    previous.abort();
  }

  private noteObservation(observation: LeaseObservation): void {
    if (observation.held && observation.holder !== this.identity) this.candidacy.sawOtherHolder();
    this.observedLeader = observation.held ? observation.holder : undefined;
    this.observedTerm = observation.term > 0 ? observation.term : this.observedTerm;
    this.highestTermSeen = Math.max(this.highestTermSeen, observation.term);
    this.announceLeader();
    this.publisher.emit();
  }

  private announceLeader(): void {
    const base = { leaseName: this.leaseName, identity: this.identity, at: this.clock.wallNow() };
    const self = this.observedLeader === this.identity && this.role === 'leader';
    this.publisher.announceLeader(base, this.observedLeader, this.observedTerm, self);
  }

  private setRole(role: LeaderRole): void {
    if (this.role === role) return;
    this.role = role;
    this.roleSince = this.clock.wallNow();
    this.publisher.emit();
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
      lastStoreContactAt: this.health.lastContactAt,
      lastError: this.health.lastError,
      consecutiveFailures: this.health.consecutiveFailures,
    };
  }

  private describeTenure(tenure: Tenure): Leadership {
    const current = (): boolean => this.tenure === tenure && this.isLeader();
    return {
      leaseName: this.leaseName,
      identity: this.identity,
      term: tenure.term,
      signal: tenure.signal,
      since: tenure.since,
      isActive: current,
      remainingMs: () => (current() ? tenure.remainingMs() : 0),
    };
  }
}
