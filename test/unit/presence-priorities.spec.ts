import { afterEach, describe, expect, it } from '@jest/globals';
import type { Clock } from '../../lib/core/clock.js';
import { InvalidElectionOptionError } from '../../lib/core/election-options.js';
import { LeaderElector } from '../../lib/core/leader-elector.js';
import {
  D,
  RETRY,
  leadersAmong,
  partition,
  setup,
  stopAllElectors,
  type Candidate,
} from '../support/elector-harness.js';
import { RecordingLogger } from '../support/recording-logger.js';

// Presence and preferred leaders (issue 9) on the memory store with a manual clock. Defaults here:
// presence interval 10 s, stale after 30 s, preference window 2 × 2 s + 5 s = 9 s, election delay
// (with a priority) 10 s + 2 s = 12 s.

afterEach(stopAllElectors);

const WINDOW = 2 * RETRY + 5_000;
const DELAY = 10_000 + RETRY;

/** Advances in 100 ms steps asserting at most one leader; returns who led at the end. */
async function run(
  clock: { advance(ms: number): Promise<void> },
  ms: number,
  all: Candidate[],
): Promise<string | undefined> {
  for (let t = 0; t < ms; t += 100) {
    await clock.advance(100);
    expect(leadersAmong(...all).length).toBeLessThanOrEqual(1);
  }
  return leadersAmong(...all)[0]?.elector.identity;
}

describe('presence', () => {
  it('lists every live candidate with priority, role and self; a stopped one withdraws at once, a crashed one drops out after staleAfterMs and the leader deletes its record', async () => {
    const { candidate, clock, memory } = setup({ presence: true });
    const a = candidate('a');
    const b = candidate('b', { priority: 0 });
    const c = candidate('c', { canLead: false });
    for (const x of [a, b, c]) await x.elector.start();
    await clock.advance(1_000);
    const members = await a.elector.members();
    expect(members.map((m) => [m.identity, m.role, m.self, m.canLead])).toEqual([
      ['a', 'leader', true, true],
      ['b', 'follower', false, true],
      ['c', 'follower', false, false],
    ]);
    await b.elector.stop();
    await clock.advance(10_000);
    expect((await a.elector.members()).map((m) => m.identity)).toEqual(['a', 'c']);

    partition(c.store, 'hang'); // c crashes: its record is no longer refreshed
    await clock.advance(25_000);
    expect((await a.elector.members()).map((m) => m.identity)).toEqual(['a', 'c']); // refreshed 20-30 s ago: still live
    await clock.advance(10_000);
    expect((await a.elector.members()).map((m) => m.identity)).toEqual(['a']);
    expect((await memory.list('jobs', new AbortController().signal)).map((r) => r.identity)).toContain('c');
    await clock.advance(40_000); // orphan: not refreshed for 2 × staleAfterMs → the leader deletes it
    expect((await memory.list('jobs', new AbortController().signal)).map((r) => r.identity)).toEqual(['a']);
    expect(a.logger.text()).toMatch(/Removed the presence record of "c"/);
  });

  it('judges liveness on the store clock: a candidate whose wall clock is hours off is live, and its start time only breaks ties', async () => {
    const { clock, memory, electors } = setup({ presence: true });
    const skewed: Clock = {
      ...clock,
      now: () => clock.now(),
      wallNow: () => clock.wallNow() + 3 * 3_600_000,
      setTimeout: (cb, ms) => clock.setTimeout(cb, ms),
      clearTimeout: (h) => clock.clearTimeout(h),
    };
    const a = new LeaderElector(
      memory,
      { leaseName: 'jobs', identity: 'a', retryJitter: 0 },
      { clock, logger: new RecordingLogger() },
    );
    const z = new LeaderElector(
      memory,
      { leaseName: 'jobs', identity: 'z', retryJitter: 0 },
      { clock: skewed, logger: new RecordingLogger() },
    );
    electors.push(a, z);
    await a.start();
    await z.start();
    await clock.advance(20_000);
    const members = await a.members();
    expect(members.map((m) => m.identity)).toEqual(['a', 'z']); // same priority: earlier start first (z's clock says 3 h later)
    expect(members.find((m) => m.identity === 'z')!.lastSeenAgoMs).toBeLessThanOrEqual(10_000);
  });

  it('presence: false makes no presence requests; members() rejects with a clear error', async () => {
    const { candidate, clock } = setup({ presence: true });
    const a = candidate('a', { presence: false });
    await a.elector.start();
    await clock.advance(60_000);
    expect(
      a.store.calls.filter((call) => !['observe', 'acquire', 'renew', 'release'].includes(call.operation)),
    ).toHaveLength(0);
    await expect(a.elector.members()).rejects.toThrow(/Presence is off/);
  });
});

