import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import { TransientStoreError } from '../../lib/core/lease-store.js';
import { AzureBlobLeaseStore } from '../../lib/stores/azure-blob/azure-blob-lease-store.js';

// A keep-alive socket that the server closed while the client sat idle (or was blocked, or paused)
// fails its next request with ECONNRESET "socket hang up". Seen after every long event-loop block
// (docs/BENCHMARKS.md §5, finding 5) and in the chaos runs as a follower-poll WARN. Get Properties
// only reads, so the store retries it at once, up to 4 attempts. A scripted endpoint drops chosen connections.

let server: Server | undefined;
afterEach(() => {
  server?.closeAllConnections();
  server?.close();
  server = undefined;
});

async function endpoint(
  drop: (n: number) => boolean,
): Promise<{ store: AzureBlobLeaseStore; requests: () => number }> {
  let n = 0;
  server = createServer((req, res) => {
    const index = n++;
    req.resume();
    if (drop(index)) {
      req.socket.destroy(); // the client sees ECONNRESET / socket hang up
      return;
    }
    res.writeHead(200, {
      'x-ms-lease-state': 'leased',
      'x-ms-lease-status': 'locked',
      'x-ms-meta-term': '7',
      'x-ms-meta-leader': 'replica-a',
      'x-ms-request-id': `r${index}`,
      'x-ms-version': '2025-01-05',
      'content-length': '0',
    });
    res.end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const store = new AzureBlobLeaseStore({
    connectionString: `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5LWtleS1rZXk=;BlobEndpoint=http://127.0.0.1:${port}/devstoreaccount1;`,
    containerName: 'locks',
  });
  return { store, requests: () => n };
}

describe('AzureBlobLeaseStore: a connection broken under a poll', () => {
  it('observe retries at once on a fresh connection and returns the answer (no transient error), also past several broken ones', async () => {
    const { store, requests } = await endpoint((n) => n < 3);
    await expect(store.observe('jobs', new AbortController().signal)).resolves.toMatchObject({
      held: true,
      term: 7,
    });
    expect(requests()).toBe(4);
  });

  it('a bounded number of times (4 attempts): a connection that keeps breaking is a transient error, as before', async () => {
    const { store, requests } = await endpoint(() => true);
    await expect(store.observe('jobs', new AbortController().signal)).rejects.toBeInstanceOf(
      TransientStoreError,
    );
    expect(requests()).toBe(4);
  });

  it('an aborted poll is not retried', async () => {
    const controller = new AbortController();
    const { store, requests } = await endpoint((n) => {
      controller.abort();
      return n === 0;
    });
    await expect(store.observe('jobs', controller.signal)).rejects.toBeDefined();
    expect(requests()).toBe(1);
  });
});
