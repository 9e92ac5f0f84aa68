/**
 * Presence: every candidate of a lease announces itself in a record of its own (only the lease
 * holder may write the lease record, so presence cannot live there). Liveness is judged on the
 * store's clock (Azure: the record's Last-Modified against the Date of the same List Blobs
 * response), never on the replicas' wall clocks.
 */

/** What a candidate announces about itself. */
export interface PresenceAnnouncement {
  identity: string;
  /** Higher is preferred (see ElectionOptions.priority). */
  priority: number;
  /** False for observers that must never lead. */
  canLead: boolean;
  /** Wall-clock ms when this candidate started, as its own clock says: display and tie-breaks only. */
  startedAt: number;
}

/** A presence record as listed, with its age on the store's clock. */
export interface PresenceRecord extends PresenceAnnouncement {
  /** Store-clock ms since the record was last refreshed. */
  ageMs: number;
}

/**
 * The storage port of presence, implemented next to a LeaseStore by stores that support it (the
 * memory and Azure blob stores do). Records of different leases never collide, whatever the lease
 * names (they may contain '/').
 */
export interface PresenceStore {
  /** Creates or refreshes this candidate's record (a metadata write on Azure). */
  announce(leaseName: string, announcement: PresenceAnnouncement, signal: AbortSignal): Promise<void>;
  /** Removes a candidate's record (own record on shutdown; orphans, by the leader). Missing is fine. */
  withdraw(leaseName: string, identity: string, signal: AbortSignal): Promise<void>;
  /** Every record of the lease, with its age on the store's clock (one List Blobs on Azure). */
  list(leaseName: string, signal: AbortSignal): Promise<PresenceRecord[]>;
}

export function isPresenceStore(store: unknown): store is PresenceStore {
  const candidate = store as Partial<PresenceStore> | null;
  return (
    !!candidate &&
    typeof candidate.announce === 'function' &&
    typeof candidate.withdraw === 'function' &&
    typeof candidate.list === 'function'
  );
}

/** A member of a lease as LeaderElectionService.members() shows it. */
export interface LeaseMember {
  identity: string;
  priority: number;
  canLead: boolean;
  /** Wall-clock ms the member says it started (its own clock: display only). */
  startedAt: number;
  /** Store-clock ms since the member last refreshed its record, as of the listing. */
  lastSeenAgoMs: number;
  role: 'leader' | 'follower';
  /** True for this replica. */
  self: boolean;
}

/**
 * Preference order: higher priority first, then the earlier start, then identity (a total order, so
 * every replica that sees the same records agrees). Start times come from the members' own clocks:
 * they only break ties, they never decide liveness.
 */
export function comparePreference(a: PresenceAnnouncement, b: PresenceAnnouncement): number {
  if (a.priority !== b.priority) return b.priority - a.priority;
  if (a.startedAt !== b.startedAt) return a.startedAt - b.startedAt;
  return a.identity < b.identity ? -1 : a.identity > b.identity ? 1 : 0;
}

/**
 * Members as LeaderElector.members() lists them: candidates before observers (canLead false never
 * leads, whatever its priority), then in preference order; ages in whole milliseconds.
 */
export function describeMembers(
  records: PresenceRecord[],
  leader: string | undefined,
  self: string,
): LeaseMember[] {
  const order = (a: PresenceRecord, b: PresenceRecord): number =>
    a.canLead !== b.canLead ? (a.canLead ? -1 : 1) : comparePreference(a, b);
  return [...records].sort(order).map((record) => ({
    identity: record.identity,
    priority: record.priority,
    canLead: record.canLead,
    startedAt: record.startedAt,
    lastSeenAgoMs: Math.round(record.ageMs),
    role: record.identity === leader ? 'leader' : 'follower',
    self: record.identity === self,
  }));
}
