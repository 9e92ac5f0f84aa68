import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { LeaderElector } from '../../lib/core/leader-elector.js';
import type { LeaseObservation } from '../../lib/core/lease-store.js';
import { silentLogger } from '../../lib/core/logger.js';
import { AzureBlobLeaseStore } from '../../lib/stores/azure-blob/azure-blob-lease-store.js';
import { MAX_LISTING_PAGE_SIZE } from '../../lib/stores/azure-blob/lease-listing.js';

// The shared poller's listing (issue 23) on the Azurite of Jest's global setup: one paged List Blobs
// gives, for every lease, what observe() (Get Properties) gives for that lease alone.

jest.setTimeout(60_000);

const connectionString = process.env.AZURITE_CONNECTION_STRING!;
const CONTAINER = `it-listing-${randomBytes(4).toString('hex')}`;
const D_SECONDS = 15;
const PAGE_SIZE = 3;

let container: ContainerClient;
/** Items per page the listing read, in order. */
let pages: number[] = [];

/** The container client, with every page listBlobsFlat().byPage() yields counted (and Get Properties). */
function countingPages(client: ContainerClient, getProperties: number[] = []): ContainerClient {
  return new Proxy(client, {
    get(target, property) {
      if (property === 'getBlobClient') {
        return (name: string) =>
          new Proxy(target.getBlobClient(name), {
            get(blob, key) {
              if (key === 'getProperties') getProperties.push(Date.now());
              const value = Reflect.get(blob, key, blob) as unknown;
              return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(blob) : value;
            },
          });
      }
      if (property === 'listBlobsFlat') {
        return (...args: Parameters<ContainerClient['listBlobsFlat']>) => {
          const listing = target.listBlobsFlat(...args);
          return {
            byPage: (settings?: { maxPageSize?: number }) =>
              (async function* () {
                for await (const page of listing.byPage(settings)) {
                  pages.push(page.segment.blobItems.length);
                  yield page;
                }
              })(),
          };
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

const live = (): AbortSignal => new AbortController().signal;

beforeAll(async () => {
  container = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(CONTAINER);
  await container.createIfNotExists();
});

afterAll(async () => {
  await container.deleteIfExists();
});

describe('AzureBlobLeaseStore.listLeases', () => {
  it('lists 10 leases over pages of 3 and reports for each what observe() reports: held, released, broken, breaking, expired, handed over, never taken', async () => {
    const store = new AzureBlobLeaseStore({
      containerClient: countingPages(container),
      listingPageSize: PAGE_SIZE,
    });
    const app = `app-${randomUUID().slice(0, 6)}/`;
    const names = Array.from({ length: 10 }, (_, i) => `${app}lease-${String(i).padStart(2, '0')}`);
    const ids = names.map(() => randomUUID());
    const take = async (i: number, identity = `replica-${i % 3}`): Promise<void> => {
      const result = await store.acquire(
        { leaseName: names[i]!, leaseId: ids[i]!, identity, durationSeconds: D_SECONDS },
        live(),
      );
      expect(result.acquired).toBe(true);
    };
    for (let i = 0; i < 10; i++) if (i !== 7) await take(i);
    // 7: a blob nobody ever leased; 3: released; 6: released to a named successor.
    await container.getBlockBlobClient(names[7]!).upload('', 0);
    await store.release(names[3]!, ids[3]!, live());
    await store.release(names[6]!, ids[6]!, live(), { successor: 'replica-2' });
    // 4: broken at once (free).
    await container.getBlobClient(names[4]!).getBlobLeaseClient().breakLease(0);
    // Not ours: a presence record of one of these leases, and a lease of another app in the container.
    await store.announce(
      names[0]!,
      { identity: 'replica-0', priority: 0, canLead: true, startedAt: 0 },
      live(),
    );
    await store.acquire(
      { leaseName: 'other-app', leaseId: randomUUID(), identity: 'x', durationSeconds: D_SECONDS },
      live(),
    );
    // 5 expires: the others are renewed meanwhile (a lease of 15 s is the shortest Azure grants).
    const expiresAfter = Date.now() + (D_SECONDS + 1) * 1000;
    while (Date.now() < expiresAfter) {
      await new Promise((resolve) => setTimeout(resolve, 5000));
      for (const i of [0, 1, 2, 8, 9]) await store.renew(names[i]!, ids[i]!, live());
    }
    // 8: breaking for 10 s (a break ends no later than the lease would): still held.
    await container.getBlobClient(names[8]!).getBlobLeaseClient().breakLease(10);
    expect((await container.getBlobClient(names[8]!).getProperties()).leaseState).toBe('breaking');

    pages = [];
    const missing = `${app}lease-never-created`;
    const listed = await store.listLeases([...names, missing], live());
    // 10 blobs in pages of at most 3: the listing read on past the first page.
    expect(pages).toEqual([3, 3, 3, 1]);
    expect([...listed.keys()].sort()).toEqual([...names, missing].sort());
    const observed = new Map<string, LeaseObservation>();
    for (const name of [...names, missing]) observed.set(name, await store.observe(name, live()));
    // A lease without a blob is listed as observe() reports it, with the missing record's version.
    expect(listed.get(missing)).toEqual({ held: false, term: 0, etag: 'absent' });
    expect(observed.get(missing)).toEqual({ held: false, term: 0, etag: 'absent' });
    for (const name of names) {
      const { etag, silentForAtLeastMs: listedSilence, ...rest } = listed.get(name)!;
      const {
        etag: observedEtag,
        silentForAtLeastMs: observedSilence,
        ...observedRest
      } = observed.get(name)!;
      expect({ name, ...rest }).toEqual({ name, ...observedRest });
      // Read at two moments, in whole seconds: the later read may be one second more silent.
      expect([0, 1000]).toContain((observedSilence ?? 0) - (listedSilence ?? 0));
      expect(etag).toBe(observedEtag);
      expect(etag).toMatch(/^"0x[0-9A-F]+"$/); // quoted, as the ETag header carries it
      expect(etag).toBe((await container.getBlobClient(name).getProperties()).etag);
    }
    const held = names.map((name) => listed.get(name)!.held);
    expect(held).toEqual([true, true, true, false, false, false, false, false, true, true]);
    expect(listed.get(names[6]!)!.successor).toBe('replica-2');
    expect(listed.get(names[7]!)!.term).toBe(0);
    expect(listed.get(names[5]!)).toMatchObject({ held: false, term: 1, holder: 'replica-2' });

    // Names without a common prefix list the whole container, up to the presence records ('~…').
    pages = [];
    const everything = await store.listLeases([names[0]!, 'other-app'], live());
    expect([...everything.keys()].sort()).toEqual([...names, 'other-app'].sort());
    expect(pages).toEqual([3, 3, 3, 3]); // the 12th blob is the presence record: no page after it
  });

  it('a listing of leases in a container that does not exist reports each as missing (as observe() does); page sizes outside 1–5000 are refused by name', async () => {
    const service = BlobServiceClient.fromConnectionString(connectionString);
    const store = new AzureBlobLeaseStore({
      containerClient: service.getContainerClient(`it-listing-none-${randomBytes(4).toString('hex')}`),
    });
    const listed = await store.listLeases(['a', 'b'], live());
    expect([...listed.entries()]).toEqual([
      ['a', await store.observe('a', live())],
      ['b', await store.observe('b', live())],
    ]);
    expect(listed.get('a')).toEqual({ held: false, term: 0, etag: 'absent' });
    for (const listingPageSize of [0, MAX_LISTING_PAGE_SIZE + 1, 2.5])
      expect(() => new AzureBlobLeaseStore({ connectionString, listingPageSize })).toThrow(
        /"listingPageSize": got .*allowed: a whole number from 1 to 5000/,
      );
  });
});

describe('the shared poller on Azurite', () => {
  it('2 replicas × 8 leases with listingFromLeases 2 and pages of 3: the follower observes by paged listings only, every lease has one leader, and a release is taken over within about one poll', async () => {
    const R = 500;
    const app = `poller-${randomUUID().slice(0, 6)}/`;
    const names = Array.from({ length: 8 }, (_, i) => `${app}lease-${i}`);
    const getProperties = [[], []] as number[][];
    const replicas = [0, 1].map((r) => {
      const store = new AzureBlobLeaseStore({
        containerClient: countingPages(container, getProperties[r]),
        listingFromLeases: 2,
        listingPageSize: PAGE_SIZE,
      });
      return names.map(
        (leaseName) =>
          new LeaderElector(
            store,
            { leaseName, identity: `r${r}`, presence: false, retryIntervalMs: R },
            { logger: silentLogger },
          ),
      );
    });
    const [first, second] = replicas as [LeaderElector[], LeaderElector[]];
    try {
      await Promise.all(first.map((elector) => elector.start()));
      await Promise.all(second.map((elector) => elector.start()));
      expect(first.every((elector) => elector.isLeader())).toBe(true);
      pages = [];
      const from = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 6 * R));
      expect(second.some((elector) => elector.isLeader())).toBe(false);
      // The follower's observations: listings of the 8 lease blobs in pages of 3, no Get Properties.
      expect(getProperties[1]!.filter((at) => at >= from)).toEqual([]);
      // Each listing reads pages of 3, 3 and 2 (one started before `from` may show only its tail).
      expect(new Set(pages)).toEqual(new Set([3, 2]));
      expect(pages.filter((items) => items === 2).length).toBeGreaterThanOrEqual(4);
      // Replica 0 stops and releases: replica 1 leads every lease within about one poll.
      await Promise.all(first.map((elector) => elector.stop()));
      const released = Date.now();
      while (!second.every((elector) => elector.isLeader()) && Date.now() - released < 10_000)
        await new Promise((resolve) => setTimeout(resolve, 20));
      expect(second.map((elector) => elector.isLeader())).toEqual(names.map(() => true));
      expect(Date.now() - released).toBeLessThan(3 * R + 1000); // R, the listing and the acquires
    } finally {
      await Promise.all([...first, ...second].map((elector) => elector.stop()));
    }
  });
});
