import { systemClock, type Clock } from '../../core/clock.js';
import {
  LeaseLostError,
  LeaseRecordLostError,
  type AcquireRequest,
  type AcquireResult,
  type LeaseObservation,
  type LeaseStore,
  type ReleaseOptions,
} from '../../core/lease-store.js';
import type { PresenceAnnouncement, PresenceRecord, PresenceStore } from '../../core/presence.js';

interface MemoryLease {
  leaseId?: string;
  /** Store-clock ms when the current lease ends. */
  expiresAt: number;
  durationMs: number;
  term: number;
  holder?: string;
  acquiredAt?: number;
  recoveredTerm?: number;
  successor?: string;
  /** Record version, like a blob's ETag: new on creation and on every metadata write (never on lease ops). */
  etag: string;
  /** Store-clock ms of the last record write (a blob's Last-Modified, exact here). */
  writtenAt: number;
  /** Fast failover's livenessMs declared by the current term's holder (AcquireRequest.livenessMs). */
  livenessMs?: number;
}

/** The version a missing record reports: an acquire with it succeeds only while the record is missing. */
const ABSENT_ETAG = 'absent';

/**
 * A {@link LeaseStore} in process memory with the same semantics as the Azure blob store: leases
 * expire by the store's clock, an acquire with the holder's own lease id succeeds again, terms
 * strictly increase, release of a lease that is not ours counts as released.
 *
 * Only for tests and single-process development: replicas in different processes do not share it.
 * Share one instance between several electors to run an election inside one process.
 */
export class MemoryLeaseStore implements LeaseStore, PresenceStore {
  readonly description = 'the in-memory store (this process only, not shared between replicas)';
  private readonly leases = new Map<string, MemoryLease>();
  /** Presence records per lease, with the store-clock time of their last refresh. */
  private readonly presence = new Map<
    string,
    Map<string, { announcement: PresenceAnnouncement; refreshedAt: number }>
  >();
  /** Versions are never reused, not even by a record that is deleted and created again. */
  private versions = 0;

  constructor(private readonly clock: Clock = systemClock) {}

  async observe(leaseName: string, signal: AbortSignal): Promise<LeaseObservation> {
    signal.throwIfAborted();
    // Like a blob that does not exist yet: reading it creates nothing.
    const lease = this.leases.get(leaseName);
    return lease ? this.observation(lease) : { held: false, term: 0, etag: ABSENT_ETAG };
  }

  async acquire(request: AcquireRequest, signal: AbortSignal): Promise<AcquireResult> {
    signal.throwIfAborted();
    if (
      request.ifMatch !== undefined &&
      request.ifMatch !== (this.leases.get(request.leaseName)?.etag ?? ABSENT_ETAG)
    ) {
      // The record changed since the observation the caller acted on (Azure: 412 ConditionNotMet).
      return { acquired: false, observation: await this.observe(request.leaseName, signal) };
    }
    const lease = this.lease(request.leaseName);
    if (this.isHeld(lease) && lease.leaseId !== request.leaseId) {
      return { acquired: false, observation: this.observation(lease) };
    }
    const previousTerm = lease.term;
    lease.leaseId = request.leaseId;
    lease.durationMs = request.durationSeconds * 1000;
    lease.expiresAt = this.clock.now() + lease.durationMs;
    lease.term = Math.max(lease.term, request.minimumTerm ?? 0) + 1;
    lease.holder = request.identity;
    lease.acquiredAt = this.clock.wallNow();
    lease.recoveredTerm = request.recoveredTerm;
    lease.livenessMs = request.livenessMs;
    lease.successor = undefined;
    this.written(lease);
    return { acquired: true, term: lease.term, previousTerm };
  }

  /** Fast failover: rewrites the record under the lease (new version, new write time). */
  async heartbeat(leaseName: string, leaseId: string, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    const lease = this.leases.get(leaseName);
    if (!lease)
      throw new LeaseRecordLostError(
        `lease "${leaseName}" has no record (the store lost it)`,
        'BlobNotFound',
        404,
      );
    // Like Azure's Set Blob Metadata with a lease id: only on an active lease held with that id.
    if (lease.leaseId !== leaseId || !this.isHeld(lease))
      throw new LeaseLostError(
        `lease "${leaseName}" is not held with this lease id`,
        'LeaseIdMismatchWithBlobOperation',
        412,
      );
    this.written(lease);
  }

