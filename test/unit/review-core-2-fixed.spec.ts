import { afterEach, describe, expect, it } from '@jest/globals';
import type { ContainerClient } from '@azure/storage-blob';
import { LeaderElector } from '../../lib/core/leader-elector.js';
import type { AcquireRequest } from '../../lib/core/lease-store.js';
import type { DelegatedLease, DelegatedRenewal, RenewalDelegate } from '../../lib/core/renewal-delegate.js';
import { AzureBlobLeaseStore } from '../../lib/stores/azure-blob/azure-blob-lease-store.js';
import { FaultyStore } from '../support/faulty-store.js';
import { D, leadersAmong, setup, stopAllElectors, type Candidate } from '../support/elector-harness.js';
import { RecordingLogger } from '../support/recording-logger.js';

// Hostile review of the new core, round 2 (issue 18), findings 1-3, fixed: each test failed on the
// branch it was written against (review-core2 at 6442818); see test/pending/README.md for the history.

/** What the Blob service does with one blob, as far as the lease store uses it (no network). */
class FakeBlob {
  exists = false;
  etag = '"0x0"';
  leaseId?: string;
  metadata: Record<string, string> = {};
  private versions = 0;
  /** Every Acquire Lease the store sent, with its conditions. */
  readonly acquires: { leaseId: string; ifMatch?: string }[] = [];

  private bump(): void {
    this.etag = `"0x${(++this.versions).toString(16)}"`;
  }

  private fail(statusCode: number, code: string): never {
    throw Object.assign(new Error(code), { statusCode, code, details: { errorCode: code } });
  }

  create(): string {
    if (this.exists) this.fail(409, 'BlobAlreadyExists');
    this.exists = true;
    this.metadata = {};
    this.bump();
    return this.etag;
  }

  /** Another replica acquires (writing its term) and releases, naming a successor: two metadata writes. */
  handOver(from: string, term: number, successor: string): void {
    if (!this.exists) this.create();
    this.metadata = { leader: from, term: String(term) };
    this.bump();
    this.metadata = { ...this.metadata, successor };
    this.bump();
  }

  client(): ContainerClient {
    const blobClient = {
      getProperties: async (options?: { conditions?: { leaseId?: string } }) => {
        if (!this.exists) this.fail(404, 'BlobNotFound');
        const wanted = options?.conditions?.leaseId;
        if (wanted !== undefined && wanted !== this.leaseId)
          this.fail(412, 'LeaseIdMismatchWithBlobOperation');
        return {
          etag: this.etag,
          leaseState: this.leaseId ? 'leased' : 'available',
          leaseStatus: this.leaseId ? 'locked' : 'unlocked',
          metadata: { ...this.metadata },
        };
      },
      setMetadata: async (
        metadata: Record<string, string>,
        options?: { conditions?: { leaseId?: string } },
      ) => {
        if (!this.exists) this.fail(404, 'BlobNotFound');
        if (options?.conditions?.leaseId !== this.leaseId) this.fail(412, 'LeaseIdMismatchWithBlobOperation');
        this.metadata = { ...metadata };
        this.bump();
        return {};
      },
      getBlobLeaseClient: (leaseId: string) => ({
        acquireLease: async (_duration: number, options?: { conditions?: { ifMatch?: string } }) => {
          const ifMatch = options?.conditions?.ifMatch;
          this.acquires.push({ leaseId, ...(ifMatch !== undefined ? { ifMatch } : {}) });
          if (!this.exists) this.fail(404, 'BlobNotFound');
          if (ifMatch !== undefined && ifMatch !== this.etag) this.fail(412, 'ConditionNotMet');
          if (this.leaseId !== undefined && this.leaseId !== leaseId) this.fail(409, 'LeaseAlreadyPresent');
          this.leaseId = leaseId;
          return { leaseId };
        },
      }),
    };
    return {
      url: 'https://fake.blob.core.windows.net/leader-election',
      getBlobClient: () => blobClient,
      getBlockBlobClient: () => ({
        upload: async () => ({ etag: this.create() }),
      }),
      create: async () => this.fail(409, 'ContainerAlreadyExists'),
    } as unknown as ContainerClient;
  }
}

