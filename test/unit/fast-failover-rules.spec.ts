import { afterEach, describe, expect, it } from '@jest/globals';
import { InvalidElectionOptionError, LeaderElectionSetupError } from '../../lib/core/errors.js';
import { resolveElectionOptions, type ElectionOptions } from '../../lib/core/election-options.js';
import { LeaderElector } from '../../lib/core/leader-elector.js';
import type { LeaseObservation, LeaseStore } from '../../lib/core/lease-store.js';
import type { RenewalDelegate } from '../../lib/core/renewal-delegate.js';
import { readMetadata } from '../../lib/stores/azure-blob/azure-blob-lease-store.js';
import { MemoryLeaseStore } from '../../lib/stores/memory/memory-lease-store.js';
import { leadersAmong, setup, stopAllElectors, type Candidate } from '../support/elector-harness.js';
import type { FaultyStore } from '../support/faulty-store.js';
import { ManualClock } from '../support/manual-clock.js';

// Fast failover's rules (lib/core/fast-failover.ts; docs/GUARANTEES.md, "Fast failover"), on the memory
// store (its silentForAtLeastMs is exact) and the manual clock. livenessMs 3 s, heartbeat every 1 s,
// R = 1 s, D = 15 s, safety margin 1 s: a holder believes it leads until its last heartbeat's send + 2 s;
// a follower breaks once the record has been silent for more than 3 s + 50 ms drift, in store time.

afterEach(stopAllElectors);

const FAST = { fastFailover: { livenessMs: 3000 }, retryIntervalMs: 1000 } as const;
const EVERY = ['observe', 'acquire', 'renew', 'release', 'heartbeat', 'break'] as const;

function cutOff(store: FaultyStore): void {
  for (const operation of EVERY) store.always(operation, { type: 'hang' });
}

function reconnect(store: FaultyStore): void {
  for (const operation of EVERY) store.clear(operation);
}

/** Advances in 50 ms steps to `until`, failing at the first instant two electors believe they lead. */
async function neverTwoLeaders(clock: ManualClock, until: number, ...candidates: Candidate[]) {
  while (clock.now() < until) {
    await clock.advance(50);
    const leaders = leadersAmong(...candidates).map((c) => c.elector.identity);
    expect({ at: clock.now(), leaders: leaders.length > 1 ? leaders : 'at most one' }).toEqual({
      at: clock.now(),
      leaders: 'at most one',
    });
  }
}

describe('fast failover: takeover below the lease floor', () => {
  it('a cut-off holder stops believing 2 s after its last write; a follower breaks and leads within livenessMs + drift + R', async () => {
    const { candidate, clock } = setup(FAST);
    const a = candidate('a');
    const b = candidate('b');
    await a.elector.start();
    await b.elector.start();
    await clock.advance(500);
    const lastWrite = a.store.callsOf('heartbeat').at(-1)?.at ?? 0;
    cutOff(a.store);
    await neverTwoLeaders(clock, lastWrite + 2000 - 50, a, b);
    expect(a.elector.isLeader()).toBe(true);
    await neverTwoLeaders(clock, lastWrite + 2000, a, b);
    expect(a.elector.isLeader()).toBe(false);
    await neverTwoLeaders(clock, lastWrite + 3000 + 50 + 1000 + 50, a, b);
    expect(b.elector.isLeader()).toBe(true); // 15 s lease floor not waited for
    expect(b.store.callsOf('break').map((call) => call.outcome)).toEqual(['ok']);
    expect(a.logger.text()).toMatch(/no heartbeat succeeded for 2\.0 s \(fastFailover\.livenessMs 3000 ms\)/);
  });
});

describe('rule: only heartbeats extend the fast belief', () => {
  it('a holder whose renewals succeed but whose heartbeats fail steps down at its last heartbeat + livenessMs − margin', async () => {
    const { candidate, clock } = setup({ ...FAST, renewIntervalMs: 400 });
    const a = candidate('a');
    await a.elector.start(); // acquired at 0: the acquire's write counts as a heartbeat sent at 0
    a.store.always('heartbeat', { type: 'transient' });
    a.store.always('acquire', { type: 'transient' });
    await clock.advanceTo(1999);
    expect(a.store.callsOf('renew').filter((call) => call.outcome === 'ok').length).toBeGreaterThan(3);
    expect(a.elector.isLeader()).toBe(true);
    await clock.advanceTo(2000);
    expect(a.elector.isLeader()).toBe(false);
    expect(a.logger.text()).toContain('no heartbeat succeeded within fastFailover.livenessMs (3000 ms)');
  });
});

