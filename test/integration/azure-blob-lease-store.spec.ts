import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import {
  createServer as createHttpServer,
  request as httpRequest,
  type Server as HttpServer,
} from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  BlobServiceClient,
  ContainerSASPermissions,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
  type ContainerClient,
} from '@azure/storage-blob';
import { LeaderElector } from '../../lib/core/leader-elector.js';
import {
  LeaseLostError,
  LeaseRecordLostError,
  LeaseStoreError,
  PermanentStoreError,
  type AcquireResult,
} from '../../lib/core/lease-store.js';
import { InvalidElectionOptionError } from '../../lib/core/election-options.js';
import {
  ABSENT_RECORD_ETAG,
  AzureBlobLeaseStore,
  METADATA,
} from '../../lib/stores/azure-blob/azure-blob-lease-store.js';
import { AZURITE_ACCOUNT, AZURITE_KEY, azuriteConnectionString } from '../support/azurite.mjs';
import { RecordingLogger } from '../support/recording-logger.js';

// Store-level tests against the real Azurite started by Jest's global setup. Every test uses its own
// lease name; the file uses its own containers, so files and tests never see each other's leases.

const connectionString = process.env.AZURITE_CONNECTION_STRING!;
const port = Number(process.env.AZURITE_PORT);
const suffix = randomBytes(4).toString('hex');
const CONTAINER = `it-store-${suffix}`;
const D_SECONDS = 15;

let service: BlobServiceClient;
let container: ContainerClient;
let store: AzureBlobLeaseStore;

/** A signal that never aborts (the elector always passes one). */
function live(): AbortSignal {
  return new AbortController().signal;
}

let leaseCounter = 0;
function leaseName(label: string): string {
  leaseCounter += 1;
  return `${label}-${leaseCounter}-${randomUUID().slice(0, 8)}`;
}

async function downloadText(containerClient: ContainerClient, blobName: string): Promise<string> {
  const buffer = await containerClient.getBlobClient(blobName).downloadToBuffer();
  return buffer.toString('utf8');
}

beforeAll(() => {
  expect(connectionString).toBeTruthy();
  expect(port).toBeGreaterThan(0);
  service = BlobServiceClient.fromConnectionString(connectionString);
  container = service.getContainerClient(CONTAINER);
  store = new AzureBlobLeaseStore({ connectionString, containerName: CONTAINER });
});

describe('AzureBlobLeaseStore on Azurite: creating what is missing', () => {
  it('creates the container and the blob on the first acquire when both are missing', async () => {
    const name = `it-create-${suffix}`;
    const fresh = service.getContainerClient(name);
    expect(await fresh.exists()).toBe(false);
    const freshStore = new AzureBlobLeaseStore({ connectionString, containerName: name });
    const lease = leaseName('create');
    const leaseId = randomUUID();

    const result = await freshStore.acquire(
      { leaseName: lease, leaseId, identity: 'a', durationSeconds: D_SECONDS },
      live(),
    );

    expect(result).toMatchObject({ acquired: true, term: 1 });
    expect(await fresh.exists()).toBe(true);
    const properties = await fresh.getBlobClient(lease).getProperties();
    expect(properties.leaseState).toBe('leased');
    expect(properties.leaseStatus).toBe('locked');
    expect(properties.contentLength).toBe(0);
    await freshStore.release(lease, leaseId, live());
    await fresh.delete();
  });

  it('never overwrites an existing blob: its content and other metadata survive an acquire', async () => {
    // Make sure the container exists, then put a blob with content and metadata where the lease goes.
    await container.createIfNotExists();
    const lease = leaseName('existing');
    const content = 'precious content, not a lease placeholder';
    await container
      .getBlockBlobClient(lease)
      .upload(content, Buffer.byteLength(content), { metadata: { owner: 'someone-else' } });
    // A store that has never seen this blob (nothing cached), so it goes through its create path.
    const freshStore = new AzureBlobLeaseStore({ connectionString, containerName: CONTAINER });
    const leaseId = randomUUID();

    const result = await freshStore.acquire(
      { leaseName: lease, leaseId, identity: 'a', durationSeconds: D_SECONDS },
      live(),
    );

    expect(result).toMatchObject({ acquired: true, term: 1 });
    expect(await downloadText(container, lease)).toBe(content);
    const properties = await container.getBlobClient(lease).getProperties();
    expect(properties.contentLength).toBe(Buffer.byteLength(content));
    expect(properties.metadata).toMatchObject({ owner: 'someone-else', [METADATA.term]: '1' });
    await freshStore.release(lease, leaseId, live());
  });

  it('does not overwrite a blob that another store instance holds a lease on', async () => {
    const lease = leaseName('held-elsewhere');
    const first = randomUUID();
    expect(
      await store.acquire(
        { leaseName: lease, leaseId: first, identity: 'a', durationSeconds: D_SECONDS },
        live(),
      ),
    ).toMatchObject({ acquired: true, term: 1 });
    const other = new AzureBlobLeaseStore({ connectionString, containerName: CONTAINER });
    const result = await other.acquire(
      { leaseName: lease, leaseId: randomUUID(), identity: 'b', durationSeconds: D_SECONDS },
      live(),
    );
    expect(result.acquired).toBe(false);
    const observation = await store.observe(lease, live());
    expect(observation).toMatchObject({ held: true, holder: 'a', term: 1 });
    await store.release(lease, first, live());
  });
});

