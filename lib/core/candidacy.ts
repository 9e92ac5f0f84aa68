import { randomUUID } from 'node:crypto';
import { sleep, type Clock } from './clock.js';
import { jitteredRetryDelay, type ResolvedElectionOptions } from './election-options.js';
import type { LeaseObservation, LeaseStore } from './lease-store.js';
import type { ElectionLogger } from './logger.js';
import type { PresenceAgent } from './presence-agent.js';
import type { RecordLossRules } from './record-loss.js';
import { leftToExpireLine, RetiredLeases, type RetiredLease } from './retired-leases.js';
import { trustedObservation } from './sanitize.js';
import type { StoreHealth } from './store-health.js';
import type { StoreRequests } from './store-requests.js';
import { drainWithin, type Tenure } from './tenure.js';
import { permanentErrorBackoff } from './timing.js';
import { SharedLeaseObserver } from './shared-observer.js';
import { InvalidElectionOptionError } from './errors.js';
import { breakIfStale, VersionWatch } from './fast-failover.js';
import { acquireRequestAfter } from './acquire-request.js';
import { FreeLeasePreference } from './free-lease-preference.js';

/** What a follower poll needs from its elector. */
export interface CandidacyHost {
  /** The elector: its lease name, identity and options. */
  readonly lease: { leaseName: string; identity: string; options: ResolvedElectionOptions };
  readonly store: LeaseStore;
  readonly requests: StoreRequests;
  readonly health: StoreHealth;
  readonly recordLoss: RecordLossRules;
  readonly presence?: PresenceAgent;
  readonly stopSignal: AbortSignal;
  /** Longest wait for a drain before the lease is left to expire. */
  readonly drainTimeoutMs: number;
  highestTermSeen(): number;
  noteObservation(observation: LeaseObservation): void;
  /** Becomes leader on an acquire sent at `sentAt`; false when it came too late to use. */
  promote(sentAt: number, term: number): boolean;
}

/**
 * A candidate's side of the election, one follower poll at a time: the cooldown, the record-loss
 * wait, the preference windows for a free lease (a named successor, better priority tiers, the
 * election delay), acquires whose outcome is unknown, a second replica using our identity, and the
 * backoff after permanent errors. Releases go through here too: an acquire a release overtook is
 * never led on.
 */
export class Candidacy {
  private cooldownUntil = -Infinity;
  /** The last acquire failed in an unknown way (or was not led on): the lease may be ours. */
  private outcomeUnknown = false;
  private releasesSent = 0;
  private refusedOwnRecord = 0;
  /** Another replica uses this identity: a record naming us is not taken as ours. */
  private identityCollision = false;
  /** Whom a free lease is left to: a named successor, better priority tiers, the election delay. */
  private readonly preference: FreeLeasePreference;
  /** The release of an ended tenure, after its drain: no acquire while it is pending. */
  private pendingRelease?: Promise<void>;
  private wakeController = new AbortController();
  /** The proposed lease id: stable, so a retried acquire is idempotent, until a release carries it. */
  private proposedLeaseId = randomUUID();
  /** Lease ids given up while the lease may still be held under them (released, or left to expire). */
  private readonly retired = new RetiredLeases();
  /** Per-lease polls, or the store's shared listing (issue 23): see shared-observer.ts. */
  private readonly observer: SharedLeaseObserver;
  private readonly staleWatch: VersionWatch;

  constructor(
    private readonly host: CandidacyHost,
    private readonly clock: Clock,
    private readonly logger: ElectionLogger,
    private readonly random: () => number,
  ) {
    this.observer = SharedLeaseObserver.of(host.store, clock);
    this.staleWatch = new VersionWatch(clock);
    this.preference = new FreeLeasePreference(host.lease, clock, host.presence);
  }

  /** The lease id this replica acquires with now; a tenure renews with the id it was acquired with. */
  get leaseId(): string {
    return this.proposedLeaseId;
  }

  /** The lease may be held under our lease id although no tenure uses it (stop and stepDown release it). */
  get mayHoldLease(): boolean {
    return this.outcomeUnknown;
  }

  /** A cooldown keeps this replica out of the election now. */
  coolingDown(): boolean {
    return this.clock.now() < this.cooldownUntil;
  }

