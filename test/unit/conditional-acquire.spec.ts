import { afterEach, describe, expect, it } from '@jest/globals';
import type { AcquireRequest } from '../../lib/core/lease-store.js';
import { MemoryLeaseStore } from '../../lib/stores/memory/memory-lease-store.js';
import { ManualClock } from '../support/manual-clock.js';
import { setup, stopAllElectors } from '../support/elector-harness.js';

// An acquire is conditional on the record the candidate observed (issue 18, review S2 and the
// simulation's stepdown seed 20261208 #14307): a stale "free" observation never wins the lease.

afterEach(stopAllElectors);

const live = (): AbortSignal => new AbortController().signal;
const request = (leaseId: string, identity: string, ifMatch?: string): AcquireRequest => ({
  leaseName: 'jobs',
  leaseId,
  identity,
  durationSeconds: 15,
  ...(ifMatch !== undefined ? { ifMatch } : {}),
});

describe('MemoryLeaseStore: record versions and If-Match', () => {
  it('refuses an acquire whose observed version is stale, answering with a fresh observation', async () => {
    const store = new MemoryLeaseStore(new ManualClock());
    await store.acquire(request('id-a', 'a'), live());
    await store.release('jobs', 'id-a', live());
    const seen = await store.observe('jobs', live());
    expect(seen).toMatchObject({ held: false, term: 1 });
    // Another replica leads and hands over to c while our observation travels.
    await store.acquire(request('id-b', 'b'), live());
    await store.release('jobs', 'id-b', live(), { successor: 'c' });

    const stale = await store.acquire(request('id-x', 'x', seen.etag), live());
    expect(stale).toEqual({ acquired: false, observation: await store.observe('jobs', live()) });
    expect(stale.acquired === false && stale.observation).toMatchObject({
      held: false,
      successor: 'c',
      term: 2,
    });
    expect(await store.observe('jobs', live())).toMatchObject({ held: false, holder: 'b', term: 2 });

    const fresh = await store.observe('jobs', live());
    expect(await store.acquire(request('id-c', 'c', fresh.etag), live())).toMatchObject({
      acquired: true,
      term: 3,
    });
  });

  it('changes the version when a tenure begins or a successor is named, never on lease operations', async () => {
    const store = new MemoryLeaseStore(new ManualClock());
    const etag = async (): Promise<string | undefined> => (await store.observe('jobs', live())).etag;
    const absent = await etag();
    await store.acquire(request('id-a', 'a'), live());
    const first = await etag();
    expect(first).not.toBe(absent);
    await store.renew('jobs', 'id-a', live());
    await store.acquire(request('id-a', 'a', first), live()).catch(() => undefined);
    const second = await etag(); // the idempotent re-acquire wrote its term again: a new version
    expect(second).not.toBe(first);
    await store.renew('jobs', 'id-a', live());
    await store.release('jobs', 'id-a', live());
    expect(await etag()).toBe(second);
    store.breakLease('jobs');
    expect(await etag()).toBe(second);
    await store.acquire(request('id-b', 'b', second), live());
    const third = await etag();
    await store.release('jobs', 'id-b', live(), { successor: 'a' });
    expect(await etag()).not.toBe(third);
  });

  it('a missing record: If-Match with its observed version succeeds only while it is still missing', async () => {
    const store = new MemoryLeaseStore(new ManualClock());
    const missing = (await store.observe('jobs', live())).etag;
    expect(missing).toBeDefined();
    await store.acquire(request('id-b', 'b'), live());
    await store.release('jobs', 'id-b', live(), { successor: 'c' });
    expect(await store.acquire(request('id-x', 'x', missing), live())).toMatchObject({ acquired: false });

    // A deleted record that is created again never reuses a version seen before.
    const beforeLoss = (await store.observe('jobs', live())).etag;
    store.deleteRecord('jobs');
    const afterLoss = (await store.observe('jobs', live())).etag;
    await store.acquire(request('id-y', 'y', afterLoss), live());
    expect((await store.observe('jobs', live())).etag).not.toBe(beforeLoss);
    expect(await store.acquire(request('id-z', 'z', beforeLoss), live())).toMatchObject({ acquired: false });
  });
});

