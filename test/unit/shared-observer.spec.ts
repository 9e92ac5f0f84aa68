import { afterEach, describe, expect, it } from '@jest/globals';
import { LeaderElector } from '../../lib/core/leader-elector.js';
import type { LeaseLister } from '../../lib/core/lease-lister.js';
import {
  TransientStoreError,
  type AcquireRequest,
  type AcquireResult,
  type LeaseObservation,
  type LeaseStore,
  type ReleaseOptions,
} from '../../lib/core/lease-store.js';
import { silentLogger } from '../../lib/core/logger.js';
import {
  FREE_LEASES_PER_LISTING,
  SharedLeaseObserver,
  type ObservingElection,
} from '../../lib/core/shared-observer.js';
import { StoreRequests, type StoreRequestEvent } from '../../lib/core/store-requests.js';
import { LeaderElectionMetrics } from '../../lib/metrics/leader-election-metrics.js';
import { METRIC_NAMES } from '../../lib/metrics/metric-names.js';
import { TestMetrics } from '../support/metrics-reader.js';
import { MemoryLeaseStore } from '../../lib/stores/memory/memory-lease-store.js';
import { AzureBlobLeaseStore } from '../../lib/stores/azure-blob/azure-blob-lease-store.js';
import type { LeaderElectionModuleOptions } from '../../lib/nest/interfaces/leader-election-options.interface.js';
import { resolveLeaderElectionOptions } from '../../lib/nest/leader-election-options.resolver.js';
import { ManualClock } from '../support/manual-clock.js';

const RETRY = 2_000;
const RENEW = 5_000;
const TIMEOUT = 1_000;

interface Call {
  op: 'observe' | 'acquire' | 'renew' | 'release' | 'list';
  at: number;
  lease?: string;
}

/**
 * One replica's view of a shared in-memory store (each replica has its own object, hence its own
 * shared observer), with a listing: every call is recorded; listings can be made slow or failing.
 */
class ReplicaStore implements LeaseStore, LeaseLister {
  readonly description = 'replica view of the memory store';
  readonly calls: Call[] = [];
  /** Errors the next listings throw, in order. */
  readonly listingFailures: unknown[] = [];
  listingLatencyMs = 0;
  hangListings = false;

  constructor(
    private readonly backend: MemoryLeaseStore,
    private readonly clock: ManualClock,
    readonly listingFromLeases: number,
  ) {}

  observe(leaseName: string, signal: AbortSignal): Promise<LeaseObservation> {
    this.calls.push({ op: 'observe', at: this.clock.now(), lease: leaseName });
    return this.backend.observe(leaseName, signal);
  }

  acquire(request: AcquireRequest, signal: AbortSignal): Promise<AcquireResult> {
    this.calls.push({ op: 'acquire', at: this.clock.now(), lease: request.leaseName });
    return this.backend.acquire(request, signal);
  }

  renew(leaseName: string, leaseId: string, signal: AbortSignal): Promise<void> {
    this.calls.push({ op: 'renew', at: this.clock.now(), lease: leaseName });
    return this.backend.renew(leaseName, leaseId, signal);
  }

  release(leaseName: string, leaseId: string, signal: AbortSignal, options?: ReleaseOptions): Promise<void> {
    this.calls.push({ op: 'release', at: this.clock.now(), lease: leaseName });
    return this.backend.release(leaseName, leaseId, signal, options);
  }

  async listLeases(
    leaseNames: readonly string[],
    signal: AbortSignal,
  ): Promise<Map<string, LeaseObservation>> {
    this.calls.push({ op: 'list', at: this.clock.now() });
    if (this.hangListings) return new Promise(() => {});
    if (this.listingLatencyMs > 0)
      await new Promise<void>((resolve, reject) => {
        const timer = this.clock.setTimeout(resolve, this.listingLatencyMs);
        signal.addEventListener('abort', () => {
          this.clock.clearTimeout(timer);
          reject(signal.reason);
        });
      });
    // Read when the listing reaches the server (after half the latency would be as good).
    if (this.listingFailures.length > 0) throw this.listingFailures.shift();
    const listed = new Map<string, LeaseObservation>();
    for (const name of leaseNames) listed.set(name, await this.backend.observe(name, signal));
    return listed;
  }

