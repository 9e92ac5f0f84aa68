import { afterEach, describe, expect, it } from '@jest/globals';
import { LeaseLostError, LeaseRecordLostError, TransientStoreError } from '../../lib/core/lease-store.js';
import {
  closeScriptedEndpoint,
  errorAnswer,
  scriptedEndpoint,
  type Answer,
  type Seen,
} from '../support/scripted-blob-endpoint.js';
import { AzureBlobLeaseStore } from '../../lib/stores/azure-blob/azure-blob-lease-store.js';

// Fast failover's Azure calls on the wire, against a scripted Blob endpoint (Azure answers Azurite
// cannot give: a 409 on a write under another lease id, difference D1 in docs/azure-storage-facts.md;
// Date and Last-Modified set by the script). The store is the library's own AzureBlobLeaseStore.

afterEach(closeScriptedEndpoint);

const live = () => new AbortController().signal;

async function storeFor(
  script: (n: number) => Answer,
): Promise<{ store: AzureBlobLeaseStore; seen: Seen[] }> {
  const { seen, connectionString } = await scriptedEndpoint(script, { retryOptions: { maxTries: 1 } });
  const store = new AzureBlobLeaseStore({ connectionString, containerName: 'leases' });
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
