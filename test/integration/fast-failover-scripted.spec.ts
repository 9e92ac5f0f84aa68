import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import { BlobServiceClient, type StoragePipelineOptions } from '@azure/storage-blob';
import { LeaseLostError, LeaseRecordLostError, TransientStoreError } from '../../lib/core/lease-store.js';
import { AzureBlobLeaseStore } from '../../lib/stores/azure-blob/azure-blob-lease-store.js';

// Fast failover's Azure calls on the wire, against a scripted Blob endpoint (Azure answers Azurite
// cannot give: a 409 on a write under another lease id, difference D1 in docs/azure-storage-facts.md;
// Date and Last-Modified set by the script). The store is the library's own AzureBlobLeaseStore.

interface Seen {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingHttpHeaders;
}
interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  server?.close();
  server = undefined;
});

const errorAnswer = (status: number, code: string): Answer => ({
  status,
  headers: { 'x-ms-error-code': code, 'content-type': 'application/xml' },
  body: `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>scripted</Message></Error>`,
});

/** A Blob endpoint whose n-th request gets script(n); returns a client for it and what it saw. */
async function scriptedEndpoint(
  script: (n: number) => Answer,
  pipeline: StoragePipelineOptions,
): Promise<{ service: BlobServiceClient; seen: Seen[] }> {
  const seen: Seen[] = [];
  server = createServer((req, res) => {
    const answer = script(seen.length);
    seen.push({ method: req.method, url: req.url, headers: req.headers });
    req.resume();
    res.writeHead(answer.status, {
      'x-ms-request-id': `r${seen.length}`,
      'x-ms-version': '2025-01-05',
      date: new Date().toUTCString(),
      ...answer.headers,
    });
    res.end(answer.body ?? '');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const connectionString = `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5LWtleS1rZXk=;BlobEndpoint=http://127.0.0.1:${port}/devstoreaccount1;`;
  return { service: BlobServiceClient.fromConnectionString(connectionString, pipeline), seen };
}

const live = () => new AbortController().signal;

async function storeFor(
  script: (n: number) => Answer,
): Promise<{ store: AzureBlobLeaseStore; seen: Seen[] }> {
  const { seen } = await scriptedEndpoint(script, { retryOptions: { maxTries: 1 } });
  const port = (server!.address() as AddressInfo).port;
  const store = new AzureBlobLeaseStore({
    connectionString: `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5LWtleS1rZXk=;BlobEndpoint=http://127.0.0.1:${port}/devstoreaccount1;`,
    containerName: 'leases',
  });
  return { store, seen };
}

const PROPERTIES: Answer = {
  status: 200,
  headers: {
    etag: '"0x1"',
    'last-modified': 'Mon, 07 Dec 2026 20:00:05 GMT',
    'x-ms-meta-leader': 'a',
    'x-ms-meta-term': '3',
  },
};

describe('heartbeat on the wire (scripted Blob endpoint)', () => {
  it.each([
    [409, 'LeaseIdMismatchWithBlobOperation', LeaseLostError],
    [412, 'LeaseIdMismatchWithBlobOperation', LeaseLostError],
    [412, 'LeaseNotPresentWithBlobOperation', LeaseLostError],
    [412, 'LeaseIdMissing', LeaseLostError],
    [404, 'BlobNotFound', LeaseRecordLostError],
    [503, 'ServerBusy', TransientStoreError],
  ])('Set Blob Metadata answered %d %s → %p', async (status, code, kind) => {
    const { store, seen } = await storeFor((n) => (n === 0 ? PROPERTIES : errorAnswer(status, code)));
    await expect(store.heartbeat('jobs', 'lease-a', live())).rejects.toThrow(kind as never);
    const write = seen[1]!;
    expect([write.method, write.url?.split('&')[0]]).toEqual([
      'PUT',
      '/devstoreaccount1/leases/jobs?comp=metadata',
    ]);
    expect(write.headers['x-ms-lease-id']).toBe('lease-a');
    expect(write.headers['x-ms-meta-leader']).toBe('a'); // the whole set is written again
    expect(write.headers['x-ms-meta-term']).toBe('3');
  });
});

describe('breakStale on the wire (scripted Blob endpoint)', () => {
  it.each([
    [202, undefined, true],
    [412, 'ConditionNotMet', false],
    [409, 'LeaseNotPresentWithLeaseOperation', false],
  ])('Break Lease, period 0, If-Match, answered %d %s → %p', async (status, code, broken) => {
    const answer: Answer =
      code === undefined
        ? { status, headers: { 'x-ms-lease-time': '0', etag: '"0x1"' } }
        : errorAnswer(status, code);
    const { store, seen } = await storeFor(() => answer);
    expect(await store.breakStale('jobs', '"0x1"', live())).toBe(broken);
    const [request] = seen;
    expect([request!.method, request!.url?.split('&')[0]]).toEqual([
      'PUT',
      '/devstoreaccount1/leases/jobs?comp=lease',
    ]);
    expect(request!.headers['x-ms-lease-action']).toBe('break');
    expect(request!.headers['x-ms-lease-break-period']).toBe('0');
    expect(request!.headers['if-match']).toBe('"0x1"');
    expect(request!.headers['x-ms-lease-id']).toBeUndefined();
  });
});

describe('the silence bound from the headers (scripted Blob endpoint)', () => {
  it('Date 20:00:10 and Last-Modified 20:00:05 give at least 4 s; no Last-Modified gives none', async () => {
    const held = { 'x-ms-lease-state': 'leased', 'x-ms-lease-status': 'locked' };
    const { store } = await storeFor((n) =>
      n === 0
        ? { status: 200, headers: { ...PROPERTIES.headers, ...held, date: 'Mon, 07 Dec 2026 20:00:10 GMT' } }
        : { status: 200, headers: { etag: '"0x1"', ...held, date: 'Mon, 07 Dec 2026 20:00:10 GMT' } },
    );
    const first = await store.observe('jobs', live());
    expect({ held: first.held, silentForAtLeastMs: first.silentForAtLeastMs }).toEqual({
      held: true,
      silentForAtLeastMs: 4000,
    });
    expect((await store.observe('jobs', live())).silentForAtLeastMs).toBeUndefined();
  });
});