describe('rule: the break is conditioned on the record version observed', () => {
  it('a heartbeat that lands while a break is on its way makes the break a no-op: the holder keeps leading alone', async () => {
    const { candidate, clock } = setup({ ...FAST, requestTimeoutMs: 1000 });
    const a = candidate('a');
    const b = candidate('b');
    await a.elector.start();
    await b.elector.start();
    await clock.advance(500);
    cutOff(a.store); // silent from its last write (≤ 500)
    b.store.inject('break', { type: 'lands-late', ms: 2500 }); // the break reaches the store 2.5 s late
    await neverTwoLeaders(clock, 4100, a, b);
    expect(b.store.callsOf('break')).toHaveLength(1);
    reconnect(a.store); // a takes its own lease up again (same lease id) and heartbeats: a new version
    await neverTwoLeaders(clock, 6000, a, b);
    expect(a.elector.isLeader()).toBe(true);
    const reacquiredAt = a.store.callsOf('acquire').at(-1)!.at;
    expect(reacquiredAt).toBeLessThan(b.store.callsOf('break')[0]!.at + 2500); // before the break landed
    const losses: number[] = [];
    a.elector.events$.subscribe((event) => event.type === 'lost' && losses.push(clock.now()));
    await neverTwoLeaders(clock, 12_000, a, b);
    expect(losses).toEqual([]); // an unconditional break would have ended a's new tenure
    expect(a.elector.isLeader()).toBe(true); // the stale break broke nothing
    expect(b.elector.isLeader()).toBe(false);
  });

  it('the memory store breaks only the version asked for, and never changes the version itself', async () => {
    const clock = new ManualClock();
    const store = new MemoryLeaseStore(clock);
    const signal = new AbortController().signal;
    const request = { leaseName: 'jobs', leaseId: 'id-a', identity: 'a', durationSeconds: 15 };
    await store.acquire(request, signal);
    const seen = await store.observe('jobs', signal);
    await store.heartbeat('jobs', 'id-a', signal);
    expect(await store.breakStale('jobs', seen.etag!, signal)).toBe(false);
    expect((await store.observe('jobs', signal)).held).toBe(true);
    const now = await store.observe('jobs', signal);
    expect(await store.breakStale('jobs', now.etag!, signal)).toBe(true);
    const broken = await store.observe('jobs', signal);
    expect({ held: broken.held, etag: broken.etag }).toEqual({ held: false, etag: now.etag });
    await expect(store.heartbeat('jobs', 'id-a', signal)).rejects.toThrow(/not held with this lease id/);
  });
});

/** The memory store seen through observations whose server-time silence the test sets. */
function reportingSilence(inner: FaultyStore, silence: { ms: number | undefined }): LeaseStore {
  return {
    description: 'a store reporting a scripted silence',
    observe: async (leaseName, signal) => {
      const observation: LeaseObservation = await inner.observe(leaseName, signal);
      const { silentForAtLeastMs: _ignored, ...rest } = observation;
      return silence.ms === undefined ? rest : { ...rest, silentForAtLeastMs: silence.ms };
    },
    acquire: (request, signal) => inner.acquire(request, signal),
    renew: (leaseName, leaseId, signal) => inner.renew(leaseName, leaseId, signal),
    release: (leaseName, leaseId, signal, options) => inner.release(leaseName, leaseId, signal, options),
    heartbeat: (leaseName, leaseId, signal) => inner.heartbeat(leaseName, leaseId, signal),
    breakStale: (leaseName, ifMatch, signal) => inner.breakStale(leaseName, ifMatch, signal),
  };
}

/** Follower 'b' whose store reports `silence.ms` of store-time silence on every observation. */
function silenceReportingFollower(
  store: Parameters<typeof reportingSilence>[0],
  silence: Parameters<typeof reportingSilence>[1],
  clock: ManualClock,
): LeaderElector {
  return new LeaderElector(
    reportingSilence(store, silence),
    { leaseName: 'jobs', identity: 'b', retryJitter: 0, presence: false, ...FAST },
    { clock },
  );
}

