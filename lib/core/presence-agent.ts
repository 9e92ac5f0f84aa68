import { sleep, type Clock } from './clock.js';
import {
  InvalidElectionOptionError,
  type ResolvedElectionOptions,
  type ResolvedPreferenceOptions,
} from './election-options.js';
import type { LeaseStore } from './lease-store.js';
import type { ElectionLogger } from './logger.js';
import {
  comparePreference,
  isPresenceStore,
  type PresenceAnnouncement,
  type PresenceRecord,
  type PresenceStore,
} from './presence.js';
import type { StoreRequests } from './store-requests.js';
import { LeaderElectionError } from './errors.js';

/** What the agent needs from its elector. */
export interface PresenceHost {
  readonly leaseName: string;
  readonly identity: string;
  readonly requestTimeoutMs: number;
  isLeader(): boolean;
  /** In a cooldown (stepDown, a hand-over, a lease left to expire): announced as unable to lead meanwhile. */
  coolingDown?(): boolean;
  /** Failback: hand the lease over to a better candidate (the elector decides how). */
  handOver(identity: string, why: string): Promise<void>;
}

/**
 * One candidate's presence for one lease: announces its record every interval (one metadata write),
 * lists records only when needed (members(), a free lease with priorities in use, and once per
 * interval on the leader, which deletes orphans and checks for failback), and withdraws the record
 * on stop. Never affects leadership by failing: errors are logged once per outage and retried.
 */
export class PresenceAgent {
  private readonly announcement: PresenceAnnouncement;
  private cached?: { at: number; records: PresenceRecord[] };
  /**
   * Failback: each better candidate seen live, with when it was first seen (monotonic) and when its
   * record was last refreshed as of that first sighting (monotonic estimate: listing time − age). A
   * candidate counts only once it has refreshed again since: a record left by a replica that just
   * crashed is still "live" for up to staleAfterMs, and must not be handed the lease.
   */
  private readonly betterSince = new Map<
    string,
    { firstSeenAt: number; firstRefreshAt: number; refreshedSince: boolean }
  >();
  private failing = false;
  private loop?: Promise<void>;

  constructor(
    private readonly store: PresenceStore,
    private readonly host: PresenceHost,
    private readonly preference: ResolvedPreferenceOptions & {
      presence: { intervalMs: number; staleAfterMs: number };
    },
    private readonly requests: StoreRequests,
    private readonly clock: Clock,
    private readonly logger: ElectionLogger,
    private readonly stopSignal: AbortSignal,
  ) {
    this.announcement = {
      identity: host.identity,
      priority: preference.priority,
      canLead: preference.canLead,
      startedAt: clock.wallNow(),
    };
  }

  /**
   * The agent for an election, when presence is on and the store keeps presence records; priorities
   * and failback without such a store are refused, naming the option.
   */
  static create(
    store: LeaseStore,
    host: PresenceHost,
    options: ResolvedElectionOptions,
    requests: StoreRequests,
    clock: Clock,
    logger: ElectionLogger,
    stopSignal: AbortSignal,
  ): PresenceAgent | undefined {
    const preference = options.preference;
    if (preference.presence && isPresenceStore(store)) {
      const settings = { ...preference, presence: preference.presence };
      return new PresenceAgent(store, host, settings, requests, clock, logger, stopSignal);
    }
    if (preference.prioritySet || preference.failbackAfterMs !== undefined) {
      throw new InvalidElectionOptionError(
        preference.prioritySet ? 'priority' : 'failback',
        preference.prioritySet ? preference.priority : 'on',
        'a store with presence records ' +
          `(MemoryLeaseStore or AzureBlobLeaseStore; ${store.description} has none)`,
      );
    }
    return undefined;
  }