  count(op: Call['op'], from = 0, to = Infinity): number {
    return this.calls.filter((call) => call.op === op && call.at >= from && call.at < to).length;
  }
}

const electors: LeaderElector[] = [];
let clock: ManualClock;

afterEach(async () => {
  const stopping = Promise.all(electors.splice(0).map((elector) => elector.stop()));
  for (let i = 0; i < 10; i++) await clock?.advance(5_000);
  await stopping;
});

/** `replicas` replicas electing `leases` leases each, every replica through its own ReplicaStore. */
function cluster(replicas: number, leases: number, listingFromLeases = 13) {
  clock = new ManualClock();
  const backend = new MemoryLeaseStore(clock);
  const names = Array.from({ length: leases }, (_, i) => `tenant-${i}`);
  const stores = Array.from({ length: replicas }, () => new ReplicaStore(backend, clock, listingFromLeases));
  const byReplica = stores.map((store, r) =>
    names.map((leaseName) => {
      const elector = new LeaderElector(
        store,
        { leaseName, identity: `r${r}`, retryJitter: 0, presence: false, requestTimeoutMs: TIMEOUT },
        { clock, logger: silentLogger },
      );
      electors.push(elector);
      return elector;
    }),
  );
  const leaders = (lease: number): number => byReplica.filter((replica) => replica[lease]!.isLeader()).length;
  return { backend, names, stores, byReplica, leaders };
}

/** Starts electors: a start() waits for its first poll, which may wait for a listing (a clock timer). */
async function startAll(all: LeaderElector[]): Promise<void> {
  const started = Promise.all(all.map((elector) => elector.start()));
  await clock.advance(RETRY);
  await started;
}

