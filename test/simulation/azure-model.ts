import {
  LeaseLostError,
  LeaseRecordLostError,
  TransientStoreError,
  type AcquireRequest,
  type AcquireResult,
  type LeaseObservation,
} from '../../lib/core/lease-store.js';
import type { PresenceAnnouncement, PresenceRecord } from '../../lib/core/presence.js';

/** One lease blob. `life` numbers the record's lives: a deleted and recreated blob is a new life. */
export interface LeaseRecord {
  life: number;
  leaseId?: string;
  /** Store-clock ms the lease ends (leases expire on the store's clock, whatever the clients do). */
  expiresAt: number;
  durationMs: number;
  term: number;
  holder?: string;
  recoveredTerm?: number;
  successor?: string;
  /** How the lease last became free: drives the successor-window check. */
  releasedAt?: number;
  /**
   * The blob's ETag: a new value whenever the blob is created or its metadata is written (every
   * acquisition that writes its term, a named successor), never on lease operations (Azure's rule).
   */
  etag: string;
  /** Store-clock ms of the last metadata write (Last-Modified, before its rounding to the second). */
  writtenAt?: number;
  /** Fast failover's livenessMs the current term's holder declared (metadata `livenessms`, tied to the term). */
  livenessMs?: number;
}

/** The ETag an observation of a missing blob reports: acquire with it only while the blob is still missing. */
export const ABSENT_ETAG = 'absent';

/** What the model reports to the invariant checker as each request lands. */
export type StoreEffect =
  | { type: 'acquired'; lease: string; leaseId: string; identity: string; term: number; life: number }
  | { type: 'partial-acquire'; lease: string; leaseId: string; identity: string }
  | { type: 'released'; lease: string; leaseId: string; successor?: string }
  | { type: 'renewed'; lease: string; leaseId: string }
  | { type: 'record-lost'; lease?: string };

/**
 * Azure Blob Storage as the lease store sees it, one container: Acquire/Renew/Release Lease with
 * their 409s, leases that expire on the store clock, the holder and term in blob metadata, presence
 * records as their own blobs, a deleted blob (record loss) and a container being deleted. Each method
 * is the moment a request is processed by the server; the network around it is in connection.ts.
 */
export class AzureModel {
  readonly leases = new Map<string, LeaseRecord>();
  readonly presence = new Map<
    string,
    Map<string, { announcement: PresenceAnnouncement; refreshedAt: number }>
  >();
  private lives = 0;
  private etags = 0;
  private deletingUntil = -Infinity;
  onEffect?: (effect: StoreEffect) => void;

  constructor(private readonly now: () => number) {}

  isHeld(record: LeaseRecord | undefined): boolean {
    return !!record && record.leaseId !== undefined && this.now() < record.expiresAt;
  }

  observe(lease: string): LeaseObservation {
    this.checkContainer();
    const record = this.leases.get(lease);
    if (!record) return { held: false, term: 0, etag: ABSENT_ETAG };
    return {
      held: this.isHeld(record),
      ...(record.holder !== undefined ? { holder: record.holder } : {}),
      term: record.term,
      ...(record.recoveredTerm !== undefined ? { recoveredTerm: record.recoveredTerm } : {}),
      ...(record.successor !== undefined ? { successor: record.successor } : {}),
      etag: record.etag,
      ...(record.writtenAt !== undefined ? { silentForAtLeastMs: this.silenceBound(record.writtenAt) } : {}),
      ...(record.livenessMs !== undefined ? { holderLivenessMs: record.livenessMs } : {}),
    };
  }

  /** Date − Last-Modified − 1 s, both headers cut to whole seconds as Azure sends them. */
  private silenceBound(writtenAt: number): number {
    const date = Math.floor(this.now() / 1000) * 1000;
    return Math.max(0, date - Math.floor(writtenAt / 1000) * 1000 - 1000);
  }

  /** Fast failover's heartbeat: Set Blob Metadata with the lease id (412 unless held with it). */
  heartbeat(lease: string, leaseId: string): void {
    this.checkContainer();
    const record = this.leases.get(lease);
    if (!record) throw new LeaseRecordLostError(`lease "${lease}" has no record`, 'BlobNotFound', 404);
    if (record.leaseId !== leaseId || !this.isHeld(record))
      throw new LeaseLostError('lease id mismatch', 'LeaseIdMismatchWithBlobOperation', 412);
    this.wrote(record);
  }

  /** Break Lease, period 0, If-Match: 412 (false) on another version, 409 (false) with no lease to break. */
  breakStale(lease: string, ifMatch: string): boolean {
    this.checkContainer();
    const record = this.leases.get(lease);
    if (!record || record.etag !== ifMatch || record.leaseId === undefined) return false;
    record.leaseId = undefined;
    record.expiresAt = -Infinity;
    return true;
  }

  private wrote(record: LeaseRecord): void {
    record.etag = this.nextEtag();
    record.writtenAt = this.now();
  }