  /** Fast failover: ends the lease at once if the record is still version `ifMatch` (else false). */
  async breakStale(leaseName: string, ifMatch: string, signal: AbortSignal): Promise<boolean> {
    signal.throwIfAborted();
    const lease = this.leases.get(leaseName);
    // Azure answers 409 (no lease to break) on a released, broken or expired lease: false, as there.
    if (!lease || lease.etag !== ifMatch || !this.isHeld(lease)) return false;
    lease.leaseId = undefined;
    lease.expiresAt = -Infinity;
    return true;
  }

  async renew(leaseName: string, leaseId: string, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    const lease = this.leases.get(leaseName);
    if (!lease)
      throw new LeaseRecordLostError(
        `lease "${leaseName}" has no record (the store lost it)`,
        'BlobNotFound',
        404,
      );
    // Like Azure: an expired lease can be renewed by its holder as long as nobody took it since.
    if (lease.leaseId !== leaseId) {
      throw new LeaseLostError(
        `lease "${leaseName}" is not held with this lease id`,
        'LeaseIdMismatchWithLeaseOperation',
        409,
      );
    }
    lease.expiresAt = this.clock.now() + lease.durationMs;
  }

  async release(
    leaseName: string,
    leaseId: string,
    signal: AbortSignal,
    options: ReleaseOptions = {},
  ): Promise<void> {
    signal.throwIfAborted();
    const lease = this.leases.get(leaseName);
    if (lease && lease.leaseId === leaseId) {
      // Naming a successor writes metadata (a new version); a plain release is a lease operation only.
      if (options.successor !== undefined || lease.successor !== undefined) this.written(lease);
      lease.successor = options.successor;
      lease.leaseId = undefined;
      lease.expiresAt = -Infinity;
    }
  }

  async announce(leaseName: string, announcement: PresenceAnnouncement, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    let records = this.presence.get(leaseName);
    if (!records) this.presence.set(leaseName, (records = new Map()));
    records.set(announcement.identity, { announcement: { ...announcement }, refreshedAt: this.clock.now() });
  }

  async withdraw(leaseName: string, identity: string, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    this.presence.get(leaseName)?.delete(identity);
  }

  async list(leaseName: string, signal: AbortSignal): Promise<PresenceRecord[]> {
    signal.throwIfAborted();
    const now = this.clock.now();
    return [...(this.presence.get(leaseName)?.values() ?? [])].map(({ announcement, refreshedAt }) => ({
      ...announcement,
      ageMs: now - refreshedAt,
    }));
  }

  /** Test helper: forget every lease, term and presence record, like a storage account that lost its data. */
  reset(): void {
    this.leases.clear();
    this.presence.clear();
  }

  /** Test helper: lose one lease's record, like a deleted blob. */
  deleteRecord(leaseName: string): void {
    this.leases.delete(leaseName);
  }

  /** Test helper: break the lease as an operator would (the holder's renewals then fail). */
  breakLease(leaseName: string): void {
    const lease = this.leases.get(leaseName);
    if (!lease) return;
    lease.leaseId = undefined;
    lease.expiresAt = -Infinity;
  }

  private lease(leaseName: string): MemoryLease {
    let lease = this.leases.get(leaseName);
    if (!lease) {
      lease = {
        expiresAt: -Infinity,
        durationMs: 0,
        term: 0,
        etag: this.nextEtag(),
        writtenAt: this.clock.now(),
      };
      this.leases.set(leaseName, lease);
    }
    return lease;
  }

  private written(lease: MemoryLease): void {
    lease.etag = this.nextEtag();
    lease.writtenAt = this.clock.now();
  }

  private nextEtag(): string {
    return `"${++this.versions}"`;
  }

  private isHeld(lease: MemoryLease): boolean {
    return lease.leaseId !== undefined && this.clock.now() < lease.expiresAt;
  }

  private observation(lease: MemoryLease): LeaseObservation {
    return {
      held: this.isHeld(lease),
      holder: lease.holder,
      term: lease.term,
      acquiredAt: lease.acquiredAt,
      recoveredTerm: lease.recoveredTerm,
      ...(lease.successor !== undefined ? { successor: lease.successor } : {}),
      etag: lease.etag,
      silentForAtLeastMs: Math.max(0, this.clock.now() - lease.writtenAt),
      ...(lease.livenessMs !== undefined ? { holderLivenessMs: lease.livenessMs } : {}),
    };
  }
}
