import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { BlobServiceClient, type BlobClient, type BlobItem, type ContainerClient } from '@azure/storage-blob';

// The Azure Blob facts that fast failover (issue 21) and the shared listing poller (issue 23) rest on,
// checked on the Azurite of Jest's global setup with the SDK alone (no library code). What Microsoft
// documents for each, and where Azurite differs, is in docs/azure-storage-facts.md.

jest.setTimeout(30_000);

const connectionString = process.env.AZURITE_CONNECTION_STRING!;
const CONTAINER = `it-facts-${randomBytes(4).toString('hex')}`;
const RFC_1123 =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

let container: ContainerClient;
let counter = 0;
const uniqueName = (label: string): string => `${label}-${++counter}-${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  container = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(CONTAINER);
  await container.createIfNotExists();
});

afterAll(async () => {
  await container.deleteIfExists();
});

async function emptyBlob(name: string, metadata?: Record<string, string>): Promise<BlobClient> {
  const blob = container.getBlockBlobClient(name);
  await blob.upload('', 0, { metadata });
  return blob;
}

/** What a follower observes with Get Blob Properties, with the raw date headers. */
async function observe(blob: BlobClient) {
  const props = await blob.getProperties();
  return {
    etag: props.etag!,
    lastModified: props.lastModified!,
    date: props.date!,
    rawDate: props._response.headers.get('date'),
    rawLastModified: props._response.headers.get('last-modified'),
    leaseState: props.leaseState,
    leaseStatus: props.leaseStatus,
    leaseDuration: props.leaseDuration,
    metadata: props.metadata,
  };
}

/** The status and service error code of a refused request (fails the test if it succeeded). */
async function refusal(request: Promise<unknown>): Promise<{ status: number; code: string | undefined }> {
  const error = (await request.then(
    () => {
      throw new Error('expected the service to refuse the request, but it succeeded');
    },
    (caught: unknown) => caught,
  )) as { statusCode?: number; code?: string; details?: { errorCode?: string } };
  return { status: error.statusCode ?? -1, code: error.details?.errorCode ?? error.code };
}

/** Waits (polling Get Properties) until the server's Date is at least `ms` past `instant`. */
async function untilServerTimePasses(blob: BlobClient, instant: Date, ms: number): Promise<Date> {
  for (;;) {
    const { date } = await observe(blob);
    if (date.getTime() - instant.getTime() >= ms) return date;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function listAll(prefix: string, maxPageSize?: number) {
  const pages: Array<{ items: BlobItem[]; continuationToken: string | undefined }> = [];
  for await (const page of container
    .listBlobsFlat({ prefix, includeMetadata: true })
    .byPage({ maxPageSize })) {
    pages.push({ items: page.segment.blobItems, continuationToken: page.continuationToken || undefined });
  }
  return pages;
}

async function listedItem(name: string): Promise<BlobItem> {
  const [page] = await listAll(name);
  const item = page?.items.find((candidate) => candidate.name === name);
  if (!item) throw new Error(`${name} is missing from the listing`);
  return item;
}

describe('Set Blob Metadata and lease operations (the fast-failover heartbeat)', () => {
  it('on a leased blob Set Blob Metadata needs the lease id: 412 without it or with another, and with it the ETag and Last-Modified change', async () => {
    const blob = await emptyBlob(uniqueName('heartbeat'));
    const lease = blob.getBlobLeaseClient(randomUUID());
    await lease.acquireLease(15);
    const before = await observe(blob);

    expect(await refusal(blob.setMetadata({ term: '1' }))).toEqual({ status: 412, code: 'LeaseIdMissing' });
    // Microsoft's error-code table gives 412 for this code; the Lease Blob outcome table says 409.
    const otherId = { conditions: { leaseId: randomUUID() } };
    expect(await refusal(blob.setMetadata({ term: '1' }, otherId))).toEqual({
      status: 412,
      code: 'LeaseIdMismatchWithBlobOperation',
    });
    expect((await observe(blob)).etag).toBe(before.etag); // refused writes change nothing

    // Last-Modified has whole seconds: let the server clock pass the current one before writing.
    await untilServerTimePasses(blob, before.lastModified, 1_000);
    const written = await blob.setMetadata({ term: '1' }, { conditions: { leaseId: lease.leaseId } });
    expect(written.etag).not.toBe(before.etag);
    expect(written.lastModified!.getTime()).toBeGreaterThan(before.lastModified.getTime());
    const after = await observe(blob);
    expect([after.etag, after.lastModified, after.metadata]).toEqual([
      written.etag,
      written.lastModified,
      { term: '1' },
    ]);
    expect([after.leaseState, after.leaseStatus]).toEqual(['leased', 'locked']); // the write keeps the lease
  });

  it('acquire, renew, change, release and break leave the ETag and Last-Modified as they were', async () => {
    const blob = await emptyBlob(uniqueName('lease-ops'), { term: '7' });
    const initial = await observe(blob);
    // Any change of Last-Modified from here on would show as a later second.
    await untilServerTimePasses(blob, initial.lastModified, 1_000);
    const first = blob.getBlobLeaseClient(randomUUID());
    const secondId = randomUUID();
    const steps: Array<[string, () => Promise<{ etag?: string; lastModified?: Date }>]> = [
      ['acquire', () => first.acquireLease(15)],
      ['renew', () => first.renewLease()],
      ['change', () => first.changeLease(secondId)],
      ['release', () => blob.getBlobLeaseClient(secondId).releaseLease()],
      ['acquire again', () => first.acquireLease(15)],
      ['break', () => first.breakLease(0)],
    ];
    const seen: Array<[string, string | undefined, number | undefined, string, number]> = [];
    for (const [action, run] of steps) {
      const response = await run();
      const now = await observe(blob);
      seen.push([
        action,
        response.etag,
        response.lastModified?.getTime(),
        now.etag,
        now.lastModified.getTime(),
      ]);
    }
    const unchanged = initial.lastModified.getTime();
    expect(seen).toEqual(steps.map(([action]) => [action, initial.etag, unchanged, initial.etag, unchanged]));
  });
});

describe('Break Lease (the fast-failover takeover)', () => {
  it.each([
    ['a new proposed id', () => randomUUID()],
    ["the broken holder's own id", (holderId: string) => holderId],
  ])(
    'break period 0 needs no lease id, leaves the lease broken at once, and an acquire with %s succeeds right after',
    async (_label, proposedId) => {
      const blob = await emptyBlob(uniqueName('break'));
      const holder = blob.getBlobLeaseClient(randomUUID());
      await holder.acquireLease(60);

      // The follower knows no lease id: the SDK's lease client without one proposes a random id it never sends on break.
      const broken = await blob.getBlobLeaseClient().breakLease(0);
      expect(broken.leaseTime).toBe(0);
      const afterBreak = await observe(blob);
      expect([afterBreak.leaseState, afterBreak.leaseStatus]).toEqual(['broken', 'unlocked']);

      const takerId = proposedId(holder.leaseId);
      const taken = await blob.getBlobLeaseClient(takerId).acquireLease(15);
      expect(taken.leaseId).toBe(takerId);
      expect((await observe(blob)).leaseState).toBe('leased');
      if (takerId !== holder.leaseId) {
        // The old holder can neither renew nor heartbeat any more.
        expect(await refusal(holder.renewLease())).toEqual({
          status: 409,
          code: 'LeaseIdMismatchWithLeaseOperation',
        });
        expect(await refusal(blob.setMetadata({}, { conditions: { leaseId: holder.leaseId } }))).toEqual({
          status: 412,
          code: 'LeaseIdMismatchWithBlobOperation',
        });
      }
    },
  );

  it('break with If-Match on a stale ETag answers 412 ConditionNotMet and leaves the lease held; with the current ETag it breaks', async () => {
    const blob = await emptyBlob(uniqueName('conditional-break'));
    const holder = blob.getBlobLeaseClient(randomUUID());
    await holder.acquireLease(15);
    const observed = await observe(blob); // the follower's observation
    // The holder heartbeats in between: the follower's ETag is stale now.
    const heartbeat = await blob.setMetadata({ beat: '1' }, { conditions: { leaseId: holder.leaseId } });

    const follower = blob.getBlobLeaseClient();
    expect(await refusal(follower.breakLease(0, { conditions: { ifMatch: observed.etag } }))).toEqual({
      status: 412,
      code: 'ConditionNotMet',
    });
    const held = await observe(blob);
    expect([held.leaseState, held.leaseStatus, held.etag]).toEqual(['leased', 'locked', heartbeat.etag]);
    await holder.renewLease(); // still the holder's lease

    const current = await observe(blob);
    await follower.breakLease(0, { conditions: { ifMatch: current.etag } });
    expect((await observe(blob)).leaseState).toBe('broken');
  });

  it('break of a lease that is no longer there (released) answers 409 LeaseNotPresentWithLeaseOperation', async () => {
    const blob = await emptyBlob(uniqueName('break-available'));
    const holder = blob.getBlobLeaseClient(randomUUID());
    await holder.acquireLease(15);
    const observed = await observe(blob);
    await holder.releaseLease(); // a graceful hand-over raced the follower's break

    expect(await refusal(blob.getBlobLeaseClient().breakLease(0))).toEqual({
      status: 409,
      code: 'LeaseNotPresentWithLeaseOperation',
    });
    // Conditioned on the (still current) ETag, the answer is the same: release does not change the ETag.
    expect(
      await refusal(blob.getBlobLeaseClient().breakLease(0, { conditions: { ifMatch: observed.etag } })),
    ).toEqual({ status: 409, code: 'LeaseNotPresentWithLeaseOperation' });
  });
});

describe('Acquire Lease with If-Match (the election acquires only the record it observed)', () => {
  it('acquire with If-Match on a stale ETag answers 412 ConditionNotMet and takes nothing; with the current ETag it acquires, leaving the ETag as it was', async () => {
    const blob = await emptyBlob(uniqueName('conditional-acquire'));
    const observed = await observe(blob); // a follower sees the lease free
    // Meanwhile another replica leads (its acquisition writes the term) and hands the lease over.
    const other = blob.getBlobLeaseClient(randomUUID());
    await other.acquireLease(15);
    const term = await blob.setMetadata({ term: '1' }, { conditions: { leaseId: other.leaseId } });
    await other.releaseLease();

    const stale = blob.getBlobLeaseClient(randomUUID());
    expect(await refusal(stale.acquireLease(15, { conditions: { ifMatch: observed.etag } }))).toEqual({
      status: 412,
      code: 'ConditionNotMet',
    });
    const after = await observe(blob);
    expect([after.leaseState, after.leaseStatus, after.etag]).toEqual(['available', 'unlocked', term.etag]);

    const current = blob.getBlobLeaseClient(randomUUID());
    const acquired = await current.acquireLease(15, { conditions: { ifMatch: after.etag } });
    expect(acquired.etag).toBe(term.etag);
    expect([(await observe(blob)).leaseState, (await observe(blob)).etag]).toEqual(['leased', term.etag]);
    await current.releaseLease();
  });

  it('acquire with If-Match on a blob leased by another: 409 LeaseAlreadyPresent with the current ETag; with a stale one 412 on Azurite', async () => {
    const blob = await emptyBlob(uniqueName('conditional-acquire-held'));
    const observed = await observe(blob);
    const holder = blob.getBlobLeaseClient(randomUUID());
    await holder.acquireLease(15);
    expect(
      await refusal(
        blob.getBlobLeaseClient(randomUUID()).acquireLease(15, { conditions: { ifMatch: observed.etag } }),
      ),
    ).toEqual({ status: 409, code: 'LeaseAlreadyPresent' });
    await blob.setMetadata({ term: '1' }, { conditions: { leaseId: holder.leaseId } });
    // Stale ETag and a held lease: Azurite checks the condition first (D4 of docs/azure-storage-facts.md);
    // the election treats 409 and 412 alike (nothing taken).
    expect(
      await refusal(
        blob.getBlobLeaseClient(randomUUID()).acquireLease(15, { conditions: { ifMatch: observed.etag } }),
      ),
    ).toEqual({ status: 412, code: 'ConditionNotMet' });
    await holder.renewLease(); // still the holder's lease
  });

  it('acquire with If-Match on a deleted blob answers 412 ConditionNotMet on Azurite (D9); Put Blob with If-None-Match * on an existing blob answers 409 BlobAlreadyExists', async () => {
    const name = uniqueName('conditional-acquire-deleted');
    const blob = await emptyBlob(name);
    const observed = await observe(blob);
    await blob.delete();
    expect(
      await refusal(
        blob.getBlobLeaseClient(randomUUID()).acquireLease(15, { conditions: { ifMatch: observed.etag } }),
      ),
    ).toEqual({ status: 412, code: 'ConditionNotMet' });
    expect(await blob.exists()).toBe(false); // nothing was created
    // A blob observed missing is created with If-None-Match *: it fails once someone else created it.
    const created = await container
      .getBlockBlobClient(name)
      .upload('', 0, { conditions: { ifNoneMatch: '*' } });
    expect(created.etag).not.toBe(observed.etag); // a recreated blob never shows the old ETag
    expect(
      await refusal(container.getBlockBlobClient(name).upload('', 0, { conditions: { ifNoneMatch: '*' } })),
    ).toEqual({ status: 409, code: 'BlobAlreadyExists' });
  });
});

describe('Last-Modified and Date (staleness in server time)', () => {
  it('Date and Last-Modified are RFC 1123 with whole seconds on properties, writes, lease answers and listings', async () => {
    const name = uniqueName('resolution');
    const blob = await emptyBlob(name);
    const lease = blob.getBlobLeaseClient(randomUUID());
    const acquired = await lease.acquireLease(15);
    const written = await blob.setMetadata({ term: '1' }, { conditions: { leaseId: lease.leaseId } });
    const props = await observe(blob);
    const [page] = await listAll(name);
    const listed = page!.items[0]!;

    expect(props.rawDate).toMatch(RFC_1123);
    expect(props.rawLastModified).toMatch(RFC_1123);
    expect(written._response.headers.get('date')).toMatch(RFC_1123);
    expect(written._response.headers.get('last-modified')).toMatch(RFC_1123);
    expect(acquired._response.headers.get('date')).toMatch(RFC_1123);
    const millis = [
      props.date,
      props.lastModified,
      written.date!,
      written.lastModified!,
      acquired.date!,
      listed.properties.lastModified,
    ].map((instant) => instant.getTime() % 1_000);
    expect(millis).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('Date − Last-Modified grows while the holder only renews, and the next metadata write sets Last-Modified to a second no earlier than any Date seen before it', async () => {
    const blob = await emptyBlob(uniqueName('staleness'));
    const lease = blob.getBlobLeaseClient(randomUUID());
    await lease.acquireLease(15);
    const beat = await blob.setMetadata({ beat: '1' }, { conditions: { leaseId: lease.leaseId } });
    const heartbeatAt = beat.lastModified!;

    // The holder keeps renewing but stops heartbeating: the age in server time must grow past 2 s.
    let latest = await observe(blob);
    const ages: number[] = [];
    while (latest.date.getTime() - latest.lastModified.getTime() < 2_000) {
      await lease.renewLease();
      latest = await observe(blob);
      expect(latest.lastModified).toEqual(heartbeatAt);
      ages.push(latest.date.getTime() - latest.lastModified.getTime());
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(ages.every((age, i) => age >= 0 && (i === 0 || age >= ages[i - 1]!))).toBe(true);

    const next = await blob.setMetadata({ beat: '2' }, { conditions: { leaseId: lease.leaseId } });
    expect(next.lastModified!.getTime()).toBeGreaterThanOrEqual(latest.date.getTime());
    expect(next.lastModified!.getTime()).toBeGreaterThan(heartbeatAt.getTime());
    const fresh = await observe(blob);
    expect(fresh.lastModified).toEqual(next.lastModified);
    expect(fresh.date.getTime() - fresh.lastModified.getTime()).toBeGreaterThanOrEqual(0);
  });
});

describe('List Blobs (the shared listing poller)', () => {
  it('a flat listing with a prefix and metadata returns, per blob, the lease state, status and duration, ETag (without quotes), Last-Modified and metadata that Get Properties returns', async () => {
    const prefix = `${uniqueName('records')}/`;
    const leased = await emptyBlob(`${prefix}leased`, { term: '3', leader: 'a' });
    await leased.getBlobLeaseClient(randomUUID()).acquireLease(15);
    const broken = await emptyBlob(`${prefix}broken`, { term: '2' });
    await broken.getBlobLeaseClient(randomUUID()).acquireLease(15);
    await broken.getBlobLeaseClient().breakLease(0);
    const free = await emptyBlob(`${prefix}free`, { term: '1' });
    await emptyBlob(`${prefix.slice(0, -1)}-outside`); // shares the name start, not the prefix

    const pages = await listAll(prefix);
    expect(pages).toHaveLength(1);
    // The XML's Etag element has no quotes; the ETag header has them.
    expect(pages[0]!.items.map((item) => /^0x[0-9A-F]+$/.test(item.properties.etag))).toEqual([
      true,
      true,
      true,
    ]);
    const listed = Object.fromEntries(
      pages[0]!.items.map((item) => [
        item.name,
        {
          etag: `"${item.properties.etag}"`,
          lastModified: item.properties.lastModified,
          leaseState: item.properties.leaseState,
          leaseStatus: item.properties.leaseStatus,
          leaseDuration: item.properties.leaseDuration,
          metadata: item.metadata,
        },
      ]),
    );
    const expected: Record<string, unknown> = {};
    for (const blob of [leased, broken, free]) {
      const props = await observe(blob);
      expected[blob.name] = {
        etag: props.etag,
        lastModified: props.lastModified,
        leaseState: props.leaseState,
        leaseStatus: props.leaseStatus,
        leaseDuration: props.leaseDuration,
        metadata: props.metadata,
      };
    }
    expect(listed).toEqual(expected);
    expect(
      Object.values(listed).map((item) => [item.leaseState, item.leaseStatus, item.leaseDuration]),
    ).toEqual([
      ['broken', 'unlocked', undefined],
      ['available', 'unlocked', undefined],
      ['leased', 'locked', 'fixed'],
    ]); // alphabetical: broken, free, leased
  });

  it('a break conditioned on the ETag a listing showed (unquoted) answers 412 once the holder heartbeated, and breaks while it is current', async () => {
    const name = `${uniqueName('listed-etag')}/record`;
    const blob = await emptyBlob(name);
    const holder = blob.getBlobLeaseClient(randomUUID());
    await holder.acquireLease(15);
    const seen = await listedItem(name);
    await blob.setMetadata({ beat: '1' }, { conditions: { leaseId: holder.leaseId } });

    const follower = blob.getBlobLeaseClient();
    expect(await refusal(follower.breakLease(0, { conditions: { ifMatch: seen.properties.etag } }))).toEqual({
      status: 412,
      code: 'ConditionNotMet',
    });
    expect((await observe(blob)).leaseState).toBe('leased');
    const current = await listedItem(name);
    await follower.breakLease(0, { conditions: { ifMatch: current.properties.etag } });
    expect((await observe(blob)).leaseState).toBe('broken');
  });

  it('paging with maxPageSize 10 returns all 25 blobs once, in name order, over 3 pages joined by continuation tokens', async () => {
    const prefix = `${uniqueName('paged')}/`;
    const names = Array.from({ length: 25 }, (_, i) => `${prefix}lease-${String(i).padStart(2, '0')}`);
    await Promise.all(names.map((name) => emptyBlob(name, { term: '1' })));

    const pages = await listAll(prefix, 10);
    expect(pages.map((page) => page.items.length)).toEqual([10, 10, 5]);
    expect(pages.map((page) => page.continuationToken !== undefined)).toEqual([true, true, false]);
    expect(pages.flatMap((page) => page.items.map((item) => item.name))).toEqual(names);

    // A token resumes where its page ended, also from a fresh iterator (a poller may hold it between calls).
    const resumed = container
      .listBlobsFlat({ prefix, includeMetadata: true })
      .byPage({ continuationToken: pages[0]!.continuationToken, maxPageSize: 10 });
    const second = await resumed.next();
    expect(second.done ? [] : second.value.segment.blobItems.map((item) => item.name)).toEqual(
      names.slice(10, 20),
    );
  });

  it('a listing made right after a metadata write or a lease action shows it (read-after-write), 20 times in a row', async () => {
    const name = `${uniqueName('read-after-write')}/record`;
    const blob = await emptyBlob(name);
    const lease = blob.getBlobLeaseClient(randomUUID());
    const mismatches: string[] = [];
    for (let round = 0; round < 20; round++) {
      await lease.acquireLease(15);
      const afterAcquire = await listedItem(name);
      if (afterAcquire.properties.leaseState !== 'leased') mismatches.push(`${round}: acquire not listed`);

      const written = await blob.setMetadata(
        { term: String(round) },
        { conditions: { leaseId: lease.leaseId } },
      );
      const afterWrite = await listedItem(name);
      if (afterWrite.metadata?.['term'] !== String(round)) mismatches.push(`${round}: metadata not listed`);
      if (`"${afterWrite.properties.etag}"` !== written.etag) mismatches.push(`${round}: ETag not listed`);

      await lease.breakLease(0);
      const afterBreak = await listedItem(name);
      if (afterBreak.properties.leaseState !== 'broken') mismatches.push(`${round}: break not listed`);
    }
    expect(mismatches).toEqual([]);
  });
});