  started(): void {
    this.preference.started();
  }

  /** Sleeps between polls until `ms` passed, the election stops, or wake() is called. */
  sleep(ms: number): Promise<void> {
    return sleep(this.clock, ms, [this.host.stopSignal, this.wakeController.signal]);
  }

  /** Polls now (a release settled, a step-down ended its tenure). */
  wake(): void {
    const previous = this.wakeController;
    this.wakeController = new AbortController();
    previous.abort();
  }

  /** stepDown's cooldown: validated, and never shortening a longer one already running. */
  coolDownFor(cooldownMs: number, option: string): void {
    if (typeof cooldownMs !== 'number' || !(cooldownMs >= 0) || !Number.isFinite(cooldownMs)) {
      throw new InvalidElectionOptionError(option, cooldownMs, 'a finite number of ms ≥ 0');
    }
    // The record-loss wait is separate state, so no cooldown can shorten it.
    this.coolDown(this.clock.now() + cooldownMs);
  }

  /** Stays out of the election until `until` (the later of this and any cooldown already running). */
  coolDown(until: number): void {
    this.cooldownUntil = Math.max(this.cooldownUntil, until);
  }

  /** A tenure began or ended: marks about the free lease seen before it say nothing about the record now. */
  tenureBoundary(): void {
    this.preference.forget();
  }

  pollDelay(): number {
    // Polls served by the shared listing wait for the next listing instead of sleeping.
    if (this.observer.listing && !this.pendingRelease) return 0;
    return jitteredRetryDelay(this.host.lease.options, this.random);
  }

  /** One follower poll. Returns how long to wait before the next one. */
  async poll(): Promise<number> {
    const host = this.host;
    const now = this.clock.now();
    if (now < this.cooldownUntil) return this.cooldownUntil - now;
    if (this.pendingRelease) return this.pollDelay(); // woken when it settles
    try {
      // Observe even when the last acquire's outcome is unknown: the observation is where a lost
      // record is noticed, and skipping it could let us lead beside the holder of the lost record.
      let observation = trustedObservation(await this.observer.observe(host));
      host.health.answered();
      host.noteObservation(observation);
      if (host.recordLoss.waitingAfter(observation)) return this.pollDelay();
      // stepDown() may have been called, or a release begun, while the observation was on its way.
      if (this.clock.now() < this.cooldownUntil) return this.cooldownUntil - this.clock.now();
      if (this.pendingRelease) return this.pollDelay();
      this.preference.noteObserved(observation);
      // A lease recorded as ours may be one we hold from before a failed renewal or a lost acquire
      // response: acquiring with our stable lease id is idempotent (unless our identity is shared).
      // A record naming us while a retired lease id may still hold it is not ours to take up.
      const recordedAsOurs =
        observation.holder === host.lease.identity &&
        !this.identityCollision &&
        !this.retired.mayHoldRecord(this.clock.now());
      let shouldAcquire = this.outcomeUnknown || !observation.held || recordedAsOurs;
      if (!host.lease.options.preference.canLead) return this.pollDelay();
      // Fast failover: a holder silent for longer than livenessMs (server time) is broken, conditionally.
      if (!shouldAcquire && (shouldAcquire = await breakIfStale(host, observation, this.staleWatch)))
        observation = { ...observation, held: false };
      if (!shouldAcquire) return this.pollDelay();
      // Also after an acquire in doubt: a lease observed free is not ours now, so the preferences apply.
      if (!observation.held) {
        const listedAt = this.preference.listings;
        if (await this.preference.leavesToOthers(observation)) return this.pollDelay();
        // The priority check listed presence (I/O): the lease may have been taken and handed to a
        // named successor meanwhile. Look again before acquiring on a stale "free, no successor".
        if (this.preference.listings !== listedAt && !(await this.stillFreeAsSeen(observation)))
          return this.pollDelay();
      }
      return await this.tryAcquire(observation);
    } catch (error) {
      if (host.stopSignal.aborted) return 0;
      const kind = host.health.failed(error, 'follower poll');
      if (kind === 'lost') this.outcomeUnknown = false;
      if (kind === 'permanent')
        return permanentErrorBackoff(host.health.consecutivePermanentFailures, host.lease.options);
      return this.pollDelay();
    }
  }

