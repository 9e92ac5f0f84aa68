import { afterEach, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import {
  closeScriptedEndpoint,
  errorAnswer,
  scriptedEndpoint,
  type Answer,
} from '../support/scripted-blob-endpoint.js';
import type { StoragePipelineOptions } from '@azure/storage-blob';
import { AzureBlobLeaseStore } from '../../lib/stores/azure-blob/azure-blob-lease-store.js';

// Azure behaviour that Azurite cannot show, against a scripted Blob endpoint on loopback with the real
// SDK: the wire form of a conditional Break Lease (Azurite accepts it either way) and throttling
// answers on List Blobs (Azurite never throttles). See docs/azure-storage-facts.md.

afterEach(closeScriptedEndpoint);

const EMPTY_LISTING: Answer = {
  status: 200,
  headers: { 'content-type': 'application/xml' },
  body:
    '<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="http://127.0.0.1/devstoreaccount1/" ' +
    'ContainerName="locks"><Prefix>records/</Prefix><Blobs /><NextMarker /></EnumerationResults>',
};

async function refusal(request: Promise<unknown>): Promise<{ status: number; code: string | undefined }> {
  const error = (await request.then(
    () => {
      throw new Error('expected the service to refuse the request, but it succeeded');
    },
    (caught: unknown) => caught,
  )) as { statusCode?: number; code?: string; details?: { errorCode?: string } };
  return { status: error.statusCode ?? -1, code: error.details?.errorCode ?? error.code };
}

const NO_RETRIES: StoragePipelineOptions = { retryOptions: { maxTries: 1 } };

describe('Break Lease on the wire (scripted Blob endpoint)', () => {
  it.each([
    ['the quoted ETag of a header', '"0x8DD1C2B3A4F5E60"'],
    ['the unquoted ETag of a listing', '0x8DD1C2B3A4F5E60'],
  ])(
    'a conditional break sends break period 0, If-Match with %s exactly as given, and no lease id; Azure’s 412 ConditionNotMet surfaces as such',
    async (_label, etag) => {
      const { service, seen } = await scriptedEndpoint(() => errorAnswer(412, 'ConditionNotMet'), NO_RETRIES);
      const follower = service.getContainerClient('locks').getBlobClient('records/jobs').getBlobLeaseClient();

      const answer = await refusal(follower.breakLease(0, { conditions: { ifMatch: etag } }));

      expect(answer).toEqual({ status: 412, code: 'ConditionNotMet' });
      expect(seen).toHaveLength(1);
      const [request] = seen;
      expect([request!.method, new URL(request!.url!, 'http://x').searchParams.get('comp')]).toEqual([
        'PUT',
        'lease',
      ]);
      expect([
        request!.headers['x-ms-lease-action'],
        request!.headers['x-ms-lease-break-period'],
        request!.headers['if-match'],
        request!.headers['x-ms-lease-id'],
      ]).toEqual(['break', '0', etag, undefined]);
    },
  );
});

describe('Acquire Lease with If-Match on the wire (scripted Blob endpoint)', () => {
  it('a conditional acquire sends the duration, the proposed lease id and If-Match exactly as given; Azure’s 412 ConditionNotMet surfaces as such', async () => {
    const { service, seen } = await scriptedEndpoint(() => errorAnswer(412, 'ConditionNotMet'), NO_RETRIES);
    const leaseId = '0b1d6c2e-4f7a-4c39-9d7e-2a5b8c1f3e60';
    const candidate = service
      .getContainerClient('locks')
      .getBlobClient('records/jobs')
      .getBlobLeaseClient(leaseId);

    const answer = await refusal(
      candidate.acquireLease(15, { conditions: { ifMatch: '"0x8DD1C2B3A4F5E60"' } }),
    );

    expect(answer).toEqual({ status: 412, code: 'ConditionNotMet' });
    expect(seen).toHaveLength(1);
    expect([
      seen[0]!.method,
      new URL(seen[0]!.url!, 'http://x').searchParams.get('comp'),
      seen[0]!.headers['x-ms-lease-action'],
      seen[0]!.headers['x-ms-lease-duration'],
      seen[0]!.headers['x-ms-proposed-lease-id'],
      seen[0]!.headers['if-match'],
    ]).toEqual(['PUT', 'lease', 'acquire', '15', leaseId, '"0x8DD1C2B3A4F5E60"']);
  });

  it.each([
    [412, 'ConditionNotMet'],
    [409, 'LeaseAlreadyPresent'],
    [404, 'BlobNotFound'],
  ])(
    'AzureBlobLeaseStore: a conditional acquire answered %d %s takes nothing, creates nothing and reports not acquired (Azure does not document which of these a stale ETag on a leased or deleted blob gets)',
    async (status, code) => {
      const properties: Answer = {
        status: 200,
        headers: {
          etag: '"0x8DD1C2B3A4F5E61"',
          'x-ms-lease-state': 'leased',
          'x-ms-lease-status': 'locked',
          'x-ms-meta-leader': 'b',
          'x-ms-meta-term': '2',
          'x-ms-blob-type': 'BlockBlob',
        },
      };
      const again = status === 404 ? errorAnswer(404, 'BlobNotFound') : properties; // the fresh observation
      const { seen, connectionString } = await scriptedEndpoint(
        (n) => (n === 0 ? errorAnswer(status, code) : again),
        NO_RETRIES,
      );
      const store = new AzureBlobLeaseStore({ connectionString, containerName: 'locks' });
      const result = await store.acquire(
        {
          leaseName: 'jobs',
          leaseId: randomUUID(),
          identity: 'x',
          durationSeconds: 15,
          ifMatch: '"0x8DD1C2B3A4F5E60"',
        },
        new AbortController().signal,
      );

      expect(result.acquired).toBe(false);
      if (status === 412)
        expect(result).toEqual({
          acquired: false,
          observation: expect.objectContaining({
            held: true,
            holder: 'b',
            term: 2,
            etag: '"0x8DD1C2B3A4F5E61"',
          }),
        });
      if (status === 404)
        expect(result).toEqual({ acquired: false, observation: { held: false, term: 0, etag: 'absent' } });
      // The acquire was the store's first request and its only write: no blob created, no metadata written.
      expect(seen[0]!.headers['if-match']).toBe('"0x8DD1C2B3A4F5E60"');
      expect(seen.map((request) => request.method)).toEqual(status === 409 ? ['PUT'] : ['PUT', 'HEAD']);
    },
  );
});

/** A List Blobs page as Azure's List Blobs reference describes it: leased records and a NextMarker. */
function listingPage(names: string[], nextMarker: string): Answer {
  const blobs = names
    .map(
      (name) =>
        `<Blob><Name>${name}</Name><Properties><Last-Modified>Mon, 07 Dec 2026 14:00:00 GMT</Last-Modified>` +
        '<Etag>0x8DD1C2B3A4F5E60</Etag><Content-Length>0</Content-Length><BlobType>BlockBlob</BlobType>' +
        '<LeaseStatus>locked</LeaseStatus><LeaseState>leased</LeaseState><LeaseDuration>fixed</LeaseDuration>' +
        '</Properties><Metadata><term>3</term></Metadata></Blob>',
    )
    .join('');
  return {
    status: 200,
    headers: { 'content-type': 'application/xml' },
    body:
      '<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="http://127.0.0.1/devstoreaccount1/" ' +
      `ContainerName="locks"><Prefix>records/</Prefix><MaxResults>10</MaxResults><Blobs>${blobs}</Blobs>` +
      `<NextMarker>${nextMarker}</NextMarker></EnumerationResults>`,
  };
}

describe('short pages on List Blobs (scripted Blob endpoint; Azurite always fills a page)', () => {
  it('a page shorter than maxresults, even an empty one, may still carry a NextMarker: only an empty NextMarker ends the listing', async () => {
    const script = [
      listingPage(['records/a', 'records/b', 'records/c'], 'marker-1'),
      listingPage([], 'marker-2'),
      listingPage(['records/d'], ''),
    ];
    const { service, seen } = await scriptedEndpoint((n) => script[n]!, NO_RETRIES);
    const sizes: number[] = [];
    const names: string[] = [];
    for await (const page of service
      .getContainerClient('locks')
      .listBlobsFlat({ prefix: 'records/', includeMetadata: true })
      .byPage({ maxPageSize: 10 })) {
      sizes.push(page.segment.blobItems.length);
      names.push(...page.segment.blobItems.map((item) => item.name));
    }

    expect(sizes).toEqual([3, 0, 1]);
    expect(names).toEqual(['records/a', 'records/b', 'records/c', 'records/d']);
    expect(seen.map((request) => new URL(request.url!, 'http://x').searchParams.get('marker'))).toEqual([
      null,
      'marker-1',
      'marker-2',
    ]);
  });
});

describe('throttling answers on List Blobs (scripted Blob endpoint; Azurite never throttles)', () => {
  it.each([
    [503, 'ServerBusy'],
    [500, 'OperationTimedOut'],
  ])('%d %s reaches the caller after one request when SDK retries are off', async (status, code) => {
    const { service, seen } = await scriptedEndpoint(() => errorAnswer(status, code), NO_RETRIES);
    const pages = service
      .getContainerClient('locks')
      .listBlobsFlat({ prefix: 'records/', includeMetadata: true })
      .byPage({ maxPageSize: 5000 });

    expect(await refusal(pages.next())).toEqual({ status, code });
    expect(seen).toHaveLength(1);
    const query = new URL(seen[0]!.url!, 'http://x').searchParams;
    expect([query.get('comp'), query.get('prefix'), query.get('include'), query.get('maxresults')]).toEqual([
      'list',
      'records/',
      'metadata',
      '5000',
    ]);
  });

  it.each([
    [503, 'ServerBusy'],
    [500, 'OperationTimedOut'],
  ])(
    '%d %s is retried by the SDK itself when its retries are on: a poller must count these requests (and their delays) as its own',
    async (status, code) => {
      const { service, seen } = await scriptedEndpoint(
        (n) => (n < 2 ? errorAnswer(status, code) : EMPTY_LISTING),
        {
          retryOptions: { maxTries: 3, retryDelayInMs: 10, maxRetryDelayInMs: 20 },
        },
      );
      const page = await service
        .getContainerClient('locks')
        .listBlobsFlat({ prefix: 'records/', includeMetadata: true })
        .byPage()
        .next();

      expect(page.done ? 'no page' : page.value.segment.blobItems).toEqual([]);
      expect(seen).toHaveLength(3);
    },
  );
});