describe('rule: staleness is judged in store time only', () => {
  it('a follower whose own clock sees the same record version for 12 s does not break while the store says it is fresh', async () => {
    const { candidate, clock } = setup(FAST);
    const a = candidate('a');
    const b = candidate('b');
    await a.elector.start();
    const silence = { ms: 0 as number | undefined };
    const follower = silenceReportingFollower(b.store, silence, clock);
    await follower.start();
    cutOff(a.store);
    await clock.advance(12_000);
    expect(b.store.callsOf('break')).toEqual([]);
    expect(follower.isLeader()).toBe(false);
    silence.ms = undefined; // a store that cannot bound the silence: never broken either
    await clock.advance(2_000);
    expect(b.store.callsOf('break')).toEqual([]);
    await follower.stop();
  });

  it('breaks only when the store-time silence exceeds livenessMs + drift (3050 ms): 3050 is not enough, 3051 is', async () => {
    const { candidate, clock } = setup(FAST);
    const a = candidate('a');
    const b = candidate('b');
    await a.elector.start();
    const silence = { ms: 3050 as number | undefined };
    const follower = silenceReportingFollower(b.store, silence, clock);
    await follower.start();
    cutOff(a.store);
    await clock.advance(3_000);
    expect(b.store.callsOf('break')).toEqual([]);
    silence.ms = 3051;
    await clock.advance(1_000);
    expect(b.store.callsOf('break').length).toBe(1);
    await follower.stop();
  });
});

describe('rule: the follower also needs its own evidence (no server clock)', () => {
  it('a store reporting 10 s of silence is not enough: the follower breaks only after seeing that version for livenessMs + drift itself', async () => {
    const { candidate, clock } = setup(FAST);
    const a = candidate('a');
    const b = candidate('b');
    await a.elector.start();
    cutOff(a.store);
    const silence = { ms: 10_000 as number | undefined };
    const follower = silenceReportingFollower(b.store, silence, clock);
    await follower.start();
    await clock.advance(3_000);
    expect(b.store.callsOf('break')).toEqual([]);
    await clock.advance(1_000);
    expect(b.store.callsOf('break').map((call) => call.at)).toEqual([4_000]);
    expect(follower.isLeader()).toBe(true);
    await follower.stop();
  });
});

describe('rule: fastFailover options are validated at boot', () => {
  const base: ElectionOptions = { leaseName: 'jobs', identity: 'a' };
  const refused = (options: Partial<ElectionOptions>, option: string) => {
    let error: unknown;
    try {
      resolveElectionOptions({ ...base, ...options } as ElectionOptions);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidElectionOptionError);
    expect((error as InvalidElectionOptionError).option).toBe(option);
  };

  it('refuses livenessMs below 3000, fractional, or not below the lease duration', () => {
    refused({ fastFailover: { livenessMs: 2999 } }, 'fastFailover.livenessMs');
    refused({ fastFailover: { livenessMs: 3000.5 } }, 'fastFailover.livenessMs');
    refused({ fastFailover: { livenessMs: 15_000 } }, 'fastFailover.livenessMs');
    refused({ fastFailover: { livenessMs: '4000x' as unknown as number } }, 'fastFailover.livenessMs');
    expect(resolveElectionOptions({ ...base, fastFailover: { livenessMs: 14_999 } }).fastFailover).toEqual({
      livenessMs: 14_999,
      heartbeatIntervalMs: 4_666, // (14 999 − safetyMarginMs 1000) / 3
      driftMs: 150,
    });
  });

  it('refuses a heartbeat interval above (livenessMs − safetyMarginMs) / 3, an unknown key, and a non-object', () => {
    refused(
      { fastFailover: { livenessMs: 3000, heartbeatIntervalMs: 667 } },
      'fastFailover.heartbeatIntervalMs',
    );
    refused(
      { fastFailover: { livenessMs: 4000, heartbeatIntervalMs: 1000 }, safetyMarginMs: 1001 },
      'fastFailover.heartbeatIntervalMs',
    );
    refused({ fastFailover: { livenessMs: 3000 }, safetyMarginMs: 2701 }, 'fastFailover.livenessMs');
    refused(
      { fastFailover: { livenessMs: 3000, heartbeatIntervalMs: 99 } },
      'fastFailover.heartbeatIntervalMs',
    );
    refused({ fastFailover: { livenessMs: 3000, beat: 1 } as never }, 'fastFailover.beat');
    refused({ fastFailover: true as never }, 'fastFailover');
    expect(
      resolveElectionOptions({ ...base, fastFailover: { livenessMs: 3000 } }).fastFailover,
    ).toMatchObject({
      heartbeatIntervalMs: 666,
    });
  });

  it('followers must poll at least every livenessMs / 2: the default R becomes that, a larger R is refused', () => {
    refused({ fastFailover: { livenessMs: 3000 }, retryIntervalMs: 1501 }, 'retryIntervalMs');
    expect(resolveElectionOptions({ ...base, fastFailover: { livenessMs: 3000 } }).retryIntervalMs).toBe(
      1500,
    );
    expect(resolveElectionOptions({ ...base, fastFailover: { livenessMs: 5000 } }).retryIntervalMs).toBe(
      2000,
    );
    expect(resolveElectionOptions(base).fastFailover).toBe(false);
  });

  it('refuses a store without heartbeat/break, and the renewal thread, naming the option and the store', () => {
    const memory = new MemoryLeaseStore(new ManualClock());
    const bare: LeaseStore = {
      description: 'a custom store',
      observe: (n, s) => memory.observe(n, s),
      acquire: (r, s) => memory.acquire(r, s),
      renew: (n, i, s) => memory.renew(n, i, s),
      release: (n, i, s) => memory.release(n, i, s),
    };
    const options = { ...base, fastFailover: { livenessMs: 3000 } };
    expect(() => new LeaderElector(bare, options)).toThrow(LeaderElectionSetupError);
    expect(() => new LeaderElector(bare, options)).toThrow(/"fastFailover" .*a custom store cannot/);
    const delegate: RenewalDelegate = { begin: () => undefined as never };
    expect(() => new LeaderElector(memory, options, { renewalDelegate: delegate })).toThrow(
      /"fastFailover" cannot be combined with "renewalThread"/,
    );
  });
});

