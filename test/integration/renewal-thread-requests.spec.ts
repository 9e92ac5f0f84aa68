import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { systemClock } from '../../lib/core/clock.js';
import type { DelegatedLease, DelegatedRenewal } from '../../lib/core/renewal-delegate.js';
import { RenewalThread } from '../../lib/renewal/renewal-thread.js';

// Issue 11: what the renewal thread sends and how it reads the answers, against a scripted Blob
// endpoint on loopback (Azurite cannot hang a request or answer 412/500 on demand). The thread is a
// real worker with the real SDK; only the server is scripted. Waits are event-driven: a broken bound
// shows up as a test timeout (the request timeouts below are far longer than the test's).

jest.setTimeout(30_000);

type Answer = 'ok' | 'hang' | 404 | 409 | 412 | 500;
const ERROR_CODES: Record<number, string> = {
  404: 'BlobNotFound',
  409: 'LeaseIdMismatchWithLeaseOperation',
  412: 'LeaseLost',
  500: 'InternalError',
};

interface Seen {
  action: string | undefined;
  leaseId: string | undefined;
  receivedAt: number;
  closedEarly: Promise<number>;
}

let server: Server | undefined;
let thread: RenewalThread | undefined;
const endpointThreads: Worker[] = [];
afterEach(async () => {
  await thread?.close();
  for (const worker of endpointThreads.splice(0)) await worker.terminate();
  server?.closeAllConnections();
  server?.close();
  thread = undefined;
  server = undefined;
});

/** A Blob endpoint whose n-th lease request gets script(n); returns what it saw. */
async function scriptedEndpoint(
  script: (n: number) => Answer,
): Promise<{ connectionString: string; seen: Seen[]; next(): Promise<Seen> }> {
  const seen: Seen[] = [];
  const waiting: Array<(s: Seen) => void> = [];
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const receivedAt = systemClock.now();
    const answer = script(seen.length);
    const closedEarly = new Promise<number>((resolve) =>
      res.on('close', () => !res.writableFinished && resolve(systemClock.now())),
    );
    const entry: Seen = {
      action: req.headers['x-ms-lease-action'] as string | undefined,
      leaseId: req.headers['x-ms-lease-id'] as string | undefined,
      receivedAt,
      closedEarly,
    };
    seen.push(entry);
    waiting.shift()?.(entry);
    req.resume();
    if (answer === 'hang') return;
    const headers = {
      'x-ms-request-id': `r${seen.length}`,
      'x-ms-version': '2025-01-05',
      date: new Date().toUTCString(),
    };
    if (answer === 'ok') {
      res.writeHead(200, {
        ...headers,
        etag: '"0x1"',
        'last-modified': new Date().toUTCString(),
        'x-ms-lease-id': entry.leaseId ?? '',
      });
      res.end();
      return;
    }
    const code = ERROR_CODES[answer]!;
    res.writeHead(answer, { ...headers, 'x-ms-error-code': code, 'content-type': 'application/xml' });
    res.end(
      `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>scripted</Message></Error>`,
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    connectionString: `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5LWtleS1rZXk=;BlobEndpoint=http://127.0.0.1:${port}/devstoreaccount1;`,
    seen,
    next: () => new Promise<Seen>((resolve) => waiting.push(resolve)),
  };
}

/** A Blob endpoint in a thread of its own answering every request with `status` (the main thread may block). */
async function endpointInThread(status: 200 | 409 | 412): Promise<{ connectionString: string }> {
  const code = status === 200 ? '' : ERROR_CODES[status]!;
  const source = `
    const { parentPort } = require('node:worker_threads');
    const server = require('node:http').createServer((req, res) => {
      req.resume();
      const headers = { 'x-ms-request-id': 'r', 'x-ms-version': '2025-01-05', date: new Date().toUTCString() };
      if (${status} === 200) {
        res.writeHead(200, { ...headers, etag: '"0x1"', 'last-modified': new Date().toUTCString(),
          'x-ms-lease-id': req.headers['x-ms-lease-id'] ?? '' });
        return res.end();
      }
      res.writeHead(${status}, { ...headers, 'x-ms-error-code': '${code}', 'content-type': 'application/xml' });
      res.end('<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>scripted</Message></Error>');
    });
    server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
  `;
  const worker = new Worker(source, { eval: true });
  endpointThreads.push(worker);
  const [port] = (await once(worker, 'message')) as [number];
  return {
    connectionString: `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5LWtleS1rZXk=;BlobEndpoint=http://127.0.0.1:${port}/devstoreaccount1;`,
  };
}