  /** Settles when no release is pending. */
  async releasesSettled(): Promise<void> {
    await this.pendingRelease;
  }

  /**
   * Gives back what an ended tenure (or an acquire in doubt) may hold: its work drained first, never
   * freeing a later tenure's lease (`current`). No poll acquires while this is pending.
   */
  releaseAfter(
    tenure: Tenure | undefined,
    current: () => Tenure | undefined,
    drain?: () => Promise<boolean | void>,
    successor?: string,
  ): Promise<void> {
    const releasing = (async () => {
      if (!tenure) {
        // An acquire in doubt (no tenure uses it): work of an earlier tenure may still run.
        const { clock, logger } = this;
        const env = { clock, logger, leaseName: this.host.lease.leaseName, timings: this.host.lease.options };
        if (await drainWithin({ ...env, drainTimeoutMs: this.host.drainTimeoutMs }, drain, successor))
          return this.release(successor);
        return this.leaveToExpire(clock.now() + this.host.lease.options.leaseDurationMs);
      }
      const outcome = await tenure.release({ current, send: (to) => this.release(to) }, drain, successor);
      // The lease stays ours until it expires: re-acquiring it would start a tenure beside that work.
      // A hand-over left to expire still names its successor: leave the lease to it for one window.
      const window = successor === undefined ? 0 : this.host.lease.options.preference.preferenceWindowMs;
      if (outcome === 'left-to-expire') this.leaveToExpire(tenure.leaseExpiredBy() + window);
    })();
    this.pendingRelease = releasing;
    void releasing.finally(() => {
      if (this.pendingRelease === releasing) this.pendingRelease = undefined;
      this.wake();
    });
    return releasing;
  }

  /**
   * A renewal or acquire in flight may hold the lease past `until`: our lease id is retired until it
   * surely ends, and never released (an acquire in doubt under it is left to expire with it).
   */
  private leaveToExpire(until: number): void {
    this.retired.leftToExpireUnder(this.retiring(this.proposedLeaseId), this.clock.now());
    this.proposedLeaseId = randomUUID();
    this.outcomeUnknown = false;
    this.coolDown(until);
  }

  /** `id` given up now: a request of ours under it may land up to requestTimeoutMs late and hold D. */
  private retiring(id: string): RetiredLease {
    const { leaseDurationMs, requestTimeoutMs } = this.host.lease.options;
    return { id, until: this.clock.now() + leaseDurationMs + requestTimeoutMs };
  }

  /** After stop() sent no release: says so when a lease left to expire may still be held. */
  explainNoRelease(): void {
    const left = this.retired.stillLeftToExpire(this.clock.now());
    if (left) this.logger.log(leftToExpireLine(this.host.lease.leaseName, left, this.clock.now()));
  }

  /**
   * Gives the lease back (409 counts as released); a failure just lets it expire. The id it carries
   * is retired first: a release that lands late (after its timeout, after a later acquire of ours)
   * can then never free a lease this replica acquired afterwards.
   */
  private async release(successor?: string, leaseId = this.proposedLeaseId): Promise<void> {
    const host = this.host;
    const left = this.retired.leftToExpireAs(leaseId, this.clock.now());
    // E.g. an acquire in doubt answered after its drain failed: held unused until it expires.
    if (left) return this.logger.log(leftToExpireLine(host.lease.leaseName, left, this.clock.now()));
    this.releasesSent += 1;
    if (leaseId === this.proposedLeaseId) this.proposedLeaseId = randomUUID();
    this.retired.released(this.retiring(leaseId));
    try {
      await host.requests.send(
        'release',
        (signal) =>
          successor === undefined
            ? host.store.release(host.lease.leaseName, leaseId, signal)
            : host.store.release(host.lease.leaseName, leaseId, signal, { successor }),
        { timeoutMs: host.lease.options.requestTimeoutMs, abortOnStop: false },
      );
      this.outcomeUnknown = false;
      host.health.answered();
      this.logger.log(`Released lease "${host.lease.leaseName}"`);
    } catch (error) {
      host.health.failed(error, 'release'); // the lease expires by itself within one lease duration
    }
  }

