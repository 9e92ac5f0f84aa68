import { describe, expect, it } from '@jest/globals';
import type { ContainerClient } from '@azure/storage-blob';
import type { AcquireRequest } from '../../lib/core/lease-store.js';
import { AzureBlobLeaseStore } from '../../lib/stores/azure-blob/azure-blob-lease-store.js';

// Hostile review of the new core, round 2 (issue 18): findings that are still open. Each test fails
// on the branch it was written against (review-core2 at 6442818); see test/pending/README.md.

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