describe('SharedLeaseObserver: followers of many leases list once per poll', () => {
  it('3 replicas × 30 leases: each follower lists once per poll interval and sends no Get Properties once it lists; the leader only renews; every lease has exactly one leader throughout', async () => {
    const { stores, byReplica, leaders } = cluster(3, 30);
    await startAll(byReplica.flat());
    for (let t = 0; t < 60_000; t += 250) {
      await clock.advance(250);
      for (let lease = 0; lease < 30; lease++) expect(leaders(lease)).toBe(1);
    }
    // Started at one instant, replica 0 took every lease: it leads 30, the others follow 30.
    const held = byReplica.map((replica) => replica.filter((elector) => elector.isLeader()).length);
    expect(held).toEqual([30, 0, 0]);
    const [leader, ...followers] = stores;
    for (const store of followers) {
      // From 10 s on (well after the switch): one listing per 2 s, no per-lease reads, nothing else.
      expect(store.count('list', 10_000, 60_000)).toBe(25);
      expect(store.calls.filter((call) => call.at >= 10_000 && call.op !== 'list')).toEqual([]);
      // Before it, at most the 12 first polls went per lease (the 13th lease followed switches).
      expect(store.count('observe')).toBeLessThanOrEqual(12);
    }
    // The leader's requests: its renewals, one per held lease per 5 s (it follows nothing: no listing).
    expect(leader!.count('renew', 10_000, 60_000)).toBe(30 * (50_000 / RENEW));
    expect(leader!.calls.filter((call) => call.at >= 10_000 && call.op !== 'renew')).toEqual([]);
  });

  it('a listing hands at most FREE_LEASES_PER_LISTING free leases to acquires per replica (the rest wait for the next listing), each replica in its own order: 3 replicas starting 250 leases at once (the start-up storm)', async () => {
    const { stores, byReplica, leaders } = cluster(3, 250);
    await startAll(byReplica.flat());
    await clock.advance(30_000);
    for (let lease = 0; lease < 250; lease++) expect(leaders(lease)).toBe(1);
    for (const store of stores) {
      const listings = store.calls.filter((call) => call.op === 'list').map((call) => call.at);
      const acquiresBetween = listings.map((at, i) =>
        store.count('acquire', at, listings[i + 1] ?? Infinity),
      );
      // The 12 polls before the switch-over observed alone and may acquire at once; then ≤ 100 a listing.
      expect(Math.max(...acquiresBetween)).toBeLessThanOrEqual(FREE_LEASES_PER_LISTING + 12);
    }
    // The cap was reached (else this test shows nothing): some listing saw more free leases than it.
    expect(Math.max(...stores.map((store) => store.count('acquire')))).toBeGreaterThan(
      FREE_LEASES_PER_LISTING,
    );
    // Different orders: the replicas' first 100 acquires are mostly different leases.
    const firstAcquired = stores.map(
      (store) =>
        new Set(
          store.calls
            .filter((call) => call.op === 'acquire')
            .slice(12, 112)
            .map((c) => c.lease),
        ),
    );
    const shared = [...firstAcquired[1]!].filter((lease) => firstAcquired[2]!.has(lease)).length;
    expect(shared).toBeLessThan(60);
    // Leadership spreads over the replicas instead of going to whoever listed first.
    const held = byReplica.map((replica) => replica.filter((elector) => elector.isLeader()).length);
    expect(held.reduce((a, b) => a + b, 0)).toBe(250);
    expect(Math.min(...held)).toBeGreaterThan(30);
  });

  it('below the threshold (5 leases, threshold 13) every follower polls per lease, as before: no listing', async () => {
    const { stores, byReplica } = cluster(2, 5);
    await startAll(byReplica.flat());
    await clock.advance(20_000);
    for (const store of stores) expect(store.count('list')).toBe(0);
    const follower = stores.find((store) => store.count('renew') === 0)!;
    expect(follower.count('observe', 2_000, 20_000)).toBe(5 * 9); // 5 leases × a poll every 2 s
  });

  it('a lease released by its leader is taken by a follower of the listing within one poll interval', async () => {
    const { byReplica, leaders } = cluster(2, 20, 2);
    await startAll(byReplica.flat());
    await clock.advance(10_000);
    const [first, second] = byReplica;
    const ledByFirst = first!.findIndex((elector) => elector.isLeader());
    expect(ledByFirst).toBeGreaterThanOrEqual(0);
    await first![ledByFirst]!.stop();
    const releasedAt = clock.now();
    while (!second![ledByFirst]!.isLeader() && clock.now() < releasedAt + 10_000) await clock.advance(10);
    expect(second![ledByFirst]!.isLeader()).toBe(true);
    expect(clock.now() - releasedAt).toBeLessThanOrEqual(RETRY);
    expect(leaders(ledByFirst)).toBe(1);
  });

  it('throttled listings (503 ServerBusy, 500 OperationTimedOut) back off, doubling up to maxErrorBackoffMs, while the held leases renew on time; the pause resets after a listing succeeds', async () => {
    const { stores, byReplica } = cluster(2, 20, 2);
    // Replica 1 takes leases 0–9 first, replica 0 the rest: each leads 10 and follows 10.
    await startAll(byReplica[1]!.slice(0, 10));
    await clock.advance(1_000);
    await startAll([...byReplica[0]!, ...byReplica[1]!.slice(10)]);
    await clock.advance(10_000);
    const store = stores[1]!;
    const led = (): boolean[] => byReplica[1]!.map((elector) => elector.isLeader());
    expect(led()).toEqual(byReplica[1]!.map((_, i) => i < 10));
    store.listingFailures.push(
      new TransientStoreError('busy', 'ServerBusy', 503),
      new TransientStoreError('timed out', 'OperationTimedOut', 500),
      new TransientStoreError('busy', 'ServerBusy', 503),
    );
    const from = clock.now();
    const last = store.calls.filter((call) => call.op === 'list').at(-1)!.at;
    await clock.advance(60_000);
    const listings = [last, ...store.calls.filter((c) => c.op === 'list' && c.at > from).map((c) => c.at)];
    const gaps = listings.slice(1, 6).map((at, i) => at - listings[i]!);
    // The last listing before the failures succeeded; each throttled one doubles the pause; the first
    // one after a success is back to one interval.
    expect(gaps).toEqual([RETRY, 2 * RETRY, 4 * RETRY, 8 * RETRY, RETRY]);
    // The 10 leases replica 1 holds kept renewing every 5 s throughout.
    expect(led()).toEqual(byReplica[1]!.map((_, i) => i < 10));
    const renewals = store.calls.filter((call) => call.op === 'renew' && call.at > from);
    for (let lease = 0; lease < 10; lease++) {
      const times = renewals.filter((call) => call.lease === `tenant-${lease}`).map((call) => call.at);
      expect(times.slice(1).map((at, i) => at - times[i]!)).toEqual(times.slice(1).map(() => RENEW));
      expect(times.length).toBeGreaterThanOrEqual(11);
    }
  });

  it('a listing that never answers is given up at the request timeout (else no listing could follow); listings stay one interval apart', async () => {
    const { stores, byReplica } = cluster(2, 20, 2);
    await startAll(byReplica.flat());
    await clock.advance(10_000);
    const store = stores[0]!;
    store.hangListings = true;
    const from = clock.now();
    await clock.advance(10_000);
    const listings = store.calls
      .filter((call) => call.op === 'list' && call.at >= from)
      .map((call) => call.at);
    expect(listings.slice(1).map((at, i) => at - listings[i]!)).toEqual(listings.slice(1).map(() => RETRY));
  });

  it('switches back to per-lease polls below threshold − ⌈threshold / 8⌉ (hysteresis: 14 at 16), and lists nothing once it follows no lease', async () => {
    const { stores, byReplica } = cluster(2, 16, 16);
    await startAll(byReplica.flat());
    await clock.advance(10_000);
    const [leader, follower] = byReplica;
    const store = stores[1]!;
    expect(leader!.every((elector) => elector.isLeader())).toBe(true);
    expect(store.count('list', 5_000, 10_000)).toBeGreaterThan(0); // follows 16: lists
    // 14 followed (≥ 16 − 2): still lists; 13: back to one Get Properties per lease and poll.
    await Promise.all(follower!.slice(0, 2).map((elector) => elector.stop()));
    await clock.advance(10_000);
    expect(store.count('list', 15_000, 20_000)).toBeGreaterThanOrEqual(2);
    expect(store.count('observe', 15_000, 20_000)).toBe(0);
    await follower![2]!.stop();
    await clock.advance(20_000); // a stopped lease counts as followed for 3 poll intervals
    expect(store.count('list', 35_000, 40_000)).toBe(0);
    expect(store.count('observe', 35_000, 39_000)).toBe(13 * 2); // 13 leases, a poll every 2 s
    // The leader stops: replica 1 takes the 13 leases it still elects, follows none, and lists nothing.
    await Promise.all(leader!.map((elector) => elector.stop()));
    const released = clock.now();
    await clock.advance(30_000);
    expect(follower!.slice(3).every((elector) => elector.isLeader())).toBe(true);
    expect(store.count('list', released + 2 * RETRY) + store.count('observe', released + 2 * RETRY)).toBe(0);
  });
});

