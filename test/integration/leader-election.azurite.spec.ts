import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { BlobServiceClient } from '@azure/storage-blob';
import { systemClock } from '../../lib/core/clock.js';
import type { ElectionOptions } from '../../lib/core/election-options.js';
import { LeaderElector } from '../../lib/core/leader-elector.js';
import { AzureBlobLeaseStore } from '../../lib/stores/azure-blob/azure-blob-lease-store.js';
import { azuriteConnectionString, freePort } from '../support/azurite.mjs';
import { FaultyStore } from '../support/faulty-store.js';
import { RecordingLogger } from '../support/recording-logger.js';

// LeaderElector over AzureBlobLeaseStore on the real Azurite of Jest's global setup, with real time
// and the real systemClock. Each candidate gets its own store instance (as separate replicas would),
// wrapped in a FaultyStore that only records calls (with monotonic timestamps) and injects nothing.

const connectionString = process.env.AZURITE_CONNECTION_STRING!;
const azuritePort = Number(process.env.AZURITE_PORT);
const CONTAINER = `it-elector-${randomBytes(4).toString('hex')}`;
const D_MS = 15_000;
const RETRY = 250;
const JITTER = 0.2;
/** The longest a follower sleeps between polls. */
const MAX_POLL_GAP = RETRY * (1 + JITTER);

interface Candidate {
  elector: LeaderElector;
  store: FaultyStore;
  logger: RecordingLogger;
}

const electors: LeaderElector[] = [];
const watches: Array<() => void> = [];

function candidate(
  leaseName: string,
  identity: string,
  options: Partial<ElectionOptions> = {},
  conn = connectionString,
): Candidate {
  const azure = new AzureBlobLeaseStore({ connectionString: conn, containerName: CONTAINER });
  const store = new FaultyStore(azure, systemClock);
  const logger = new RecordingLogger();
  const elector = new LeaderElector(
    store,
    { leaseName, identity, retryIntervalMs: RETRY, retryJitter: JITTER, ...options },
    { logger },
  );
  electors.push(elector);
  return { elector, store, logger };
}

