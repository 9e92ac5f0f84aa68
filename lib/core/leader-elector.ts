import type { Observable } from 'rxjs';
import { Candidacy, type CandidacyHost } from './candidacy.js';
import { sleep, systemClock, type Clock } from './clock.js';
import {
  resolveElectionOptions,
  type ElectionOptions,
  type ResolvedElectionOptions,
} from './election-options.js';
import { LeaderElectionError, LeaderElectionSetupError, NotLeaderError } from './errors.js';
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
import { describeMembers, type LeaseMember } from './presence.js';
import { RecordLossRules } from './record-loss.js';
import { messageOf, StoreHealth } from './store-health.js';
import { StoreRequests, type StoreRequestEvent } from './store-requests.js';
import { drainWithin, type Tenure } from './tenure.js';
import type { TenureKeeper } from './tenure-keeper.js';
import { tenureKeeperOverStore } from './store-tenure-keeper.js';
import { checkFastFailoverSetup } from './fast-failover.js';

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

  private readonly clock: Clock;
  private readonly logger: ElectionLogger;
  private tenure?: Tenure;
  private readonly stopController = new AbortController();
  private loop?: Promise<void>;
  private firstAttempt?: Promise<void>;
  private stopping?: Promise<void>;
  private readonly requests: StoreRequests;
  private readonly recordLoss: RecordLossRules;
  private readonly health: StoreHealth;
  private readonly candidacy: Candidacy;
  private readonly publisher: LeadershipPublisher;
  private readonly presence?: PresenceAgent;
  private readonly beforeHandover?: () => Promise<boolean | void>;
  private readonly drainTimeoutMs: number;
  private readonly keeper: TenureKeeper;

  constructor(
    private readonly store: LeaseStore,
    options: ElectionOptions,
    dependencies: LeaderElectorDependencies = {},
  ) {
    this.options = resolveElectionOptions(options);
    checkFastFailoverSetup(this.options.fastFailover, store, dependencies.renewalDelegate);
    const clock = (this.clock = dependencies.clock ?? systemClock);
    const logger = (this.logger = safeLogger(
      dependencies.logger ?? consoleLogger(`LeaderElector:${this.options.leaseName}`),
    ));
    this.requests = new StoreRequests(clock, this.stopController.signal, this.options);
    this.recordLoss = new RecordLossRules(clock, logger, this.options);
    this.health = new StoreHealth(clock, logger, this.options.leaseName);
    this.beforeHandover = dependencies.beforeHandover;
    this.drainTimeoutMs = dependencies.drainTimeoutMs ?? this.options.leaseDurationMs;
    const stop = this.stopController.signal;
    this.presence = PresenceAgent.create(store, this, this.options, this.requests, clock, logger, stop);
    // What the candidacy (follower polls) and the tenure keeper (leading) both work with.
    const { health, recordLoss, requests, drainTimeoutMs } = this;
    const shared = { lease: this, health, recordLoss, stopSignal: stop, drainTimeoutMs };
    const candidacyHost: CandidacyHost = {
      ...shared,
      store,
      requests,
      presence: this.presence,
      highestTermSeen: () => this.publisher.highestTermSeen,
      noteObservation: (observation) => this.observed(observation),
      promote: (sentAt, term) => this.promote(sentAt, term),
    };
    this.candidacy = new Candidacy(candidacyHost, clock, logger, dependencies.random ?? Math.random);
    this.keeper = tenureKeeperOverStore(store, requests, {
      ...shared,
      clock,
      logger,
      timings: this.options,
      renewalDelegate: dependencies.renewalDelegate,
      current: () => this.tenure,
      demote: (tenure, reason, message) => this.demote(tenure, reason, message),
    });
    this.publisher = new LeadershipPublisher(this.options, clock, this.health, () => this.tenure?.term);
  }

  get leaseName(): string {
    return this.options.leaseName;
  }

  /** Proposed lease id: stable so that retried acquires are idempotent; a new one after each release. */
  get leaseId(): string {
    return this.candidacy.leaseId;
  }

  get identity(): string {
    return this.options.identity;
  }

  /**
   * True only while this replica holds the lease AND the monotonic clock is before the deadline, checked at
   * every call: a late tick is refused, and the call steps down so the tenure's signal aborts first.
   */
  isLeader(): boolean {
    const tenure = this.tenure;
    return tenure !== undefined && this.publisher.role === 'leader' && this.keeper.check(tenure);
  }

  /** @internal In a cooldown (presence announces it as unable to lead meanwhile). */
  coolingDown(): boolean {
    return this.candidacy.coolingDown();
  }

  /** The current tenure, only while isLeader() is true. */
  get leadership(): Leadership | undefined {
    const tenure = this.tenure;
    return tenure && this.isLeader()
      ? tenure.describe(this, () => this.tenure === tenure && this.isLeader())
      : undefined;
  }

  /** Monotonic ms left before this replica must consider itself deposed (0 when not leader). */
  remainingLeaseMs(): number {
    return this.isLeader() ? this.tenure!.remainingMs() : 0;
  }

  get state(): LeadershipState {
    this.isLeader(); // steps down first if the deadline has passed unnoticed
    return this.publisher.snapshot();
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
    if (this.publisher.role === 'stopped' || this.stopping)
      return Promise.reject(
        new Error(`LeaderElector "${this.leaseName}" was stopped and cannot be restarted`),
      );
    if (this.firstAttempt) return this.firstAttempt;
    let firstAttemptDone!: () => void;
    this.firstAttempt = new Promise<void>((resolve) => (firstAttemptDone = resolve));
    this.candidacy.started();
    this.publisher.setRole('follower');
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
    const presenceOff = `Presence is off for "${this.leaseName}" (presence: false, or no presence store)`;
    if (!this.presence) throw new LeaderElectionSetupError(presenceOff);
    const records = await this.presence.liveRecords();
    return describeMembers(records, this.publisher.currentLeader(this.isLeader()), this.identity);
  }

  /** The members as of the last listing, without I/O (for health output); undefined when presence is off. */
  lastKnownMembers(): LeaseMember[] | undefined {
    if (!this.presence) return undefined;
    const leader = this.publisher.currentLeader(this.isLeader());
    return describeMembers(this.presence.lastKnownLive(), leader, this.identity);
  }

  /**
   * Manual switchover to `identity`, a live member that can lead: ends this tenure, drains its work,
   * then releases naming the successor, whom the others leave the free lease to for one window.
   */
  async yieldTo(identity: string): Promise<void> {
    if (!this.isLeader())
      throw new NotLeaderError(
        this.leaseName,
        `Not the leader of "${this.leaseName}": only the leader can hand it over`,
      );
    if (identity === this.identity) throw new LeaderElectionError(`yieldTo: "${identity}" is this replica`);
    await PresenceAgent.liveCandidate(this.presence, this.leaseName, identity);
    await this.handOver(identity, 'manual switchover (yieldTo)');
  }

  /** @internal Used by yieldTo and the presence agent (failback). */
  async handOver(identity: string, why: string): Promise<void> {
    const tenure = this.tenure;
    if (this.publisher.role !== 'leader' || !tenure) return;
    // One poll only: the successor mark keeps everyone (us included) off the free lease for a window.
    this.candidacy.coolDown(this.clock.now() + this.options.retryIntervalMs);
    await this.endAndRelease('step-down', `handing over to "${identity}" (${why})`, identity);
  }

  /** Resolves with the tenure as soon as this replica leads (at once if it already does). */
  waitForLeadership(signal?: AbortSignal): Promise<Leadership> {
    const current = this.leadership;
    if (current) return Promise.resolve(current);
    if (this.publisher.role === 'stopped')
      return Promise.reject(new Error(`LeaderElector "${this.leaseName}" is stopped`));
    const stopped = `LeaderElector "${this.leaseName}" stopped before it became leader`;
    return this.publisher.waitFor(() => this.leadership, stopped, signal);
  }

  /**
   * Voluntarily gives up leadership: ends the tenure, drains its work, releases the lease, and stays
   * out for `cooldownMs` (default: one lease duration) so another replica can take over.
   */
  async stepDown(options: { cooldownMs?: number } = {}): Promise<void> {
    this.candidacy.coolDownFor(options.cooldownMs ?? this.options.leaseDurationMs, 'stepDown cooldownMs');
    await this.endAndRelease('step-down', 'stepped down voluntarily');
    this.candidacy.wake();
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
    const tenure = this.publisher.role === 'leader' ? this.tenure : undefined;
    const mayHoldLease = tenure !== undefined || this.candidacy.mayHoldLease;
    if (tenure) this.demote(tenure, 'stopped', 'election stopped');
    this.publisher.setRole('stopped');
    await this.candidacy.releasesSettled();
    const drain = beforeRelease ?? this.beforeHandover;
    if (release && mayHoldLease) await this.candidacy.releaseAfter(tenure, () => this.tenure, drain);
    else if (drain) {
      const { clock, logger, leaseName, drainTimeoutMs, options } = this;
      await drainWithin({ clock, logger, leaseName, drainTimeoutMs, timings: options, tenure }, drain);
    }
    if (release && !mayHoldLease) this.candidacy.explainNoRelease();
    await this.presence?.stop();
    this.publisher.complete();
    this.requests.complete();
  }

  // ---------------------------------------------------------------- for test doubles (lib/testing)

  /** Transitions without a store: the same state stream, events, signals and logs as real ones. */
  protected grantTenure(term: number): boolean {
    if (this.publisher.role === 'stopped') return false;
    if (this.tenure) this.demote(this.tenure, 'lost', 'tenure replaced by the test');
    return this.promote(this.clock.now(), term);
  }

  protected endTenure(reason: LeadershipEndReason, message: string): void {
    if (this.tenure) this.demote(this.tenure, reason, message);
  }

  protected noteLeader(leader: string | undefined, term: number | undefined): void {
    this.observed({ held: leader !== undefined, holder: leader, term: term ?? this.publisher.lastTerm ?? 0 });
  }

  protected enterRole(role: LeaderRole): void {
    this.publisher.setRole(role);
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
        if (tenure && this.publisher.role === 'leader') {
          firstAttemptDone();
          await this.keeper.renewWhenDue(tenure);
          continue;
        }
        const delay = await this.candidacy.poll();
        firstAttemptDone();
        if (!this.isLeader() && !stopSignal.aborted) await this.candidacy.sleep(delay);
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
    const tenure = this.keeper.begin(term, sentAt);
    if (!tenure) return false;
    this.tenure = tenure;
    this.publisher.leading(term);
    // Our acquisition wrote the newest record: any earlier loss is settled, and marks about the free
    // lease seen before it say nothing about the record now.
    this.recordLoss.promoted(term);
    this.candidacy.tenureBoundary();
    tenure.armDeadlineTimer();
    this.logger.log(`Became leader of "${this.leaseName}" as "${this.identity}" (term ${term})`);
    this.publisher.becameLeader(term, tenure.signal, tenure.deadline - this.clock.now());
    return true;
  }

  /** Ends `tenure` if it is the current one: back to following, its signal aborted, 'lost' published. */
  private demote(tenure: Tenure, reason: LeadershipEndReason, message: string): void {
    if (this.tenure !== tenure) return;
    this.tenure = undefined;
    this.candidacy.tenureBoundary();
    this.publisher.following();
    tenure.end(reason, message);
    const line = `Stepped down from "${this.leaseName}" (term ${tenure.term}): ${message}`;
    // Leaving on purpose (stop, step-down) is routine; losing the lease deserves a warning.
    if (reason === 'step-down' || reason === 'stopped') this.logger.log(line);
    else this.logger.warn(line);
    this.publisher.lost(tenure.term, reason, message);
  }

  /**
   * Ends the current tenure (if any) and gives back what this replica may hold, through the tenure:
   * its work drained first (the drain hook), never freeing a later tenure's lease.
   */
  private async endAndRelease(reason: LeadershipEndReason, why: string, to?: string): Promise<void> {
    const tenure = this.publisher.role === 'leader' ? this.tenure : undefined;
    const mayHoldLease = tenure !== undefined || this.candidacy.mayHoldLease;
    if (tenure) this.demote(tenure, reason, why);
    if (mayHoldLease) await this.candidacy.releaseAfter(tenure, () => this.tenure, this.beforeHandover, to);
  }

  private observed(observation: LeaseObservation): void {
    if (observation.held && observation.holder !== this.identity) this.candidacy.sawOtherHolder();
    this.publisher.observed(observation);
  }
}