describe('rule: a holder is judged by the livenessMs it declared for its term, never by the follower’s', () => {
  it('a holder with fast failover off (it never heartbeats) is never broken by a fast follower', async () => {
    const { candidate, clock } = setup({ retryIntervalMs: 1000 });
    const a = candidate('a'); // e.g. an older version, or the option not yet rolled out to it
    const b = candidate('b', FAST);
    await a.elector.start();
    await b.elector.start();
    await neverTwoLeaders(clock, 20_000, a, b);
    expect(b.store.callsOf('break')).toEqual([]);
    expect(a.elector.isLeader()).toBe(true);
  });

  it('a holder that declared 5000 ms is not broken by a 3000 ms follower before 5000 ms + drift of silence', async () => {
    const { candidate, clock } = setup(FAST);
    const a = candidate('a', { fastFailover: { livenessMs: 5000 } });
    const b = candidate('b');
    await a.elector.start();
    await b.elector.start();
    await clock.advance(500);
    const lastWrite = a.store.callsOf('heartbeat').at(-1)?.at ?? 0;
    cutOff(a.store); // a believes until lastWrite + 5000 − 1000
    await neverTwoLeaders(clock, lastWrite + 5100 + 1000 + 50, a, b);
    const breaks = b.store.callsOf('break').map((call) => call.at);
    expect(breaks).toHaveLength(1);
    expect(breaks[0]).toBeGreaterThan(lastWrite + 5000 + 50);
    expect(b.elector.isLeader()).toBe(true);
  });

  it('the memory store clears the declaration when a holder acquires without one', async () => {
    const clock = new ManualClock();
    const store = new MemoryLeaseStore(clock);
    const signal = new AbortController().signal;
    const take = { leaseName: 'jobs', identity: 'a', durationSeconds: 15 };
    await store.acquire({ ...take, leaseId: 'one', livenessMs: 3000 }, signal);
    expect((await store.observe('jobs', signal)).holderLivenessMs).toBe(3000);
    await store.release('jobs', 'one', signal);
    await store.acquire({ ...take, leaseId: 'two' }, signal);
    expect((await store.observe('jobs', signal)).holderLivenessMs).toBeUndefined();
  });

  it('Azure: a declaration written under an earlier term does not count (a holder that keeps unknown keys)', () => {
    const record = { leader: 'a', term: '7', acquiredat: new Date(0).toISOString() };
    expect(readMetadata({ ...record, livenessms: '7:3000' }).holderLivenessMs).toBe(3000);
    expect(readMetadata({ ...record, livenessms: '6:3000' }).holderLivenessMs).toBeUndefined();
    expect(readMetadata({ ...record, livenessms: '3000' }).holderLivenessMs).toBeUndefined();
    expect(readMetadata({ ...record, livenessms: '7:abc' }).holderLivenessMs).toBeUndefined();
  });
});