const live = (): AbortSignal => new AbortController().signal;
const request = (ifMatch?: string): AcquireRequest => ({
  leaseName: 'jobs',
  leaseId: '00000000-0000-4000-8000-00000000000a',
  identity: 'a',
  durationSeconds: 15,
  ...(ifMatch !== undefined ? { ifMatch } : {}),
});

describe('review-core-2 finding 1: the Azure store keeps the conditional acquire the core relies on', () => {
  it('observe() reports the blob ETag (else every acquire of the core goes out unconditional)', async () => {
    const blob = new FakeBlob();
    blob.handOver('b', 1, 'c');
    const store = new AzureBlobLeaseStore({ containerClient: blob.client() });
    const seen = await store.observe('jobs', live());
    expect(seen).toMatchObject({ held: false, term: 1, successor: 'c' });
    expect(seen.etag).toBe(blob.etag);
  });

  it('an acquire whose If-Match is stale takes nothing (the lease was handed to c since)', async () => {
    const blob = new FakeBlob();
    blob.create();
    const stale = blob.etag; // a saw the blob free at this version, then was paused
    blob.handOver('b', 1, 'c'); // b led and handed the lease to c meanwhile
    const store = new AzureBlobLeaseStore({ containerClient: blob.client() });
    const result = await store.acquire(request(stale), live());
    expect(result.acquired).toBe(false);
    expect(blob.leaseId).toBeUndefined();
    expect(blob.acquires.every((a) => a.ifMatch !== undefined)).toBe(true);
  });

  it('createIfMissing: false and the blob observed missing: a blob created since is never taken unconditionally', async () => {
    // The candidate observed no blob ("absent"); an operator or a replica with createIfMissing
    // created it, led and handed it to c. The acquire acting on "missing" must take nothing.
    const blob = new FakeBlob();
    const store = new AzureBlobLeaseStore({ containerClient: blob.client(), createIfMissing: false });
    const missing = (await store.observe('jobs', live())).etag ?? 'absent';
    blob.handOver('b', 1, 'c');
    const result = await store.acquire(request(missing), live());
    expect(result.acquired).toBe(false);
    expect(blob.leaseId).toBeUndefined();
  });
});

afterEach(stopAllElectors);

describe('review-core-2 finding 2: a drain that throws is no proof that the work stopped', () => {
  it('stepDown with a throwing drain hook leaves the lease to expire: nobody leads beside the running work', async () => {
    // The drain is the only witness that the ended tenure's work stopped (GUARANTEES: "the lease is
    // never released while work of the ended tenure is known to run"). tenure.ts drainWithin counts a
    // rejected drain as drained and releases at once: b leads within a poll while a's work still runs.
    const h = setup();
    let workRunning = false;
    const drain = async (): Promise<boolean> => {
      if (workRunning) throw new Error('drain hook bug (e.g. a tracker lookup that throws)');
      return true;
    };
    const store = new FaultyStore(h.memory, h.clock);
    const elector = new LeaderElector(
      store,
      { leaseName: 'jobs', identity: 'a', retryJitter: 0, presence: false },
      { clock: h.clock, logger: new RecordingLogger(), beforeHandover: drain },
    );
    h.electors.push(elector);
    const a: Candidate = { elector, store, logger: new RecordingLogger(), states: [] };
    const b = h.candidate('b');
    await a.elector.start();
    await b.elector.start();
    expect(a.elector.isLeader()).toBe(true);
    workRunning = true; // a's job ignores its signal for a while (it never reports idle)
    await a.elector.stepDown({ cooldownMs: 60_000 });
    const bLedAt: number[] = [];
    for (let t = 0; t < D + 3_000; t += 100) {
      await h.clock.advance(100);
      if (leadersAmong(b).length > 0) bLedAt.push(h.clock.now());
    }
    // Not before a's lease had expired by itself (acquired at 0, never renewed after the step-down).
    expect(bLedAt.length).toBeGreaterThan(0);
    expect(bLedAt[0]).toBeGreaterThanOrEqual(D);
  });
});