describe('SharedLeaseObserver: listings are counted as requests (issue 23)', () => {
  const STORE_OPS = { observe: 'observe', acquire: 'acquire', renew: 'renew', release: 'release' } as const;

  it('each listing is one listLeases event on the requests$ of one election it served: summing requests$ over the elections counts every store call once', async () => {
    const { stores, byReplica } = cluster(3, 30);
    const events = byReplica.map(() => [] as StoreRequestEvent[]);
    byReplica.forEach((replica, r) =>
      replica.forEach((elector) => elector.requests$.subscribe((event) => events[r]!.push(event))),
    );
    await startAll(byReplica.flat());
    await clock.advance(30_000);
    for (const [r, store] of stores.entries()) {
      const reported = (operation: StoreRequestEvent['operation']): number =>
        events[r]!.filter((event) => event.operation === operation).length;
      expect(reported('listLeases')).toBe(store.count('list'));
      for (const [operation, op] of Object.entries(STORE_OPS))
        expect([operation, reported(operation as StoreRequestEvent['operation'])]).toEqual([
          operation,
          store.count(op),
        ]);
    }
    // The followers list (one per 2 s, serving their 30 polls each); the leader of all 30 does not.
    expect(stores.map((store) => store.count('list') > 10)).toEqual([false, true, true]);
    const listing = events[1]!.filter((event) => event.operation === 'listLeases').at(-1)!;
    expect(listing).toMatchObject({ identity: 'r1', outcome: 'ok', servedPolls: 30 });
  });

  it('is reported on an election that is listened to, if any: one instrumented lease sees every listing that served it, and the metrics count it under operation listLeases', async () => {
    const { stores, byReplica } = cluster(2, 20);
    const metrics = new TestMetrics();
    const recorder = new LeaderElectionMetrics(metrics.meter());
    // Only the last lease of replica 1 (the follower: replica 0 takes all at one start) is instrumented.
    recorder.instrument(byReplica[1]![19]!);
    await startAll(byReplica.flat());
    await clock.advance(20_000);
    const points = Object.fromEntries(await metrics.series(METRIC_NAMES.storeRequestDuration));
    const listed = points['lease=tenant-19,operation=listLeases,outcome=ok'] as { count: number } | undefined;
    expect(stores[1]!.count('list')).toBeGreaterThan(5);
    expect(listed?.count).toBe(stores[1]!.count('list'));
    recorder.dispose();
    await metrics.shutdown();
  });

  it('a failed listing is reported as an error of its kind (throttling is transient)', async () => {
    const { stores, byReplica } = cluster(2, 20);
    const events: StoreRequestEvent[] = [];
    for (const elector of byReplica[1]!) elector.requests$.subscribe((event) => events.push(event));
    await startAll(byReplica.flat());
    await clock.advance(5_000);
    stores[1]!.listingFailures.push(new TransientStoreError('busy', 'ServerBusy', 503));
    await clock.advance(10_000);
    const listings = events.filter((event) => event.operation === 'listLeases');
    expect(listings.filter((event) => event.outcome === 'error')).toEqual([
      expect.objectContaining({ outcome: 'error', errorKind: 'transient', servedPolls: 20 }),
    ]);
    expect(listings).toHaveLength(stores[1]!.count('list'));
  });
});