describe('candidacy: an acquire made on a stale "free" observation takes nothing', () => {
  it.each([
    ['the record exists', true],
    ['the record is missing', false],
  ])(
    'the lease is handed to a named successor while our acquire travels (%s): we do not take it',
    async (_case, recordExists) => {
      const h = setup();
      if (recordExists) {
        await h.memory.acquire(request('id-old', 'old'), live());
        await h.memory.release('jobs', 'id-old', live());
      }
      const a = h.candidate('a');
      // a observes the lease free at 0 s; its acquire reaches the store only at 3 s.
      a.store.inject('acquire', { type: 'delay', ms: 3_000 });
      a.elector.start();
      await h.clock.advance(1_000);
      // Meanwhile b leads and hands the lease over to c (yieldTo / failback).
      await h.memory.acquire(request('id-b', 'b'), live());
      await h.memory.release('jobs', 'id-b', live(), { successor: 'c' });

      await h.clock.advance(2_500);
      expect(a.elector.isLeader()).toBe(false);
      expect(await h.memory.observe('jobs', live())).toMatchObject({ held: false, successor: 'c' });
      // It competes again on fresh observations: the successor's window, then the lease is free for all.
      await h.clock.advance(30_000);
      expect(a.elector.isLeader()).toBe(true);
    },
  );
});

describe('a record lost between the observation and the acquire', () => {
  it('with record versions the acquire is refused (nothing held, no lead); the loss is noticed on the next poll', async () => {
    // As in leader-elector.election-rules "notices a loss at acquisition time", with versions: b
    // observes at 2.0 s (free, term 1); c acquires (term 2) and the store loses its data before b's
    // acquire lands at 2.3 s.
    const { candidate, clock, memory } = setup();
    const a = candidate('a');
    const b = candidate('b');
    const c = candidate('c');
    await a.elector.start();
    await b.elector.start();
    await clock.advance(100);
    await c.elector.start();
    await clock.advanceTo(1_000);
    await a.elector.stepDown({ cooldownMs: 60_000 });
    b.store.inject('acquire', { type: 'delay', ms: 300 });
    await clock.advanceTo(2_100);
    expect(c.elector.state).toMatchObject({ role: 'leader', term: 2 });
    await clock.advanceTo(2_200);
    memory.reset();
    await clock.advanceTo(2_400);
    expect(await memory.observe('jobs', live())).toMatchObject({ held: false, term: 0 });
    expect(b.elector.isLeader()).toBe(false);
    const twoLeaders: number[] = [];
    for (let t = 0; t < 2 * 15_000; t += 100) {
      await clock.advance(100);
      if ([a, b, c].filter((x) => x.elector.isLeader()).length > 1) twoLeaders.push(clock.now());
    }
    expect(twoLeaders).toEqual([]);
    expect(b.logger.text()).toMatch(/was lost \(noticed by a follower poll/);
    expect([a, b, c].filter((x) => x.elector.isLeader())).toHaveLength(1);
  });
});

describe('candidacy: an acquire in doubt (its answer was an error) does not override a hand-over', () => {
  it('the retry after an unknown outcome is conditional too: a release to a named successor in between makes it take nothing', async () => {
    const h = setup();
    const a = h.candidate('a');
    a.store.inject('acquire', { type: 'transient' }); // a's first acquire: outcome unknown to a
    a.store.inject('acquire', { type: 'delay', ms: 500 }); // its retry reaches the store 500 ms late
    a.elector.start();
    await h.clock.advance(100);
    await h.memory.acquire(request('id-b', 'b'), live()); // b leads
    // a's next poll sees b's lease held and, its outcome unknown, retries (idempotent for its own id).
    while (a.store.callsOf('acquire').length < 2) await h.clock.advance(50);
    await h.memory.release('jobs', 'id-b', live(), { successor: 'c' }); // b hands over to c meanwhile
    await h.clock.advance(1_000);
    expect(a.elector.isLeader()).toBe(false);
    expect(await h.memory.observe('jobs', live())).toMatchObject({ held: false, successor: 'c' });
  });

  it('a lease observed free with a named successor is left to it for the window, also right after an acquire in doubt', async () => {
    const h = setup();
    const a = h.candidate('a');
    a.store.inject('acquire', { type: 'transient' });
    a.elector.start();
    await h.clock.advance(100);
    await h.memory.acquire(request('id-b', 'b'), live());
    await h.memory.release('jobs', 'id-b', live(), { successor: 'c' });
    const polls = a.store.callsOf('observe').length;
    while (a.store.callsOf('observe').length === polls) await h.clock.advance(50); // a's next poll
    await h.clock.advance(1_000);
    expect(a.elector.isLeader()).toBe(false);
    expect(a.store.callsOf('acquire')).toHaveLength(1);
    // c never comes: after the preference window a takes the lease.
    await h.clock.advance(30_000);
    expect(a.elector.isLeader()).toBe(true);
  });
});