describe('review-core-2 finding 3: a lease left to expire is expected to expire D after the last renewal the tenure read', () => {
  it('a renewal in flight when the tenure ends extends the lease; the step-down cooldown ends before it: a re-leads beside its own running work', async () => {
    // a leads from 0 s. Its renewal is sent at 5 s and reaches the store at 6 s (the server extends
    // the lease to 21 s). a steps down at 5.5 s (that renewal's answer is dropped: the tenure ended);
    // its drain says work still runs, so the lease is left to expire and a cools down until
    // leaseExpiredBy() = last send time READ (0 s) + D = 15 s. At 15 s a's poll finds the lease still
    // held under its own lease id, "recorded as ours", and re-acquires it: a new tenure (and a new
    // run of its task) beside the old run the drain reported, 6 s before the lease would have expired.
    const h = setup();
    const store = new FaultyStore(h.memory, h.clock);
    const elector = new LeaderElector(
      store,
      { leaseName: 'jobs', identity: 'a', retryJitter: 0, presence: false },
      { clock: h.clock, logger: new RecordingLogger(), beforeHandover: () => Promise.resolve(false) },
    );
    h.electors.push(elector);
    await elector.start();
    expect(elector.isLeader()).toBe(true);
    store.inject('renew', { type: 'lands-late', ms: 1_000 });
    await h.clock.advanceTo(5_500);
    expect(store.callsOf('renew').map((call) => call.at)).toEqual([5_000]);
    await elector.stepDown({ cooldownMs: 0 });
    await h.clock.advanceTo(6_100);
    // The late renewal did reach the store: the lease now runs until 6 s + D.
    const leases = (h.memory as unknown as { leases: Map<string, { expiresAt: number }> }).leases;
    expect(leases.get('jobs')?.expiresAt).toBe(6_000 + D);
    const ledAt: number[] = [];
    for (let t = 6_100; t < 6_000 + D - 100; t += 100) {
      await h.clock.advance(100);
      if (elector.isLeader()) ledAt.push(h.clock.now());
    }
    // The store held the lease for a (unrenewed since 6 s) until 21 s: work of the ended tenure may
    // run until then, and no tenure may begin beside it.
    expect(ledAt).toEqual([]);
  });
});

describe('review-core-2 finding 3 (renewal delegate): a renewal published but not yet read when the tenure ends', () => {
  it('the lease left to expire runs D from that renewal; the cooldown ends D after the older send time the tenure had read', async () => {
    const h = setup();
    let sentAt = -Infinity;
    const delegate: RenewalDelegate = {
      begin: (lease: DelegatedLease): DelegatedRenewal => {
        sentAt = lease.sentAt;
        return {
          lastSentAt: () => sentAt,
          lost: () => undefined,
          stoppedBecause: () => undefined,
          end: () => {},
        };
      },
    };
    const store = new FaultyStore(h.memory, h.clock);
    const elector = new LeaderElector(
      store,
      { leaseName: 'jobs', identity: 'a', retryJitter: 0, presence: false },
      {
        clock: h.clock,
        logger: new RecordingLogger(),
        renewalDelegate: delegate,
        beforeHandover: () => Promise.resolve(false),
      },
    );
    h.electors.push(elector);
    await elector.start();
    await h.clock.advanceTo(5_000);
    // The renewal thread renews at 5 s and publishes it; a steps down before it reads the slot.
    await h.memory.renew('jobs', elector.leaseId, new AbortController().signal);
    sentAt = 5_000;
    await elector.stepDown({ cooldownMs: 0 });
    const ledAt: number[] = [];
    for (let t = 5_000; t < 5_000 + D; t += 100) {
      await h.clock.advance(100);
      if (elector.isLeader()) ledAt.push(h.clock.now());
    }
    expect(ledAt).toEqual([]);
  });
});