describe('preferred leaders', () => {
  for (const order of [
    ['low', 'high', 'mid'],
    ['high', 'mid', 'low'],
    ['mid', 'low', 'high'],
  ]) {
    it(`started in the order ${order.join(', ')}: the highest priority leads after the election delay`, async () => {
      const { candidate, clock } = setup({ presence: true });
      const priorities: Record<string, number> = { low: 1, mid: 2, high: 3 };
      const all: Candidate[] = [];
      for (const name of order) {
        const x = candidate(name, { priority: priorities[name] });
        all.push(x);
        await x.elector.start();
        await clock.advance(500);
      }
      expect(await run(clock, DELAY + 3 * WINDOW, all)).toBe('high');
    });
  }

  it('kill the best: the next best leads within D + R + one window (failover is not slowed by preference); restart it: with failback off leadership stays', async () => {
    const { candidate, clock } = setup({ presence: true });
    const high = candidate('high', { priority: 3 });
    const mid = candidate('mid', { priority: 2 });
    const low = candidate('low', { priority: 1 });
    for (const x of [high, mid, low]) await x.elector.start();
    expect(await run(clock, DELAY + 2 * WINDOW, [high, mid, low])).toBe('high');
    partition(high.store, 'hang'); // crash: no release, no presence refresh
    const crashedAt = clock.now();
    let midLeadsAt: number | undefined;
    for (let t = 0; t < D + 3 * WINDOW; t += 100) {
      await clock.advance(100);
      expect(leadersAmong(high, mid, low).length).toBeLessThanOrEqual(1);
      if (mid.elector.isLeader()) midLeadsAt ??= clock.now();
    }
    expect(midLeadsAt).toBeDefined();
    expect(midLeadsAt! - crashedAt).toBeLessThanOrEqual(D + RETRY + WINDOW + 1_000);
    expect(low.elector.isLeader()).toBe(false);

    const back = candidate('high-again', { priority: 3 });
    await back.elector.start();
    expect(await run(clock, 120_000, [back, mid, low])).toBe('mid'); // no failback by default
  });

  it('with failback on, a better candidate that returns gets the lease back after afterStableMs, handed over without overlap', async () => {
    const { candidate, clock } = setup({ presence: true });
    const mid = candidate('mid', { priority: 2, failback: { afterStableMs: 20_000 } });
    const low = candidate('low', { priority: 1, failback: { afterStableMs: 20_000 } });
    for (const x of [mid, low]) await x.elector.start();
    expect(await run(clock, DELAY + WINDOW, [mid, low])).toBe('mid');
    const high = candidate('high', { priority: 3, failback: { afterStableMs: 20_000 } });
    await high.elector.start();
    expect(await run(clock, 15_000, [high, mid, low])).toBe('mid'); // not yet stable
    expect(await run(clock, 30_000, [high, mid, low])).toBe('high');
    expect(low.store.callsOf('acquire').filter((call) => call.at > DELAY + WINDOW)).toHaveLength(0); // only the named successor took it
    expect(mid.logger.text()).toMatch(/handing over to "high" \(failback/);
  });

  it('a best candidate that cannot take the lease (its acquire hangs, its presence is fresh) holds the others back for one window only', async () => {
    const { candidate, clock } = setup({ presence: true });
    const high = candidate('high', { priority: 3 });
    const mid = candidate('mid', { priority: 2 });
    high.store.always('acquire', { type: 'hang' });
    await high.elector.start();
    await mid.elector.start();
    let midLeadsAt: number | undefined;
    for (let t = 0; t < DELAY + 3 * WINDOW; t += 100) {
      await clock.advance(100);
      if (mid.elector.isLeader()) midLeadsAt ??= clock.now();
    }
    expect(midLeadsAt).toBeDefined();
    expect(midLeadsAt!).toBeGreaterThanOrEqual(WINDOW);
    expect(midLeadsAt!).toBeLessThanOrEqual(DELAY + WINDOW + RETRY + 500);
  });

  it('canLead: false never leads, even alone', async () => {
    const { candidate, clock } = setup({ presence: true });
    const observer = candidate('observer', { canLead: false });
    await observer.elector.start();
    await clock.advance(120_000);
    expect(observer.elector.isLeader()).toBe(false);
    expect(observer.store.callsOf('acquire')).toHaveLength(0);
  });

  it('yieldTo(identity) hands over to that live member only; the others leave the free lease to it', async () => {
    const { candidate, clock } = setup({ presence: true });
    const a = candidate('a');
    const b = candidate('b');
    const c = candidate('c');
    for (const x of [a, b, c]) await x.elector.start();
    await clock.advance(1_000);
    await expect(a.elector.yieldTo('nobody')).rejects.toThrow(/not a live member/);
    await expect(b.elector.yieldTo('c')).rejects.toThrow(/Not the leader/);
    await a.elector.yieldTo('c');
    expect(await run(clock, 3 * RETRY, [a, b, c])).toBe('c');
    expect(b.store.callsOf('acquire')).toHaveLength(0);
  });

  it('refuses preference options that cannot work, naming the option', () => {
    const { memory } = setup({ presence: true });
    expect(() => new LeaderElector(memory, { leaseName: 'x', identity: 'a', priority: Number.NaN })).toThrow(
      InvalidElectionOptionError,
    );
    expect(
      () => new LeaderElector(memory, { leaseName: 'x', identity: 'a', priority: 1, presence: false }),
    ).toThrow(/"priority".*needs presence/);
    expect(
      () =>
        new LeaderElector(memory, {
          leaseName: 'x',
          identity: 'a',
          presence: { intervalMs: 10_000, staleAfterMs: 15_000 },
        }),
    ).toThrow(/"presence.staleAfterMs"/);
    expect(
      () => new LeaderElector(memory, { leaseName: 'x', identity: 'a', failback: { afterStableMs: -1 } }),
    ).toThrow(/"failback.afterStableMs"/);
    const noPresence = {
      description: 'bare',
      observe: memory.observe.bind(memory),
      acquire: memory.acquire.bind(memory),
      renew: memory.renew.bind(memory),
      release: memory.release.bind(memory),
    };
    expect(() => new LeaderElector(noPresence, { leaseName: 'x', identity: 'a', priority: 2 })).toThrow(
      /"priority".*presence records/,
    );
  });
});

describe('preferred leaders: findings of the benchmark runs', () => {
  it('failback never hands the lease to a replica that crashed after announcing (its record is not yet stale, but it stopped refreshing)', async () => {
    const { candidate, clock } = setup({ presence: true });
    const mid = candidate('mid', { priority: 2, failback: { afterStableMs: 5_000 } });
    await mid.elector.start();
    expect(await run(clock, DELAY + WINDOW, [mid])).toBe('mid');
    const high = candidate('high', { priority: 3, failback: { afterStableMs: 5_000 } });
    await high.elector.start(); // announces once…
    await clock.advance(500);
    partition(high.store, 'hang'); // …and crashes: its record stays "live" for staleAfterMs (30 s)
    await run(clock, 25_000, [mid, high]);
    expect(mid.elector.isLeader()).toBe(true); // before the fix: handed over to the dead replica at ~5 s
    expect(mid.logger.text()).not.toMatch(/handing over/);
  });

  it('a crash goes to the next priority, not to a worse one whose wait shrank when the dead best record went stale mid-window', async () => {
    const { candidate, clock } = setup({ presence: { intervalMs: 10_000, staleAfterMs: 21_000 } });
    const high = candidate('high', { priority: 3 });
    const mid = candidate('mid', { priority: 2 });
    const low = candidate('low', { priority: 1 });
    for (const x of [high, mid, low]) await x.elector.start();
    expect(await run(clock, DELAY + 3 * WINDOW, [high, mid, low])).toBe('high');
    await clock.advanceTo(Math.ceil(clock.now() / 10_000) * 10_000 + 100); // just after high's refresh
    partition(high.store, 'hang');
    mid.store.inject('acquire', { type: 'delay', ms: 6_000 }); // mid is slow to take the lease
    expect(await run(clock, D + 4 * WINDOW, [high, mid, low])).toBe('mid');
    expect(low.store.callsOf('acquire')).toHaveLength(0);
  });

  it('a graceful stop right after a hand-over returns the lease within about a poll (no window-long cooldown on the old leader)', async () => {
    const { candidate, clock } = setup({ presence: true });
    const mid = candidate('mid', { priority: 2, failback: { afterStableMs: 20_000 } });
    await mid.elector.start();
    expect(await run(clock, DELAY + WINDOW, [mid])).toBe('mid');
    const high = candidate('high', { priority: 3, failback: { afterStableMs: 20_000 } });
    await high.elector.start();
    let handedOverAt: number | undefined;
    for (let t = 0; t < 60_000 && handedOverAt === undefined; t += 100) {
      await clock.advance(100);
      if (high.elector.isLeader()) handedOverAt = clock.now();
    }
    expect(handedOverAt).toBeDefined();
    await clock.advance(1_000);
    await high.elector.stop(); // graceful: releases, no successor
    const stoppedAt = clock.now();
    let midBackAt: number | undefined;
    for (let t = 0; t < 20_000 && midBackAt === undefined; t += 100) {
      await clock.advance(100);
      if (mid.elector.isLeader()) midBackAt = clock.now();
    }
    expect(midBackAt).toBeDefined();
    expect(midBackAt! - stoppedAt).toBeLessThanOrEqual(RETRY + 200); // before the fix: up to the rest of a 9 s window
  });
});
