import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { LeaderElector } from '../../lib/core/leader-elector.js';
import { LeaseLostError } from '../../lib/core/lease-store.js';
import { AzureBlobLeaseStore } from '../../lib/stores/azure-blob/azure-blob-lease-store.js';
import { RecordingLogger } from '../support/recording-logger.js';

// Fast failover on the Azurite of Jest's global setup (issue 21): the store's heartbeat, conditional
// break and silence bound, the storage facts they rest on that azure-storage-facts.spec.ts does not
// already pin (a write under the old lease id after a break), and a crash takeover below the 15 s
// lease floor with two electors.

jest.setTimeout(60_000);

const connectionString = process.env.AZURITE_CONNECTION_STRING!;
const CONTAINER = `it-fast-${randomBytes(4).toString('hex')}`;
let container: ContainerClient;
let store: AzureBlobLeaseStore;
let counter = 0;
const leaseName = (label: string) => `${label}-${++counter}-${randomUUID().slice(0, 8)}`;
const live = () => new AbortController().signal;

beforeAll(async () => {
  container = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(CONTAINER);
  store = new AzureBlobLeaseStore({ connectionString, containerName: CONTAINER });
});

afterAll(async () => {
  await container.deleteIfExists();
});

async function acquire(name: string, identity = 'a') {
  const leaseId = randomUUID();
  const result = await store.acquire({ leaseName: name, leaseId, identity, durationSeconds: 15 }, live());
  expect(result.acquired).toBe(true);
  return leaseId;
}

describe('AzureBlobLeaseStore: heartbeat, breakStale, silentForAtLeastMs', () => {
  it('a heartbeat writes a new version and keeps every metadata key (ours and other users’)', async () => {
    const name = leaseName('beat');
    await container.createIfNotExists();
    await container.getBlockBlobClient(name).upload('', 0, { metadata: { owner: 'team-x' } });
    const leaseId = await acquire(name);
    const blob = container.getBlobClient(name);
    const before = await blob.getProperties();
    await new Promise((resolve) => setTimeout(resolve, 1100)); // next second: Last-Modified must move
    await store.heartbeat(name, leaseId, live());
    const after = await blob.getProperties();
    expect(after.etag).not.toBe(before.etag);
    expect(after.lastModified!.getTime()).toBeGreaterThan(before.lastModified!.getTime());
    expect(after.metadata).toEqual(before.metadata);
    expect(after.metadata).toMatchObject({ owner: 'team-x' });
    expect(after.leaseState).toBe('leased');
  });

  it('the observation’s silence bound is Date − Last-Modified − 1 s, never negative, and grows under renewals only', async () => {
    const name = leaseName('silence');
    const leaseId = await acquire(name);
    const fresh = await store.observe(name, live());
    expect(fresh.silentForAtLeastMs).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 3100));
    await store.renew(name, leaseId, live());
    const stale = await store.observe(name, live());
    expect(stale.held).toBe(true);
    expect(stale.silentForAtLeastMs).toBeGreaterThanOrEqual(2000);
    const props = await container.getBlobClient(name).getProperties();
    expect(stale.silentForAtLeastMs! % 1000).toBe(0); // whole seconds on both headers
    expect(props.etag).toBe(stale.etag); // the renewal did not change the version
  });

  it('breakStale with a stale version breaks nothing (false); with the current one it breaks at once, and the version stays', async () => {
    const name = leaseName('break');
    const leaseId = await acquire(name);
    const seen = await store.observe(name, live());
    await store.heartbeat(name, leaseId, live());
    expect(await store.breakStale(name, seen.etag!, live())).toBe(false);
    const held = await store.observe(name, live());
    expect(held.held).toBe(true);
    expect(await store.breakStale(name, held.etag!, live())).toBe(true);
    const broken = await store.observe(name, live());
    expect({ held: broken.held, etag: broken.etag }).toEqual({ held: false, etag: held.etag });
    // Breaking a broken lease succeeds again (Lease Blob outcome table: Break on Broken → Broken), and
    // leaves it free: harmless, the caller's acquire stays conditioned on the same version.
    expect(await store.breakStale(name, held.etag!, live())).toBe(true);
    expect((await store.observe(name, live())).held).toBe(false);
  });

  it('after a break the old holder’s heartbeat is a definite loss (Set Metadata with its lease id on a broken lease), and so it is once re-leased', async () => {
    const name = leaseName('after-break');
    const leaseId = await acquire(name);
    const { etag } = await store.observe(name, live());
    expect(await store.breakStale(name, etag!, live())).toBe(true);
    const broken = await container
      .getBlobClient(name)
      .setMetadata({}, { conditions: { leaseId } })
      .then(
        () => undefined,
        (error: { statusCode?: number; details?: { errorCode?: string } }) => ({
          status: error.statusCode,
          code: error.details?.errorCode,
        }),
      );
    expect(broken).toEqual({ status: 412, code: 'LeaseNotPresentWithBlobOperation' });
    await expect(store.heartbeat(name, leaseId, live())).rejects.toThrow(LeaseLostError);
    await acquire(name, 'b');
    await expect(store.heartbeat(name, leaseId, live())).rejects.toThrow(LeaseLostError);
  });
});

describe('fast failover with two electors on Azurite', () => {
  it('a crashed leader is replaced by a break of its still-valid lease, not by waiting for it to expire', async () => {
    const name = leaseName('takeover');
    const options = { leaseName: name, presence: false, fastFailover: { livenessMs: 3000 } } as const;
    const a = new LeaderElector(store, { ...options, identity: 'a' }, { logger: new RecordingLogger() });
    await a.start();
    expect(a.isLeader()).toBe(true);
    const bStore = new AzureBlobLeaseStore({ connectionString, containerName: CONTAINER });
    const b = new LeaderElector(bStore, { ...options, identity: 'b' }, { logger: new RecordingLogger() });
    const requests: string[] = [];
    b.requests$.subscribe((event) => requests.push(`${event.operation} ${event.outcome}`));
    await b.start();
    // a crashes: its loop, renewals and heartbeats stop, and it releases nothing.
    (a as unknown as { stopController: AbortController }).stopController.abort();
    await b.waitForLeadership();
    // b took over by breaking a's lease, i.e. before that lease would have expired (15 s after its
    // last renewal), and a no longer believed it led by then.
    expect(requests.filter((request) => request.startsWith('break'))).toEqual(['break ok']);
    expect(a.isLeader()).toBe(false);
    await b.stop();
  });
});

describe('AzureBlobLeaseStore: the heartbeat cache holds only leases that heartbeat', () => {
  it('an acquire without livenessMs (a lock tick, an election without the mode) is not kept; a release forgets it', async () => {
    const written = (store as unknown as { written: Map<string, unknown> }).written;
    const before = written.size;
    for (let i = 0; i < 5; i++) await acquire(leaseName('tick')); // like per-run lock ticks
    expect(written.size).toBe(before);
    const name = leaseName('fast');
    const leaseId = randomUUID();
    const request = { leaseName: name, leaseId, identity: 'a', durationSeconds: 15, livenessMs: 3000 };
    expect((await store.acquire(request, live())).acquired).toBe(true);
    expect(written.has(name)).toBe(true);
    await store.heartbeat!(name, leaseId, live()); // still one request: the cached set
    await store.release(name, leaseId, live());
    expect(written.has(name)).toBe(false);
  });
});