describe('SharedLeaseObserver: the age of a listed observation', () => {
  function election(
    leaseName: string,
    store: LeaseStore,
    stop = new AbortController().signal,
  ): ObservingElection {
    return {
      lease: {
        leaseName,
        options: { retryIntervalMs: RETRY, requestTimeoutMs: TIMEOUT, maxErrorBackoffMs: 30_000 },
      },
      store,
      requests: new StoreRequests(clock, stop, { leaseName, identity: 'x', requestTimeoutMs: TIMEOUT }),
      stopSignal: stop,
    };
  }

  it('a poll is served by the first listing sent at or after it asked: polls of one turn share one listing, a poll that asks while a listing is in flight waits for the next', async () => {
    clock = new ManualClock();
    const backend = new MemoryLeaseStore(clock);
    const store = new ReplicaStore(backend, clock, 1);
    store.listingLatencyMs = 100;
    const observer = SharedLeaseObserver.of(store, clock);
    expect(SharedLeaseObserver.of(store, clock)).toBe(observer);
    const a = observer.observe(election('a', store));
    const b = observer.observe(election('b', store));
    await clock.advance(20);
    // 'c' is acquired after the first listing was sent, then 'c' is polled: it must see the acquisition.
    await backend.acquire(
      { leaseName: 'c', leaseId: 'id', identity: 'h', durationSeconds: 15 },
      new AbortController().signal,
    );
    const c = observer.observe(election('c', store));
    await clock.advance(200);
    expect(await a).toEqual({ held: false, term: 0, etag: 'absent' });
    expect(await b).toEqual({ held: false, term: 0, etag: 'absent' });
    expect(store.count('list')).toBe(1);
    let seen: LeaseObservation | undefined;
    void c.then((observation) => (seen = observation));
    await clock.advance(RETRY - 220 - 1);
    expect(seen).toBeUndefined(); // the next listing goes one interval after the first was sent
    await clock.advance(200);
    expect(seen).toMatchObject({ held: true, holder: 'h', term: 1 });
    expect(store.calls.filter((call) => call.op === 'list').map((call) => call.at)).toEqual([0, RETRY]);
  });

  it('pacing never defers a free lease that names this replica (its successor after a hand-over, or its own last record); the deferred polls are served by the next listing', async () => {
    clock = new ManualClock();
    const backend = new MemoryLeaseStore(clock);
    const store = new ReplicaStore(backend, clock, 1);
    const never = new AbortController().signal;
    // 'handed' was released to 'me' as successor; 'mine' was last held by 'me'; the rest never taken.
    for (const [leaseName, identity, successor] of [
      ['handed', 'other', 'me'],
      ['mine', 'me', undefined],
    ] as const) {
      await backend.acquire({ leaseName, leaseId: `id-${leaseName}`, identity, durationSeconds: 15 }, never);
      await backend.release(leaseName, `id-${leaseName}`, never, successor ? { successor } : {});
    }
    const names = [
      'handed',
      'mine',
      ...Array.from({ length: FREE_LEASES_PER_LISTING + 50 }, (_, i) => `t-${i}`),
    ];
    const observer = SharedLeaseObserver.of(store, clock);
    const answered = new Map<string, number>();
    for (const leaseName of names) {
      const poll = {
        ...election(leaseName, store),
        lease: { ...election(leaseName, store).lease, identity: 'me' },
      };
      void observer.observe(poll).then(() => answered.set(leaseName, clock.now()));
    }
    await clock.advance(10);
    expect(store.count('list')).toBe(1);
    expect(answered.size).toBe(FREE_LEASES_PER_LISTING + 2); // the capped free ones, and the two naming us
    expect([answered.has('handed'), answered.has('mine')]).toEqual([true, true]);
    await clock.advance(RETRY);
    expect(store.count('list')).toBe(2);
    expect(answered.size).toBe(names.length);
  });

  it('a poll whose election stops stops waiting; with no poll left, no listing is sent', async () => {
    clock = new ManualClock();
    const store = new ReplicaStore(new MemoryLeaseStore(clock), clock, 1);
    const observer = SharedLeaseObserver.of(store, clock);
    const first = observer.observe(election('a', store));
    await clock.advance(0);
    await first;
    const stop = new AbortController();
    const waiting = observer.observe(election('a', store, stop.signal)).catch((error: unknown) => error);
    stop.abort(new Error('stopped'));
    expect(String(await waiting)).toContain('stopped');
    await clock.advance(10 * RETRY);
    expect(store.count('list')).toBe(1);
    expect(clock.pendingTimers).toBe(0);
  });

  it('a listing in flight when its last poll stops is aborted: a stopped election leaves no timer behind (found by the simulation tester, listing profile)', async () => {
    clock = new ManualClock();
    const store = new ReplicaStore(new MemoryLeaseStore(clock), clock, 1);
    store.listingLatencyMs = 500;
    const observer = SharedLeaseObserver.of(store, clock);
    const stop = new AbortController();
    const waiting = observer.observe(election('a', store, stop.signal)).catch((error: unknown) => error);
    await clock.advance(10); // the listing is on its way
    expect(store.count('list')).toBe(1);
    stop.abort(new Error('stopped'));
    expect(String(await waiting)).toContain('stopped');
    await clock.advance(0);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('listingFromLeases: the switch-over option', () => {
  const connectionString = 'UseDevelopmentStorage=true';

  it('reaches the Azure store the module builds (numbers and decimal strings from the environment); default 13', () => {
    const built = (listingFromLeases?: unknown): number =>
      (
        resolveLeaderElectionOptions({
          connectionString,
          ...(listingFromLeases === undefined ? {} : { listingFromLeases }),
        } as LeaderElectionModuleOptions).store as AzureBlobLeaseStore
      ).listingFromLeases;
    expect([built(), built(2), built('40'), built(1_000_000)]).toEqual([13, 2, 40, 1_000_000]);
  });

  it.each([0, -1, 2.5, 1_000_001, '13 ', 'all', true])(
    'refuses %p, naming the option and what is allowed (module and store alike)',
    (listingFromLeases) => {
      const allowed = /"listingFromLeases": got .*; allowed: a whole number from 1 to 1000000/;
      expect(() =>
        resolveLeaderElectionOptions({
          connectionString,
          listingFromLeases,
        } as unknown as LeaderElectionModuleOptions),
      ).toThrow(allowed);
      if (typeof listingFromLeases === 'number')
        expect(() => new AzureBlobLeaseStore({ connectionString, listingFromLeases })).toThrow(allowed);
    },
  );

  it('is refused beside a custom store (it could not apply)', () => {
    expect(() =>
      resolveLeaderElectionOptions({ store: new MemoryLeaseStore(), listingFromLeases: 20 }),
    ).toThrow(
      /"listingFromLeases" applies to the Azure store the module builds, but a custom store was given/,
    );
  });
});