function uniqueLease(label: string): string {
  return `${label}-${randomUUID().slice(0, 8)}`;
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `predicate` every `everyMs` until true; resolves with the monotonic time it was first seen true. */
async function waitFor(
  what: string,
  predicate: () => boolean,
  timeoutMs: number,
  everyMs = 5,
): Promise<number> {
  const giveUpAt = performance.now() + timeoutMs;
  for (;;) {
    if (predicate()) return performance.now();
    if (performance.now() > giveUpAt) throw new Error(`Timed out after ${timeoutMs} ms waiting for: ${what}`);
    await delay(everyMs);
  }
}

/**
 * Samples isLeader() of a set of electors every few ms in the background and counts samples in which
 * more than one leads. Call the returned function to stop and get the figures.
 */
function watchForTwoLeaders(
  group: () => LeaderElector[],
  everyMs = 5,
): () => { samples: number; overlaps: number } {
  let samples = 0;
  let overlaps = 0;
  const timer = setInterval(() => {
    samples += 1;
    if (group().filter((elector) => elector.isLeader()).length > 1) overlaps += 1;
  }, everyMs);
  let stopped = false;
  const stop = (): { samples: number; overlaps: number } => {
    if (!stopped) clearInterval(timer);
    stopped = true;
    return { samples, overlaps };
  };
  watches.push(stop);
  return stop;
}

afterEach(async () => {
  for (const stop of watches.splice(0)) stop();
  await Promise.all(electors.splice(0).map((elector) => elector.stop()));
});

afterAll(async () => {
  await BlobServiceClient.fromConnectionString(connectionString)
    .getContainerClient(CONTAINER)
    .deleteIfExists();
});

describe('LeaderElector on Azurite', () => {
  it('two electors on one lease: exactly one leader at every sample; the follower sees its identity and term', async () => {
    const lease = uniqueLease('two');
    // Renew every second so the sampling window spans several renewals.
    const a = candidate(lease, 'replica-a', { renewIntervalMs: 1_000 });
    const b = candidate(lease, 'replica-b', { renewIntervalMs: 1_000 });
    await Promise.all([a.elector.start(), b.elector.start()]);

    let samples = 0;
    for (let elapsed = 0; elapsed < 4_000; elapsed += 50) {
      const leading = [a.elector.isLeader(), b.elector.isLeader()];
      expect(leading.filter(Boolean)).toHaveLength(1);
      samples += 1;
      await delay(50);
    }
    expect(samples).toBeGreaterThanOrEqual(60);

    const [leader, follower] = a.elector.isLeader() ? [a, b] : [b, a];
    expect(leader.elector.state).toMatchObject({ role: 'leader', leader: leader.elector.identity, term: 1 });
    expect(leader.elector.leadership?.term).toBe(1);
    expect(follower.elector.state).toMatchObject({
      role: 'follower',
      leader: leader.elector.identity,
      term: 1,
    });
    expect(follower.elector.state.lastError).toBeUndefined();
    // The leader renewed during the window, and the follower kept polling.
    expect(
      leader.store.callsOf('renew').filter((call) => call.outcome === 'ok').length,
    ).toBeGreaterThanOrEqual(3);
    expect(follower.store.callsOf('observe').length).toBeGreaterThanOrEqual(4_000 / MAX_POLL_GAP - 2);
    // The follower tried to acquire at most once (at start, if it saw the lease free), never while it was held.
    expect(follower.store.callsOf('acquire').length).toBeLessThanOrEqual(1);
  }, 30_000);

  it('after a graceful stop() the follower leads within about one retryInterval', async () => {
    const lease = uniqueLease('graceful');
    const a = candidate(lease, 'replica-a');
    await a.elector.start();
    expect(a.elector.isLeader()).toBe(true);
    const b = candidate(lease, 'replica-b');
    await b.elector.start();
    expect(b.elector.isLeader()).toBe(false);
    expect(b.elector.state).toMatchObject({ role: 'follower', leader: 'replica-a', term: 1 });
    // Let the follower settle into its polling rhythm.
    await delay(3 * RETRY);
    const watch = watchForTwoLeaders(() => [a.elector, b.elector]);

    await a.elector.stop();
    const stoppedAt = performance.now();
    expect(a.elector.isLeader()).toBe(false);
    expect(a.elector.state.role).toBe('stopped');
    expect(a.store.callsOf('release').map((call) => call.outcome)).toEqual(['ok']);

    const ledAt = await waitFor('the follower to lead', () => b.elector.isLeader(), 10_000, 2);
    const takeoverMs = ledAt - stoppedAt;
    console.log(
      `graceful takeover: ${takeoverMs.toFixed(0)} ms (retryInterval ${RETRY} ms ± ${JITTER * 100} %)`,
    );

    expect(takeoverMs).toBeLessThanOrEqual(MAX_POLL_GAP + 2_000);
    expect(b.elector.state).toMatchObject({ role: 'leader', leader: 'replica-b', term: 2 });
    expect(watch()).toMatchObject({ overlaps: 0 });
  }, 30_000);

  it('a leader that stops renewing (crash) is replaced once its lease expires after D = 15 s, and not before', async () => {
    const lease = uniqueLease('crash');
    const a = candidate(lease, 'replica-a', { renewIntervalMs: 2_000 });
    await a.elector.start();
    expect(a.elector.isLeader()).toBe(true);
    const b = candidate(lease, 'replica-b');
    await b.elector.start();
    expect(b.elector.isLeader()).toBe(false);
    const watch = watchForTwoLeaders(() => [a.elector, b.elector]);

    // Crash right after a successful renewal, so that no renewal is in flight when it happens and the
    // server's lease started no earlier than that renewal's send time.
    await waitFor(
      'a successful renewal',
      () => a.store.callsOf('renew').some((call) => call.outcome === 'ok'),
      10_000,
      1,
    );
    await a.elector.stop({ release: false });
    const crashedAt = performance.now();
    const sends = [...a.store.callsOf('acquire'), ...a.store.callsOf('renew')];
    expect(sends.every((call) => call.outcome === 'ok')).toBe(true); // nothing was cut off mid-flight
    const lastRenewal = a.store.callsOf('renew').at(-1)!;
    expect(a.store.callsOf('release')).toHaveLength(0);
    expect(a.elector.isLeader()).toBe(false);

    // Well inside the lease the follower still sees replica-a as the holder.
    await delay(Math.max(0, lastRenewal.at + D_MS - 5_000 - performance.now()));
    expect(b.elector.isLeader()).toBe(false);
    expect(b.elector.state).toMatchObject({ role: 'follower', leader: 'replica-a', term: 1 });

    const ledAt = await waitFor(
      'the follower to lead after the lease expired',
      () => b.elector.isLeader(),
      30_000,
      2,
    );
    const takeoverMs = ledAt - lastRenewal.at;
    console.log(
      `crash takeover: ${takeoverMs.toFixed(0)} ms after the last successful renewal was sent ` +
        `(${(ledAt - crashedAt).toFixed(0)} ms after the crash; D = ${D_MS} ms, retryInterval ${RETRY} ms)`,
    );

    // Not before the server's lease expired (small slack for clock granularity between the processes)…
    expect(takeoverMs).toBeGreaterThanOrEqual(D_MS - 250);
    // …and within one poll (plus generous slack) after it did.
    expect(takeoverMs).toBeLessThanOrEqual(D_MS + MAX_POLL_GAP + 2_000);
    // The follower's first successful acquire was sent only after the expiry.
    const firstWin = b.store.callsOf('acquire').find((call) => call.outcome === 'ok')!;
    expect(firstWin.at).toBeGreaterThanOrEqual(lastRenewal.at + D_MS - 250);
    expect(b.elector.state).toMatchObject({ role: 'leader', leader: 'replica-b', term: 2 });
    expect(watch()).toMatchObject({ overlaps: 0 });
  }, 60_000);

  it('terms strictly increase over several leadership changes', async () => {
    const lease = uniqueLease('terms');
    const identities = ['replica-0', 'replica-1', 'replica-2', 'replica-3', 'replica-4'];
    const group: LeaderElector[] = [];
    const watch = watchForTwoLeaders(() => group);

    let leader = candidate(lease, identities[0]!);
    group.push(leader.elector);
    await leader.elector.start();
    expect(leader.elector.isLeader()).toBe(true);
    const terms = [leader.elector.leadership!.term];

    for (const identity of identities.slice(1)) {
      const next = candidate(lease, identity);
      group.push(next.elector);
      await next.elector.start();
      expect(next.elector.isLeader()).toBe(false);
      expect(next.elector.state).toMatchObject({ leader: leader.elector.identity, term: terms.at(-1) });

      await leader.elector.stop();
      await waitFor(`${identity} to lead`, () => next.elector.isLeader(), 10_000, 2);
      const term = next.elector.leadership!.term;
      expect(next.elector.state).toMatchObject({ role: 'leader', leader: identity, term });
      terms.push(term);
      leader = next;
    }

    expect(terms).toHaveLength(5);
    for (let i = 1; i < terms.length; i++) expect(terms[i]!).toBeGreaterThan(terms[i - 1]!);
    expect(terms[0]).toBe(1);
    // What the blob says agrees with the last leader.
    const observed = await new AzureBlobLeaseStore({ connectionString, containerName: CONTAINER }).observe(
      lease,
      new AbortController().signal,
    );
    expect(observed).toMatchObject({ held: true, holder: 'replica-4', term: terms.at(-1) });
    expect(watch()).toMatchObject({ overlaps: 0 });
  }, 60_000);
});

describe('LeaderElector when Azurite is unreachable', () => {
  it('stays a follower with a transient lastError, keeps polling, and stop() resolves', async () => {
    const closedPort = await freePort(); // nothing listens there
    const c = candidate(
      uniqueLease('unreachable'),
      'replica-a',
      { retryIntervalMs: 200 },
      azuriteConnectionString(closedPort),
    );
    await c.elector.start(); // never rejects for store errors

    expect(c.elector.isLeader()).toBe(false);
    expect(c.elector.state.role).toBe('follower');
    expect(c.elector.state.lastError?.kind).toBe('transient');
    expect(c.elector.state.lastStoreContactAt).toBeUndefined();

    await waitFor('five failed polls in a row', () => c.elector.state.consecutiveFailures >= 5, 10_000);
    const failures = c.elector.state.consecutiveFailures;
    await waitFor('the loop to keep polling', () => c.elector.state.consecutiveFailures > failures, 10_000);
    expect(c.elector.isLeader()).toBe(false);
    expect(c.elector.state.lastError?.kind).toBe('transient');
    expect(c.store.callsOf('acquire')).toHaveLength(0);
    // One warning for the first failure, not one per poll.
    expect(c.logger.lines.filter((line) => line.level === 'warn')).toHaveLength(1);
    expect(c.logger.lines.filter((line) => line.level === 'error')).toHaveLength(0);

    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      c.elector.stop().then(() => 'stopped' as const),
      new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), 10_000))),
    ]);
    clearTimeout(timer);
    expect(outcome).toBe('stopped');
    expect(c.elector.state.role).toBe('stopped');
  }, 30_000);

  it('leads once the storage endpoint becomes reachable, and clears the error', async () => {
    // The elector talks to a port where nothing listens at first; later a TCP proxy to Azurite opens there.
    const port = await freePort();
    const c = candidate(
      uniqueLease('recovers'),
      'replica-a',
      { retryIntervalMs: 200 },
      azuriteConnectionString(port),
    );
    await c.elector.start();
    expect(c.elector.state.lastError?.kind).toBe('transient');
    await waitFor('three failed polls', () => c.elector.state.consecutiveFailures >= 3, 10_000);
    expect(c.elector.isLeader()).toBe(false);

    const proxy = await startProxy(port, azuritePort);
    try {
      await waitFor('the elector to lead through the proxy', () => c.elector.isLeader(), 10_000);
      expect(c.elector.state).toMatchObject({
        role: 'leader',
        leader: 'replica-a',
        term: 1,
        consecutiveFailures: 0,
      });
      expect(c.elector.state.lastError).toBeUndefined();
      expect(c.logger.text()).toMatch(/reachable again/);
      await c.elector.stop();
    } finally {
      await proxy.close();
    }
  }, 30_000);
});

/** A plain TCP forwarder from 127.0.0.1:listenPort to 127.0.0.1:targetPort. */
async function startProxy(listenPort: number, targetPort: number): Promise<{ close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection(targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.listen(listenPort, '127.0.0.1');
  await once(server, 'listening');
  return {
    async close() {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