  /** A fresh observation still shows the record `seen` showed free (same term, no successor, not held). */
  private async stillFreeAsSeen(seen: LeaseObservation): Promise<boolean> {
    const host = this.host;
    const now = trustedObservation(
      await host.requests.send('observe', (signal) => host.store.observe(host.lease.leaseName, signal), {
        timeoutMs: host.lease.options.requestTimeoutMs,
      }),
    );
    host.noteObservation(now);
    // Every observation feeds the record-loss rules: a record seen here and lost later must be noticed.
    if (host.recordLoss.waitingAfter(now)) return false;
    return (
      !now.held && now.term === seen.term && now.holder === seen.holder && now.successor === seen.successor
    );
  }

  /** The acquire half of a poll, after `observation` showed the lease free or ours. */
  private async tryAcquire(observation: LeaseObservation): Promise<number> {
    const host = this.host;
    const sentAt = this.clock.now();
    const leaseId = this.proposedLeaseId;
    const releasesBefore = this.releasesSent;
    const outcomeWasUnknown = this.outcomeUnknown;
    const termOnRecord = host.recordLoss.termOnRecord;
    this.outcomeUnknown = true;
    const result = await host.requests.send(
      'acquire',
      (signal) =>
        host.store.acquire(
          acquireRequestAfter(host.lease, observation, leaseId, host.highestTermSeen()),
          signal,
        ),
      // Not aborted by stop(): stop()'s release must reach the server after an acquire it may be
      // processing (else the lease stays held for a lease duration). Still bounded by the timeout.
      { timeoutMs: host.lease.options.requestTimeoutMs, abortOnStop: false },
    );
    host.health.answered();
    if (!result.acquired) {
      this.outcomeUnknown = false;
      const ownRecord = observation.held && observation.holder === host.lease.identity;
      if (ownRecord && !outcomeWasUnknown && !this.retired.mayHoldRecord(sentAt)) this.noteRefusedOwnRecord();
      // A refused acquire may not say who holds the lease (Azure's 409 does not): keep the observed one.
      const refused = trustedObservation(result.observation);
      host.noteObservation({ ...refused, holder: refused.holder ?? observation.holder });
      return this.pollDelay();
    }
    if (host.stopSignal.aborted) return 0; // stop() releases: the outcome stays unknown
    if (this.pendingRelease) return this.pollDelay(); // begun meanwhile: it releases this acquisition too
    if (this.releasesSent !== releasesBefore || this.clock.now() < this.cooldownUntil) {
      // A release went out while this acquire was on its way and may have landed after it (the
      // lease may already be free for others), or stepDown() was called meanwhile. Never lead on
      // this answer; release it.
      await this.release(undefined, leaseId);
      return Math.max(0, this.cooldownUntil - this.clock.now());
    }
    this.outcomeUnknown = false;
    if (host.recordLoss.lostAtAcquisition(termOnRecord, result.previousTerm, result.term)) {
      // The record was lost between our observation and this acquisition: its holder may still
      // believe in it. Neither lead on it nor release it (holding it unused keeps everyone out for
      // the wait); it is taken up again (same lease id) once the wait is over.
      return this.pollDelay();
    }
    if (!host.promote(sentAt, result.term)) this.outcomeUnknown = true; // held, but acquired too late to use
    return 0;
  }

  /**
   * An acquire was refused although the record named us and no acquire of ours was in doubt:
   * another replica uses our identity. Twice in a row rules out a takeover racing our poll.
   */
  private noteRefusedOwnRecord(): void {
    this.refusedOwnRecord += 1;
    if (this.refusedOwnRecord < 2 || this.identityCollision) return;
    this.identityCollision = true;
    this.logger.warn(
      `Another replica holds "${this.host.lease.leaseName}" under this replica's own identity ` +
        `"${this.host.lease.identity}": give every replica a unique identity (logs, health and ` +
        'currentLeader() cannot tell them apart). Until then this replica no longer treats a record ' +
        `naming "${this.host.lease.identity}" as its own`,
    );
  }

  /** An observation naming someone else: a refused acquire of our own record was a takeover after all. */
  sawOtherHolder(): void {
    this.refusedOwnRecord = 0;
  }
}