describe('AzureBlobLeaseStore on Azurite: acquire, terms and metadata', () => {
  it('starts at term 1, and a new holder after a release gets term 2; leader, term and acquiredat are in metadata', async () => {
    const lease = leaseName('terms');
    const idA = randomUUID();
    const idB = randomUUID();
    const before = Date.now();

    const first = await store.acquire(
      { leaseName: lease, leaseId: idA, identity: 'replica-a', durationSeconds: D_SECONDS },
      live(),
    );
    expect(first).toMatchObject({ acquired: true, term: 1 });
    const metadataA = (await container.getBlobClient(lease).getProperties()).metadata ?? {};
    expect(metadataA[METADATA.leader]).toBe('replica-a');
    expect(metadataA[METADATA.term]).toBe('1');
    const acquiredAtA = Date.parse(metadataA[METADATA.acquiredAt] ?? '');
    expect(acquiredAtA).toBeGreaterThanOrEqual(before - 1000);
    expect(acquiredAtA).toBeLessThanOrEqual(Date.now() + 1000);

    await store.release(lease, idA, live());
    expect(await store.observe(lease, live())).toMatchObject({ held: false, term: 1, holder: 'replica-a' });

    const second = await store.acquire(
      { leaseName: lease, leaseId: idB, identity: 'replica-b', durationSeconds: D_SECONDS },
      live(),
    );
    expect(second).toMatchObject({ acquired: true, term: 2 });
    const metadataB = (await container.getBlobClient(lease).getProperties()).metadata ?? {};
    expect(metadataB[METADATA.leader]).toBe('replica-b');
    expect(metadataB[METADATA.term]).toBe('2');
    expect(Date.parse(metadataB[METADATA.acquiredAt] ?? '')).toBeGreaterThanOrEqual(acquiredAtA);

    const observation = await store.observe(lease, live());
    expect(observation).toMatchObject({ held: true, holder: 'replica-b', term: 2 });
    expect(observation.acquiredAt).toBe(Date.parse(metadataB[METADATA.acquiredAt]!));
    await store.release(lease, idB, live());
  });

  it('URL-encodes the identity in metadata and round-trips spaces and unicode through observe()', async () => {
    const lease = leaseName('identity');
    const identity = 'pod 7 — Zürich/東京 ✓ 100%';
    const leaseId = randomUUID();
    expect(
      await store.acquire({ leaseName: lease, leaseId, identity, durationSeconds: D_SECONDS }, live()),
    ).toMatchObject({ acquired: true });

    const metadata = (await container.getBlobClient(lease).getProperties()).metadata ?? {};
    expect(metadata[METADATA.leader]).toBe(encodeURIComponent(identity));
    expect(metadata[METADATA.leader]).toMatch(/^[\x21-\x7e]+$/); // printable ASCII only: valid in an HTTP header
    expect((await store.observe(lease, live())).holder).toBe(identity);
    await store.release(lease, leaseId, live());
  });

  it('answers { acquired: false } to a second candidate while the lease is held; observe() shows holder and term', async () => {
    const lease = leaseName('contended');
    const idA = randomUUID();
    expect(
      await store.acquire(
        { leaseName: lease, leaseId: idA, identity: 'a', durationSeconds: D_SECONDS },
        live(),
      ),
    ).toMatchObject({ acquired: true, term: 1 });

    const result = await store.acquire(
      { leaseName: lease, leaseId: randomUUID(), identity: 'b', durationSeconds: D_SECONDS },
      live(),
    );
    expect(result.acquired).toBe(false);
    if (!result.acquired) expect(result.observation.held).toBe(true);

    const observation = await store.observe(lease, live());
    expect(observation).toMatchObject({ held: true, holder: 'a', term: 1 });
    // The loser wrote nothing.
    const metadata = (await container.getBlobClient(lease).getProperties()).metadata ?? {};
    expect(metadata[METADATA.leader]).toBe('a');
    await store.release(lease, idA, live());
  });

  it('acquire with the same proposed lease id while holding succeeds again (idempotent) and increments the term', async () => {
    const lease = leaseName('idempotent');
    const leaseId = randomUUID();
    const request = { leaseName: lease, leaseId, identity: 'a', durationSeconds: D_SECONDS };
    expect(await store.acquire(request, live())).toMatchObject({ acquired: true, term: 1 });
    expect(await store.acquire(request, live())).toMatchObject({ acquired: true, term: 2 });
    expect(await store.acquire(request, live())).toMatchObject({ acquired: true, term: 3 });
    expect(await store.observe(lease, live())).toMatchObject({ held: true, holder: 'a', term: 3 });
    // Still ours: renew works with the same id.
    await expect(store.renew(lease, leaseId, live())).resolves.toBeUndefined();
    await store.release(lease, leaseId, live());
  });
});