  /** `writeTerm` false: the lease was taken but the metadata write failed (the caller gets an error). */
  acquire(request: AcquireRequest, writeTerm = true): AcquireResult {
    this.checkContainer();
    let record = this.leases.get(request.leaseName);
    if (!this.conditionHolds(request))
      return { acquired: false, observation: this.observe(request.leaseName) };
    if (!record) {
      const etag = this.nextEtag();
      record = {
        life: ++this.lives,
        expiresAt: -Infinity,
        durationMs: 0,
        term: 0,
        etag,
        writtenAt: this.now(),
      };
      this.leases.set(request.leaseName, record);
    }
    if (this.isHeld(record) && record.leaseId !== request.leaseId) {
      // Azure's 409 LeaseAlreadyPresent says nothing about the holder.
      return { acquired: false, observation: { held: true, term: 0 } };
    }
    record.leaseId = request.leaseId;
    record.durationMs = request.durationSeconds * 1000;
    record.expiresAt = this.now() + record.durationMs;
    record.releasedAt = undefined;
    if (!writeTerm) {
      this.onEffect?.({
        type: 'partial-acquire',
        lease: request.leaseName,
        leaseId: request.leaseId,
        identity: request.identity,
      });
      throw new TransientStoreError('injected: lease taken, metadata write failed', 'Injected', 500);
    }
    const previousTerm = record.term;
    record.term = Math.max(record.term, request.minimumTerm ?? 0) + 1;
    record.holder = request.identity;
    record.recoveredTerm = request.recoveredTerm;
    record.livenessMs = request.livenessMs;
    record.successor = undefined;
    this.wrote(record);
    this.onEffect?.({
      type: 'acquired',
      lease: request.leaseName,
      leaseId: request.leaseId,
      identity: request.identity,
      term: record.term,
      life: record.life,
    });
    return { acquired: true, term: record.term, previousTerm };
  }

  /** Acquire's If-Match: the record is still the version observed (for a missing blob: still missing); 412 otherwise. */
  conditionHolds(request: AcquireRequest): boolean {
    const etag = this.leases.get(request.leaseName)?.etag ?? ABSENT_ETAG;
    return request.ifMatch === undefined || request.ifMatch === etag;
  }

  renew(lease: string, leaseId: string): void {
    if (this.now() < this.deletingUntil)
      throw new LeaseLostError('container being deleted', 'ContainerBeingDeleted', 409);
    const record = this.leases.get(lease);
    if (!record) throw new LeaseRecordLostError(`lease "${lease}" has no record`, 'BlobNotFound', 404);
    // Azure: an expired lease can be renewed with its id as long as nobody took it since.
    if (record.leaseId !== leaseId)
      throw new LeaseLostError('lease id mismatch', 'LeaseIdMismatchWithLeaseOperation', 409);
    record.expiresAt = this.now() + record.durationMs;
    this.onEffect?.({ type: 'renewed', lease, leaseId });
  }

  release(lease: string, leaseId: string, successor?: string): void {
    this.checkContainer();
    const record = this.leases.get(lease);
    // 409/404 on release count as released.
    if (!record || record.leaseId !== leaseId) return;
    this.onEffect?.({ type: 'released', lease, leaseId, ...(successor !== undefined ? { successor } : {}) });
    if (successor !== undefined) {
      record.successor = successor;
      this.wrote(record); // the successor is written into metadata
    }
    record.leaseId = undefined;
    record.expiresAt = -Infinity;
    record.releasedAt = this.now();
  }

  announce(lease: string, announcement: PresenceAnnouncement): void {
    this.checkContainer();
    let records = this.presence.get(lease);
    if (!records) this.presence.set(lease, (records = new Map()));
    records.set(announcement.identity, { announcement: { ...announcement }, refreshedAt: this.now() });
  }

  withdraw(lease: string, identity: string): void {
    this.checkContainer();
    this.presence.get(lease)?.delete(identity);
  }

  list(lease: string): PresenceRecord[] {
    this.checkContainer();
    // Azure ages have a 1 s resolution (Last-Modified vs Date).
    const now = Math.floor(this.now() / 1000) * 1000;
    return [...(this.presence.get(lease)?.values() ?? [])].map(({ announcement, refreshedAt }) => ({
      ...announcement,
      ageMs: Math.max(0, now - Math.floor(refreshedAt / 1000) * 1000),
    }));
  }

  /** The lease blob is deleted (record loss). */
  deleteRecord(lease: string): void {
    if (!this.leases.delete(lease)) return;
    this.onEffect?.({ type: 'record-lost', lease });
  }

  /** The container is deleted: every blob goes at once, and requests fail until deletion completes. */
  deleteContainer(deletionMs: number): void {
    this.leases.clear();
    this.presence.clear();
    this.deletingUntil = this.now() + deletionMs;
    this.onEffect?.({ type: 'record-lost' });
  }

  private nextEtag(): string {
    return `"0x${(++this.etags).toString(16)}"`;
  }

  private checkContainer(): void {
    if (this.now() < this.deletingUntil)
      throw new TransientStoreError('container being deleted', 'ContainerBeingDeleted', 409);
  }
}
