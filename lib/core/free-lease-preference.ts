import type { Clock } from './clock.js';
import type { ResolvedElectionOptions } from './election-options.js';
import type { LeaseObservation } from './lease-store.js';
import type { PresenceAgent } from './presence-agent.js';

/**
 * Whom a FREE lease is left to (a held one is never contested), split from the candidacy to keep
 * each rule file small: the "free since" mark tied to the record seen, the better priority tiers
 * seen live since, and the election delay of a newly started candidate with a priority.
 */
export class FreeLeasePreference {
  /** When this replica first saw the lease free, tied to the record seen (term, successor). */
  private free?: { since: number; term: number; successor?: string };
  /** Most better priority tiers seen live since the lease went free (a stale one never shortens the wait). */
  private freeTiers = 0;
  private startedAt = 0;
  /** Presence listings made so far: each is I/O, after which a "free" observation may be stale. */
  listings = 0;

  constructor(
    private readonly lease: { identity: string; options: ResolvedElectionOptions },
    private readonly clock: Clock,
    private readonly presence?: PresenceAgent,
  ) {}

  started(): void {
    this.startedAt = this.clock.now();
  }

  /** A tenure began or ended: marks about the free lease seen before it say nothing about the record now. */
  forget(): void {
    this.free = undefined;
    this.freeTiers = 0;
  }

  /** Keeps the "free since" mark while the same free record is observed; any other record resets it. */
  noteObserved(observation: LeaseObservation): void {
    const same =
      this.free !== undefined &&
      this.free.term === observation.term &&
      this.free.successor === observation.successor;
    if (observation.held || !same) this.freeTiers = 0;
    if (observation.held) this.free = undefined;
    else if (!same)
      this.free = { since: this.clock.now(), term: observation.term, successor: observation.successor };
  }

  /**
   * True while this replica must leave the free lease to others. Never for ever: a named successor
   * gets one preference window; better priority tiers that are live get one window each, counted
   * from when this replica first saw this record free; a newly started candidate with a priority
   * first waits electionDelayMs. A failed presence listing never blocks (liveness first).
   */
  async leavesToOthers(observation: LeaseObservation): Promise<boolean> {
    const preference = this.lease.options.preference;
    const now = this.clock.now();
    const freeSince = this.free?.since ?? now;
    if (observation.successor !== undefined) {
      if (observation.successor === this.lease.identity) return false;
      if (now - freeSince < preference.preferenceWindowMs) return true;
    }
    const presence = this.presence;
    if (!preference.prioritySet || !presence) return false;
    const eligibleAt = this.startedAt + preference.electionDelayMs;
    if (now < eligibleAt) return true;
    try {
      this.listings += 1;
      this.freeTiers = Math.max(this.freeTiers, await presence.betterTiers());
      // Windows count from when this replica could first compete.
      return now - Math.max(freeSince, eligibleAt) < this.freeTiers * preference.preferenceWindowMs;
    } catch {
      return false;
    }
  }
}