describe('AzureBlobLeaseStore on Azurite: acquire conditional on the record observed (ifMatch)', () => {
  const request = (lease: string, identity: string, ifMatch?: string) => ({
    leaseName: lease,
    leaseId: randomUUID(),
    identity,
    durationSeconds: D_SECONDS,
    ...(ifMatch !== undefined ? { ifMatch } : {}),
  });

  it('a stale observation takes nothing: acquired false with a fresh observation; the fresh ETag acquires', async () => {
    const lease = leaseName('if-match');
    const first = request(lease, 'a');
    await store.acquire(first, live());
    await store.release(lease, first.leaseId, live());
    const seen = await store.observe(lease, live());
    expect(seen).toMatchObject({ held: false, term: 1, etag: expect.stringMatching(/^".+"$/) });
    // While that observation is on its way, b leads (term 2) and hands the lease over to c.
    const b = request(lease, 'b');
    await store.acquire(b, live());
    await store.release(lease, b.leaseId, live(), { successor: 'c' });

    const stale = await store.acquire(request(lease, 'x', seen.etag), live());
    const now = await store.observe(lease, live());
    expect(stale).toEqual({ acquired: false, observation: now });
    expect(now).toMatchObject({ held: false, holder: 'b', term: 2, successor: 'c' });
    expect(now.etag).not.toBe(seen.etag);

    expect(await store.acquire(request(lease, 'c', now.etag), live())).toMatchObject({
      acquired: true,
      term: 3,
    });
  });

  it('renewals and a plain release keep the ETag: an observation of the freed lease still acquires', async () => {
    const lease = leaseName('if-match-renew');
    const a = request(lease, 'a');
    await store.acquire(a, live());
    const held = await store.observe(lease, live());
    await store.renew(lease, a.leaseId, live());
    await store.release(lease, a.leaseId, live());
    const free = await store.observe(lease, live());
    expect(free.etag).toBe(held.etag);
    expect(await store.acquire(request(lease, 'b', held.etag), live())).toMatchObject({
      acquired: true,
      term: 2,
    });
  });

  it('a blob observed missing: the acquire creates it; if someone else created it since, nothing is taken', async () => {
    await container.createIfNotExists();
    const lease = leaseName('if-match-absent');
    const missing = await store.observe(lease, live());
    expect(missing.etag).toBe(ABSENT_RECORD_ETAG);
    expect(await store.acquire(request(lease, 'a', missing.etag), live())).toMatchObject({
      acquired: true,
      term: 1,
    });

    const other = leaseName('if-match-absent-raced');
    const seen = await store.observe(other, live());
    const b = request(other, 'b');
    await store.acquire(b, live()); // b creates the blob and leads
    await store.release(other, b.leaseId, live(), { successor: 'c' });
    const refused = await store.acquire(request(other, 'x', seen.etag), live());
    expect(refused).toMatchObject({ acquired: false, observation: { held: false, term: 1, successor: 'c' } });
  });

  it('the observed blob was deleted: nothing is taken (no blob is created), the fresh observation shows it missing', async () => {
    const lease = leaseName('if-match-deleted');
    const a = request(lease, 'a');
    await store.acquire(a, live());
    await store.release(lease, a.leaseId, live());
    const seen = await store.observe(lease, live());
    await container.getBlobClient(lease).delete();
    expect(await store.acquire(request(lease, 'x', seen.etag), live())).toEqual({
      acquired: false,
      observation: { held: false, term: 0, etag: ABSENT_RECORD_ETAG },
    });
    expect(await container.getBlobClient(lease).exists()).toBe(false);
  });
});