  /** Rejects unless `identity` is a live member that can lead (from a fresh listing): yieldTo's check. */
  static async liveCandidate(
    agent: PresenceAgent | undefined,
    leaseName: string,
    identity: string,
  ): Promise<void> {
    const members = agent ? await agent.liveRecords(0) : [];
    const target = members.find((member) => member.identity === identity);
    if (!target || !target.canLead) {
      throw new LeaderElectionError(
        `yieldTo: "${identity}" is not a live member of "${leaseName}" that can lead ` +
          `(live: ${members.map((m) => `"${m.identity}"`).join(', ') || 'none'})`,
      );
    }
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Waits for the loop to end (after the stop signal) and removes this candidate's record. */
  async stop(): Promise<void> {
    await this.loop;
    try {
      await this.requests.send(
        'withdraw',
        (signal) => this.store.withdraw(this.host.leaseName, this.host.identity, signal),
        {
          timeoutMs: this.host.requestTimeoutMs,
          abortOnStop: false,
        },
      );
    } catch (error) {
      this.logger.debug?.(
        `Could not withdraw the presence record of "${this.host.identity}" for "${this.host.leaseName}" ` +
          `(it goes stale instead): ${messageOf(error)}`,
      );
    }
  }

  /** Live records (refreshed within staleAfterMs), from a listing at most `maxAgeMs` old. */
  async liveRecords(maxAgeMs = this.preference.presence.intervalMs): Promise<PresenceRecord[]> {
    const now = this.clock.now();
    if (!this.cached || now - this.cached.at > maxAgeMs) {
      const records = await this.requests.send(
        'list',
        (signal) => this.store.list(this.host.leaseName, signal),
        { timeoutMs: this.host.requestTimeoutMs },
      );
      this.cached = { at: this.clock.now(), records };
    }
    return this.agedCache();
  }

  /** The cached listing with each age moved forward by the time since the listing (local monotonic). */
  private agedCache(): PresenceRecord[] {
    if (!this.cached) return [];
    const sinceListing = Math.max(0, this.clock.now() - this.cached.at);
    return this.cached.records
      .map((record) => ({ ...record, ageMs: record.ageMs + sinceListing }))
      .filter((record) => record.ageMs <= this.preference.presence.staleAfterMs);
  }

  /** The live records of the last listing, without I/O (empty before any listing). */
  lastKnownLive(): PresenceRecord[] {
    return this.agedCache();
  }

  /** Number of distinct priority levels above ours among live candidates that can lead. */
  async betterTiers(): Promise<number> {
    const records = await this.liveRecords(0);
    const better = new Set(
      records
        .filter(
          (r) => r.canLead && r.identity !== this.host.identity && r.priority > this.preference.priority,
        )
        .map((r) => r.priority),
    );
    return better.size;
  }

  /** A candidate in a cooldown cannot take the lease now: yieldTo and failback must not pick it. */
  private currentAnnouncement(): PresenceAnnouncement {
    const cooling = this.announcement.canLead && this.host.coolingDown?.() === true;
    return cooling ? { ...this.announcement, canLead: false } : this.announcement;
  }

  private async run(): Promise<void> {
    while (!this.stopSignal.aborted) {
      try {
        await this.requests.send(
          'announce',
          (signal) => this.store.announce(this.host.leaseName, this.currentAnnouncement(), signal),
          { timeoutMs: this.host.requestTimeoutMs },
        );
        if (this.host.isLeader()) await this.leaderDuties();
        if (this.failing) this.logger.debug?.(`Presence records of "${this.host.leaseName}" reachable again`);
        this.failing = false;
      } catch (error) {
        if (this.stopSignal.aborted) break;
        // Debug only: a storage outage is already reported once by the election itself, and a
        // presence refresh never affects leadership (the record just goes stale).
        if (!this.failing)
          this.logger.debug?.(
            `Presence of "${this.host.identity}" for "${this.host.leaseName}" could not be refreshed ` +
              `(retrying; leadership is not affected): ${messageOf(error)}`,
          );
        this.failing = true;
      }
      await sleep(this.clock, this.preference.presence.intervalMs, this.stopSignal);
    }
  }

  /** The leader deletes orphans (records stale for twice the bound) and checks for failback. */
  private async leaderDuties(): Promise<void> {
    const records = await this.requests.send(
      'list',
      (signal) => this.store.list(this.host.leaseName, signal),
      { timeoutMs: this.host.requestTimeoutMs },
    );
    this.cached = { at: this.clock.now(), records };
    for (const orphan of records.filter(
      (r) => r.ageMs > 2 * this.preference.presence.staleAfterMs && r.identity !== this.host.identity,
    )) {
      await this.requests.send(
        'withdraw',
        (signal) => this.store.withdraw(this.host.leaseName, orphan.identity, signal),
        { timeoutMs: this.host.requestTimeoutMs },
      );
      this.logger.log(
        `Removed the presence record of "${orphan.identity}" from "${this.host.leaseName}" ` +
          `(not refreshed for ${Math.round(orphan.ageMs / 1000)} s)`,
      );
    }
    if (this.preference.failbackAfterMs === undefined) return;
    const now = this.clock.now();
    const better = records
      .filter(
        (r) =>
          r.ageMs <= this.preference.presence.staleAfterMs &&
          r.canLead &&
          r.identity !== this.host.identity &&
          r.priority > this.preference.priority,
      )
      .sort(comparePreference);
    const live = new Set(better.map((r) => r.identity));
    for (const identity of this.betterSince.keys())
      if (!live.has(identity)) this.betterSince.delete(identity);
    const listedAt = this.cached.at;
    for (const record of better) {
      const refreshedAt = listedAt - record.ageMs;
      const seen = this.betterSince.get(record.identity);
      if (!seen)
        this.betterSince.set(record.identity, {
          firstSeenAt: now,
          firstRefreshAt: refreshedAt,
          refreshedSince: false,
        });
      // Ages have a 1 s resolution on Azure: a refresh counts when it is clearly later.
      else if (refreshedAt > seen.firstRefreshAt + 1_000) seen.refreshedSince = true;
    }
    const best = better.find((record) => this.betterSince.get(record.identity)!.refreshedSince);
    if (!best) return;
    const seen = this.betterSince.get(best.identity)!;
    // Refreshed within about one interval: alive now, not merely not yet stale.
    if (
      now - seen.firstSeenAt >= this.preference.failbackAfterMs &&
      best.ageMs <= 1.5 * this.preference.presence.intervalMs
    ) {
      this.betterSince.clear();
      await this.host.handOver(
        best.identity,
        `failback: "${best.identity}" (priority ${best.priority}) has been present for ` +
          `${Math.round(this.preference.failbackAfterMs / 1000)} s`,
      );
    }
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