async function startRenewing(
  connectionString: string,
  timing: Partial<DelegatedLease>,
): Promise<{ renewal: DelegatedRenewal; lease: DelegatedLease }> {
  thread = new RenewalThread({ connectionString, containerName: 'locks', maxBlockedMs: 60_000 });
  await thread.ready;
  const lease: DelegatedLease = {
    leaseName: 'jobs',
    leaseId: '8f0c2b8e-7d4e-4b7a-9a51-3f2a7f7c1e01',
    sentAt: systemClock.now(),
    leaseDurationMs: 15_000,
    safetyMarginMs: 2_000,
    renewIntervalMs: 300,
    renewRetryIntervalMs: 100,
    requestTimeoutMs: 600_000,
    ...timing,
  };
  return { renewal: thread.begin(lease), lease };
}

const until = async (condition: () => boolean): Promise<void> => {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
};

describe('renewal thread requests (scripted Blob endpoint)', () => {
  it('renews with the held lease id and publishes each send time on the main clock, never later than the server saw the request', async () => {
    const endpoint = await scriptedEndpoint(() => 'ok');
    const { renewal, lease } = await startRenewing(endpoint.connectionString, {});
    for (let i = 0; i < 3; i++) await endpoint.next();
    await until(() => renewal.lastSentAt() > lease.sentAt + 0.001);
    // Renew Lease with this tenure's lease id, nothing else.
    expect(endpoint.seen.slice(0, 3).map((s) => [s.action, s.leaseId])).toEqual(
      Array(3).fill(['renew', lease.leaseId]),
    );
    await endpoint.next(); // a fourth went out: the third's send time is published by now
    const published = renewal.lastSentAt();
    expect(published).toBeGreaterThan(lease.sentAt);
    // Sent before it was received: a send time later than the receipt would stretch the deadline.
    expect(published).toBeLessThanOrEqual(endpoint.seen[endpoint.seen.length - 1]!.receivedAt);
    expect(renewal.lost()).toBeUndefined();
  });

  it.each([
    [409, false],
    [412, false],
    [404, true],
  ] as const)(
    'HTTP %d is a definite loss (record lost: %p): reported at once, and renewing stops',
    async (status, recordLost) => {
      const endpoint = await scriptedEndpoint(() => status);
      const { renewal, lease } = await startRenewing(endpoint.connectionString, {});
      await endpoint.next();
      await until(() => renewal.lost() !== undefined);
      expect(renewal.lost()).toEqual({ recordLost, message: expect.stringContaining(`HTTP ${status}`) });
      expect(renewal.lastSentAt()).toBeCloseTo(lease.sentAt, 2); // a refused renewal never moves the deadline
      const count = endpoint.seen.length;
      await new Promise((resolve) => setTimeout(resolve, 3 * 300));
      expect(endpoint.seen).toHaveLength(count);
    },
  );

  it('a loss read synchronously before the main thread runs its event loop still names the HTTP status (the thread publishes the loss in shared memory before its message arrives)', async () => {
    // The endpoint answers 412 from its own thread: this thread then spins on lost() without ever
    // yielding (a job busy on the CPU, then isLeader()), so the worker's 'lost' message cannot be
    // delivered before the loss is read. Only what shared memory says can reach the reader.
    const endpoint = await endpointInThread(412);
    const { renewal } = await startRenewing(endpoint.connectionString, {});
    const spinUntil = systemClock.now() + 20_000; // the test's bound if the loss never shows
    let lost = renewal.lost();
    while (lost === undefined && systemClock.now() < spinUntil) lost = renewal.lost();
    expect(lost).toEqual({ recordLost: false, message: expect.stringContaining('HTTP 412') });
  });

  it('a stop for a blocked main thread read before the main thread runs its event loop still says why (the deadline line names maxBlockedMs)', async () => {
    // The main thread blocks past maxBlockedMs (1 s): the thread stops renewing and says so in shared
    // memory and in a message. The reader runs before the message can be delivered.
    const endpoint = await endpointInThread(200);
    thread = new RenewalThread({
      connectionString: endpoint.connectionString,
      containerName: 'locks',
      maxBlockedMs: 1_000,
    });
    await thread.ready;
    const renewal = thread.begin({
      leaseName: 'jobs',
      leaseId: '8f0c2b8e-7d4e-4b7a-9a51-3f2a7f7c1e01',
      sentAt: systemClock.now(),
      leaseDurationMs: 15_000,
      safetyMarginMs: 2_000,
      renewIntervalMs: 300,
      renewRetryIntervalMs: 100,
      requestTimeoutMs: 600_000,
    });
    const spinUntil = systemClock.now() + 10_000; // the test's bound if the stop never shows
    let why = renewal.stoppedBecause();
    while (why === undefined && systemClock.now() < spinUntil) why = renewal.stoppedBecause();
    expect(why).toContain('maxBlockedMs, 1000 ms');
    expect(renewal.lost()).toBeUndefined();
  });

  it('a transient failure (HTTP 500) is retried after renewRetryIntervalMs and the next success counts', async () => {
    const endpoint = await scriptedEndpoint((n) => (n === 0 ? 500 : 'ok'));
    const { renewal, lease } = await startRenewing(endpoint.connectionString, {});
    const first = await endpoint.next();
    const second = await endpoint.next();
    expect(second.receivedAt - first.receivedAt).toBeGreaterThanOrEqual(100 - 1); // not before the retry interval
    await until(() => renewal.lastSentAt() > lease.sentAt + 0.001);
    expect(renewal.lost()).toBeUndefined();
    expect(renewal.lastSentAt()).toBeLessThanOrEqual(second.receivedAt);
  });

  it('a renewal that hangs is aborted at the deadline (min(requestTimeout, deadline − now)), not after the 10-minute requestTimeout, and nothing is sent after the deadline', async () => {
    const endpoint = await scriptedEndpoint(() => 'hang');
    const { renewal, lease } = await startRenewing(endpoint.connectionString, {
      leaseDurationMs: 4_000,
      safetyMarginMs: 1_000,
      renewIntervalMs: 1_000,
    });
    const hung = await endpoint.next();
    const abortedAt = await hung.closedEarly; // the thread gave up on it (the test's 30 s timeout would fail first otherwise)
    const deadline = lease.sentAt + lease.leaseDurationMs - lease.safetyMarginMs;
    expect(abortedAt).toBeGreaterThan(hung.receivedAt);
    expect(renewal.lastSentAt()).toBeCloseTo(lease.sentAt, 2);
    await until(() => systemClock.now() > deadline + 1_000);
    expect(endpoint.seen).toHaveLength(1); // no renewal after the deadline: the main thread has stepped down by then
  });

  it('a renewal that hangs with a requestTimeout shorter than the time left is aborted at requestTimeout and retried before the deadline', async () => {
    const endpoint = await scriptedEndpoint((n) => (n === 0 ? 'hang' : 'ok'));
    const { renewal, lease } = await startRenewing(endpoint.connectionString, { requestTimeoutMs: 500 });
    const hung = await endpoint.next();
    const retried = await endpoint.next();
    const abortedAt = await hung.closedEarly;
    expect(abortedAt).toBeLessThanOrEqual(retried.receivedAt); // aborted, then retried
    await until(() => renewal.lastSentAt() > lease.sentAt + 0.001);
    expect(renewal.lastSentAt()).toBeLessThan(lease.sentAt + lease.leaseDurationMs - lease.safetyMarginMs); // well inside the tenure
    expect(renewal.lost()).toBeUndefined();
  });
});