describe('AzureBlobLeaseStore on Azurite: terms survive a lost record', () => {
  it('writes a term above minimumTerm when the blob was deleted (the recorded term is gone)', async () => {
    const lease = leaseName('recreated');
    const first = randomUUID();
    expect(
      await store.acquire(
        { leaseName: lease, leaseId: first, identity: 'a', durationSeconds: D_SECONDS },
        live(),
      ),
    ).toMatchObject({ acquired: true, term: 1 });
    await store.release(lease, first, live());
    await store.container.getBlobClient(lease).delete();
    const again = await store.acquire(
      { leaseName: lease, leaseId: randomUUID(), identity: 'b', durationSeconds: D_SECONDS, minimumTerm: 41 },
      live(),
    );
    expect(again).toMatchObject({ acquired: true, term: 42 });
    expect((await store.observe(lease, live())).term).toBe(42);
  });

  it('reports the term recorded before each acquisition, so the elector can notice a lost record at acquisition', async () => {
    const lease = leaseName('previous');
    const id = randomUUID();
    expect(
      await store.acquire(
        { leaseName: lease, leaseId: id, identity: 'a', durationSeconds: D_SECONDS },
        live(),
      ),
    ).toEqual({ acquired: true, term: 1, previousTerm: 0 });
    expect(
      await store.acquire(
        { leaseName: lease, leaseId: id, identity: 'a', durationSeconds: D_SECONDS },
        live(),
      ),
    ).toEqual({ acquired: true, term: 2, previousTerm: 1 });
    await store.container.getBlobClient(lease).delete({ conditions: { leaseId: id } });
    expect(
      await store.acquire(
        { leaseName: lease, leaseId: id, identity: 'a', durationSeconds: D_SECONDS, minimumTerm: 2 },
        live(),
      ),
    ).toEqual({ acquired: true, term: 3, previousTerm: 0 });
  });

  it('a renewal of a deleted blob throws LeaseRecordLostError (record gone), not a plain loss', async () => {
    const lease = leaseName('record-gone');
    const id = randomUUID();
    await store.acquire({ leaseName: lease, leaseId: id, identity: 'a', durationSeconds: D_SECONDS }, live());
    await store.container.getBlobClient(lease).delete({ conditions: { leaseId: id } });
    const error = await store.renew(lease, id, live()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LeaseRecordLostError);
    expect((error as LeaseRecordLostError).kind).toBe('lost');
    expect((error as LeaseRecordLostError).statusCode).toBe(404);
    // Taken by someone else is a plain loss, not a lost record.
    const other = leaseName('taken');
    await store.acquire(
      { leaseName: other, leaseId: randomUUID(), identity: 'b', durationSeconds: D_SECONDS },
      live(),
    );
    const taken = await store.renew(other, randomUUID(), live()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(taken).toBeInstanceOf(LeaseLostError);
    expect(taken).not.toBeInstanceOf(LeaseRecordLostError);
  });

  it('writes recoveredTerm when the pre-loss holder re-acquires, and the next ordinary acquisition clears it', async () => {
    const lease = leaseName('recovered');
    const id = randomUUID();
    await store.acquire(
      {
        leaseName: lease,
        leaseId: id,
        identity: 'a',
        durationSeconds: D_SECONDS,
        minimumTerm: 6,
        recoveredTerm: 6,
      },
      live(),
    );
    expect(await store.observe(lease, live())).toMatchObject({
      held: true,
      holder: 'a',
      term: 7,
      recoveredTerm: 6,
    });
    await store.release(lease, id, live());
    expect(await store.observe(lease, live())).toMatchObject({ held: false, term: 7, recoveredTerm: 6 });
    await store.acquire(
      { leaseName: lease, leaseId: randomUUID(), identity: 'b', durationSeconds: D_SECONDS },
      live(),
    );
    const observed = await store.observe(lease, live());
    expect(observed).toMatchObject({ held: true, holder: 'b', term: 8 });
    expect(observed.recoveredTerm).toBeUndefined();
  });
});

describe('AzureBlobLeaseStore: a container Azure is still deleting', () => {
  // Azure keeps a deleted container "being deleted" for 30 s or more: Create Container answers 409
  // ContainerBeingDeleted and blob calls 404. Azurite deletes at once, so a proxy in front of it
  // answers Create Container that way while `deleting` is set.
  let proxy: HttpServer;
  let deleting = 0;
  let proxyConnectionString = '';

  beforeAll(async () => {
    proxy = createHttpServer((request, response) => {
      if (deleting > 0 && request.method === 'PUT' && /[?&]restype=container(&|$)/.test(request.url ?? '')) {
        deleting -= 1;
        request.resume();
        response.writeHead(409, {
          'x-ms-error-code': 'ContainerBeingDeleted',
          'content-type': 'application/xml',
        });
        response.end(
          '<?xml version="1.0" encoding="utf-8"?><Error><Code>ContainerBeingDeleted</Code><Message>The specified container is being deleted.</Message></Error>',
        );
        return;
      }
      const upstream = httpRequest(
        { host: '127.0.0.1', port, method: request.method, path: request.url, headers: request.headers },
        (answer) => {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
        },
      );
      upstream.on('error', () => response.destroy());
      request.pipe(upstream);
    });
    proxy.listen(0, '127.0.0.1');
    await once(proxy, 'listening');
    const address = proxy.address();
    proxyConnectionString = azuriteConnectionString(
      typeof address === 'object' && address ? address.port : 0,
    );
  });

  afterAll(async () => {
    proxy.closeAllConnections();
    await new Promise((resolve) => proxy.close(resolve));
  });

  it('keeps retrying (transient) while the container is being deleted, then creates it and leads again', async () => {
    const name = `it-deleting-${suffix}`;
    const viaProxy = new AzureBlobLeaseStore({
      connectionString: proxyConnectionString,
      containerName: name,
    });
    const lease = leaseName('deleting');
    const id = randomUUID();
    expect(
      await viaProxy.acquire(
        { leaseName: lease, leaseId: id, identity: 'a', durationSeconds: D_SECONDS },
        live(),
      ),
    ).toMatchObject({ acquired: true, term: 1 });
    await service.getContainerClient(name).delete();
    deleting = 3;
    const kinds: string[] = [];
    let result: AcquireResult | undefined;
    for (let attempt = 0; attempt < 6 && !result; attempt++) {
      try {
        result = await viaProxy.acquire(
          { leaseName: lease, leaseId: id, identity: 'a', durationSeconds: D_SECONDS, minimumTerm: 1 },
          live(),
        );
      } catch (error) {
        kinds.push((error as LeaseStoreError).kind);
      }
    }
    // Before the fix: the 409 counted as "exists", the 404s that followed were permanent, and the
    // container was never created again.
    expect(kinds.length).toBeGreaterThan(0);
    expect(new Set(kinds)).toEqual(new Set(['transient']));
    expect(deleting).toBe(0);
    expect(result).toMatchObject({ acquired: true, term: 2 });
    expect(await service.getContainerClient(name).exists()).toBe(true);
  });
});

describe('AzureBlobLeaseStore on Azurite: renew and release', () => {
  it('renews with the right lease id; a wrong lease id throws LeaseLostError (kind "lost")', async () => {
    const lease = leaseName('renew');
    const leaseId = randomUUID();
    await store.acquire({ leaseName: lease, leaseId, identity: 'a', durationSeconds: D_SECONDS }, live());
    await expect(store.renew(lease, leaseId, live())).resolves.toBeUndefined();

    const error = await store.renew(lease, randomUUID(), live()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LeaseLostError);
    expect((error as LeaseStoreError).kind).toBe('lost');
    expect((error as LeaseStoreError).statusCode).toBe(409);
    expect((error as LeaseStoreError).code).toBe('LeaseIdMismatchWithLeaseOperation');
    // The holder is unaffected.
    expect(await store.observe(lease, live())).toMatchObject({ held: true, holder: 'a' });
    await store.release(lease, leaseId, live());
  });

  it('renew after the lease was released throws LeaseLostError', async () => {
    const lease = leaseName('renew-released');
    const leaseId = randomUUID();
    await store.acquire({ leaseName: lease, leaseId, identity: 'a', durationSeconds: D_SECONDS }, live());
    await store.release(lease, leaseId, live());
    await expect(store.renew(lease, leaseId, live())).rejects.toBeInstanceOf(LeaseLostError);
  });

  it('release twice resolves (the second gets 409 on the server); release with a wrong id resolves and leaves the lease alone', async () => {
    const lease = leaseName('release');
    const leaseId = randomUUID();
    await store.acquire({ leaseName: lease, leaseId, identity: 'a', durationSeconds: D_SECONDS }, live());

    await expect(store.release(lease, randomUUID(), live())).resolves.toBeUndefined();
    expect((await store.observe(lease, live())).held).toBe(true); // a wrong id released nothing

    await expect(store.release(lease, leaseId, live())).resolves.toBeUndefined();
    expect((await store.observe(lease, live())).held).toBe(false);

    // Prove the server really answers 409 to the second release, so the test covers the 409 path.
    const raw = await container
      .getBlobClient(lease)
      .getBlobLeaseClient(leaseId)
      .releaseLease()
      .then(
        () => undefined,
        (e: unknown) => e as { statusCode?: number },
      );
    expect(raw?.statusCode).toBe(409);
    await expect(store.release(lease, leaseId, live())).resolves.toBeUndefined();

    // A release on a lease that never existed resolves too.
    await expect(store.release(leaseName('never'), leaseId, live())).resolves.toBeUndefined();
  });
});

describe('AzureBlobLeaseStore on Azurite: observe', () => {
  it('returns { held: false, term: 0 } for a missing blob', async () => {
    await container.createIfNotExists();
    expect(await store.observe(leaseName('missing'), live())).toEqual({
      held: false,
      term: 0,
      etag: ABSENT_RECORD_ETAG,
    });
  });

  it('returns { held: false, term: 0 } for a missing container', async () => {
    const missing = new AzureBlobLeaseStore({ connectionString, containerName: `it-none-${suffix}` });
    expect(await service.getContainerClient(`it-none-${suffix}`).exists()).toBe(false);
    expect(await missing.observe(leaseName('missing'), live())).toEqual({
      held: false,
      term: 0,
      etag: ABSENT_RECORD_ETAG,
    });
  });
});

describe('AzureBlobLeaseStore on Azurite: configuration errors', () => {
  // A different, well-formed base64 key: Azurite rejects every signature made with it.
  const wrongKey = randomBytes(64).toString('base64');
  const badConnectionString = azuriteConnectionString(port, '127.0.0.1', wrongKey);
  const secrets = [wrongKey, AZURITE_KEY, badConnectionString, connectionString];

  function expectNoSecret(text: string): void {
    for (const secret of secrets) expect(text).not.toContain(secret);
    // Fragments too: a truncated key is still a leak.
    expect(text).not.toContain(wrongKey.slice(0, 16));
    expect(text).not.toContain(AZURITE_KEY.slice(0, 16));
  }

  it('a wrong account key gives a PermanentStoreError whose message, String() and JSON hold no secret', async () => {
    const badStore = new AzureBlobLeaseStore({
      connectionString: badConnectionString,
      containerName: CONTAINER,
    });
    expectNoSecret(badStore.description);

    for (const attempt of [
      () =>
        badStore.acquire(
          {
            leaseName: leaseName('badkey'),
            leaseId: randomUUID(),
            identity: 'a',
            durationSeconds: D_SECONDS,
          },
          live(),
        ),
      () => badStore.observe(leaseName('badkey'), live()),
      () => badStore.renew(leaseName('badkey'), randomUUID(), live()),
    ]) {
      const error = await attempt().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(PermanentStoreError);
      const storeError = error as PermanentStoreError;
      expect(storeError.kind).toBe('permanent');
      expect(storeError.statusCode).toBe(403);
      expectNoSecret(storeError.message);
      expectNoSecret(String(storeError));
      expectNoSecret(JSON.stringify(storeError));
      expectNoSecret(storeError.stack ?? '');
    }
  });

  it('an elector with a wrong account key stays a follower with lastError.kind "permanent" and logs no secret', async () => {
    const badStore = new AzureBlobLeaseStore({
      connectionString: badConnectionString,
      containerName: CONTAINER,
    });
    const logger = new RecordingLogger();
    const elector = new LeaderElector(
      badStore,
      { leaseName: leaseName('badkey-elector'), identity: 'a', retryIntervalMs: 200 },
      { logger },
    );
    try {
      await elector.start();
      expect(elector.isLeader()).toBe(false);
      expect(elector.state.role).toBe('follower');
      expect(elector.state.lastError?.kind).toBe('permanent');
      expect(elector.state.consecutiveFailures).toBeGreaterThanOrEqual(1);
      expectNoSecret(JSON.stringify(elector.state));
      expect(logger.lines.some((line) => line.level === 'error')).toBe(true);
      expectNoSecret(logger.text());
    } finally {
      await elector.stop();
    }
    expectNoSecret(logger.text());
  });

  it('rejects an invalid container name at construction, naming containerName', () => {
    for (const containerName of ['Bad_Name', 'ab', '-leading', 'double--hyphen', 'UPPER']) {
      let error: unknown;
      try {
        new AzureBlobLeaseStore({ connectionString, containerName });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(InvalidElectionOptionError);
      expect((error as Error).message).toContain('containerName');
      expect((error as Error).message).toContain(JSON.stringify(containerName));
      expectNoSecret((error as Error).message);
    }
  });
});

describe('AzureBlobLeaseStore on Azurite: restricted credentials and createIfMissing: false', () => {
  function containerSasConnectionString(containerName: string): { connectionString: string; sas: string } {
    const sas = generateBlobSASQueryParameters(
      {
        containerName,
        permissions: ContainerSASPermissions.parse('racwd'),
        expiresOn: new Date(Date.now() + 3_600_000),
      },
      new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
    ).toString();
    return {
      connectionString: `BlobEndpoint=http://127.0.0.1:${port}/${AZURITE_ACCOUNT};SharedAccessSignature=${sas}`,
      sas,
    };
  }

  it('leads with a container SAS (which may not create containers) in an existing container', async () => {
    const containerName = `it-sas-${suffix}`;
    await service.getContainerClient(containerName).createIfNotExists();
    const { connectionString: sasConnectionString } = containerSasConnectionString(containerName);
    // The premise: with this SAS, Create Container is refused with 403.
    const refused = await BlobServiceClient.fromConnectionString(sasConnectionString)
      .getContainerClient(containerName)
      .create()
      .then(
        () => undefined,
        (e: { statusCode?: number }) => e.statusCode,
      );
    expect(refused).toBe(403);

    const sasStore = new AzureBlobLeaseStore({ connectionString: sasConnectionString, containerName });
    const name = leaseName('sas');
    const leaseId = randomUUID();
    const result = await sasStore.acquire(
      { leaseName: name, leaseId, identity: 'a', durationSeconds: D_SECONDS },
      live(),
    );
    expect(result).toMatchObject({ acquired: true, term: 1 });
    await sasStore.renew(name, leaseId, live());
    expect(await sasStore.observe(name, live())).toMatchObject({ held: true, holder: 'a', term: 1 });
    await sasStore.release(name, leaseId, live());
    expect(await sasStore.observe(name, live())).toMatchObject({ held: false });
  });

  it('with a container SAS for a container that does not exist: a permanent error without the SAS', async () => {
    const { connectionString: sasConnectionString, sas } = containerSasConnectionString(
      `it-nosuch-${suffix}`,
    );
    const sasStore = new AzureBlobLeaseStore({
      connectionString: sasConnectionString,
      containerName: `it-nosuch-${suffix}`,
    });
    const error = await sasStore
      .acquire(
        {
          leaseName: leaseName('sas-missing'),
          leaseId: randomUUID(),
          identity: 'a',
          durationSeconds: D_SECONDS,
        },
        live(),
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(PermanentStoreError);
    expect((error as Error).message).toMatch(/ContainerNotFound/);
    expect((error as Error).message).not.toContain(sas);
    expect((error as Error).message).not.toMatch(/sig=/);
  });

  it('createIfMissing: false and a missing blob is a permanent error that names createIfMissing (not retried quietly)', async () => {
    await container.createIfNotExists();
    const strict = new AzureBlobLeaseStore({
      connectionString,
      containerName: CONTAINER,
      createIfMissing: false,
    });
    const error = await strict
      .acquire(
        { leaseName: leaseName('strict'), leaseId: randomUUID(), identity: 'a', durationSeconds: D_SECONDS },
        live(),
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(PermanentStoreError);
    expect((error as PermanentStoreError).statusCode).toBe(404);
    expect((error as Error).message).toMatch(/createIfMissing is false/);
  });
});

describe('AzureBlobLeaseStore: abort signals', () => {
  // A TCP server that accepts connections and never answers: without the abort, a request would
  // hang until the SDK's 30 s try timeout.
  let blackHole: Server;
  const sockets = new Set<Socket>();
  let blackHolePort = 0;

  beforeAll(async () => {
    blackHole = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    });
    blackHole.listen(0, '127.0.0.1');
    await once(blackHole, 'listening');
    const address = blackHole.address();
    blackHolePort = typeof address === 'object' && address ? address.port : 0;
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    blackHole.close();
    await once(blackHole, 'close');
  });

  it('a request to a server that never answers rejects promptly when its signal aborts', async () => {
    const hungStore = new AzureBlobLeaseStore({
      connectionString: azuriteConnectionString(blackHolePort),
      containerName: CONTAINER,
    });
    for (const call of [
      (signal: AbortSignal) => hungStore.observe('abort-observe', signal),
      (signal: AbortSignal) =>
        hungStore.acquire(
          { leaseName: 'abort-acquire', leaseId: randomUUID(), identity: 'a', durationSeconds: D_SECONDS },
          signal,
        ),
      (signal: AbortSignal) => hungStore.renew('abort-renew', randomUUID(), signal),
      (signal: AbortSignal) => hungStore.release('abort-release', randomUUID(), signal),
    ]) {
      const controller = new AbortController();
      const started = performance.now();
      const pending = call(controller.signal).then(
        () => ({ settled: 'resolved' as const, at: performance.now() }),
        (error: unknown) => ({ settled: 'rejected' as const, error, at: performance.now() }),
      );
      // Let the request reach the black hole, then abort.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const abortedAt = performance.now();
      controller.abort();
      const outcome = await pending;
      expect(outcome.settled).toBe('rejected');
      expect(outcome.at - started).toBeGreaterThanOrEqual(250); // it really was hanging
      expect(outcome.at - abortedAt).toBeLessThan(3_000); // generous; the SDK timeout would be 30 s
      if (outcome.settled === 'rejected') {
        expect(outcome.error).toBeInstanceOf(LeaseStoreError);
        expect((outcome.error as LeaseStoreError).kind).toBe('transient');
      }
    }
  }, 30_000);

  it('sends each call once: the SDK does not retry a 503 behind the elector (it does its own retrying within the deadline)', async () => {
    // DESIGN.md: SDK-level retries are off. With the SDK default (4 tries, exponential backoff) one
    // renewal could silently spend seconds of the remaining lease time on retries.
    let requests = 0;
    const unavailable = createServer((socket) => {
      socket.on('error', () => undefined);
      socket.on('data', (chunk) => {
        requests += (chunk.toString('latin1').match(/^(GET|HEAD|PUT|DELETE) /gm) ?? []).length;
        socket.write('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        socket.end();
      });
    });
    unavailable.listen(0, '127.0.0.1');
    await once(unavailable, 'listening');
    try {
      const address = unavailable.address();
      const busyStore = new AzureBlobLeaseStore({
        connectionString: azuriteConnectionString(typeof address === 'object' && address ? address.port : 0),
        containerName: CONTAINER,
      });
      for (const call of [
        () => busyStore.observe('busy-observe', live()),
        () => busyStore.renew('busy-renew', randomUUID(), live()),
      ]) {
        const before = requests;
        const error = await call().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(LeaseStoreError);
        expect((error as LeaseStoreError).kind).toBe('transient');
        expect((error as LeaseStoreError).statusCode).toBe(503);
        expect(requests - before).toBe(1);
      }
    } finally {
      unavailable.close();
    }
  });

  it('a request against Azurite with an already-aborted signal rejects without touching the lease', async () => {
    const lease = leaseName('pre-aborted');
    const controller = new AbortController();
    controller.abort();
    await expect(
      store.acquire(
        { leaseName: lease, leaseId: randomUUID(), identity: 'a', durationSeconds: D_SECONDS },
        controller.signal,
      ),
    ).rejects.toBeInstanceOf(LeaseStoreError);
    expect(await store.observe(lease, live())).toMatchObject({ held: false });
  });
});

afterAll(async () => {
  await container.deleteIfExists();
});
