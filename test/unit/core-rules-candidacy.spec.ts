import { afterEach, describe, expect, it } from '@jest/globals';
import type { LeadershipEvent } from '../../lib/core/leadership-events.js';
import { D, RETRY, roleChanges, setup, stopAllElectors } from '../support/elector-harness.js';

// The candidacy's rules (lib/core/candidacy.ts, lib/core/free-lease-preference.ts) at their edges, on
// the memory store and the manual clock: what a follower poll does when stop(), stepDown() or a
// release overtakes it, leases left to expire, and the election delay. Run first by `npm run mutate`
// with MUTATE_RULES=candidacy (docs/mutation/README.md).

afterEach(stopAllElectors);

const observes = (calls: Array<{ operation: string; at: number }>, from = 0) =>
  calls.filter((call) => call.operation === 'observe' && call.at >= from).map((call) => call.at);
const drainFor =
  (clock: { setTimeout(fn: () => void, ms: number): unknown }, ms: number, result = true) =>
  () =>
    new Promise<boolean>((resolve) => clock.setTimeout(() => resolve(result), ms));

describe('the election delay of a candidate with a priority (counted from start, never shortened)', () => {
  it('counts from when the elector was started, not from when it was built', async () => {
    const { candidate, clock } = setup({ presence: true });
    const a = candidate('a', { priority: 5 });
    await clock.advanceTo(5_000);
    await a.elector.start();
    const delay = a.elector.options.preference.electionDelayMs;
    await clock.advanceTo(5_000 + delay - 1);
    expect(a.elector.isLeader()).toBe(false);
    await clock.advanceTo(5_000 + delay);
    expect(a.elector.isLeader()).toBe(true);
  });

  it('a failing presence listing neither shortens the delay nor blocks the lease after it (liveness first)', async () => {
    const { candidate, clock } = setup({ presence: true });
    const a = candidate('a', { priority: 5 });
    a.store.always('list', { type: 'transient' });
    await a.elector.start();
    const delay = a.elector.options.preference.electionDelayMs;
    await clock.advanceTo(delay - 1);
    expect(a.elector.isLeader()).toBe(false);
    await clock.advanceTo(delay);
    expect(a.elector.isLeader()).toBe(true);
  });
});

describe('stepDown() or a release while a follower poll is on its way', () => {
  it('a cooldown begun while the observation was in flight: the next poll comes when it ends', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    const b = candidate('b');
    await a.elector.start();
    await b.elector.start();
    b.store.inject('observe', { type: 'delay', ms: 500 });
    await clock.advanceTo(RETRY + 100); // b's poll is waiting for its observation
    await b.elector.stepDown({ cooldownMs: 3_000 });
    await clock.advanceTo(20_000);
    expect(observes(b.store.calls, RETRY).slice(0, 2)).toEqual([RETRY, RETRY + 100 + 3_000]);
  });

  it('a release begun while the observation was in flight: no acquire until it settled', async () => {
    const { candidate, clock } = setup();
    const b = candidate('b', {}, { beforeHandover: drainFor(clock, 1_000) });
    b.store.inject('acquire', { type: 'transient' }); // in doubt: stepDown releases it
    await b.elector.start();
    b.store.inject('observe', { type: 'delay', ms: 500 });
    await clock.advanceTo(RETRY + 100);
    const steppingDown = b.elector.stepDown({ cooldownMs: 0 });
    await clock.advanceTo(RETRY + 1_100); // the drain ends, the release goes out
    await steppingDown;
    // The next acquire is the poll the settled release woke.
    expect(b.store.callsOf('acquire').map((c) => c.at)).toEqual([0, RETRY + 1_100]);
    expect(b.store.callsOf('release').map((c) => c.at)).toEqual([RETRY + 1_100]);
  });
});

describe('an acquire overtaken by stop(), stepDown() or a release is never led on', () => {
  it('stop() while an acquire is on its way: no tenure begins, and the acquisition is released', async () => {
    const { candidate, clock, memory } = setup();
    const b = candidate('b');
    const events: LeadershipEvent[] = [];
    b.elector.events$.subscribe((event) => events.push(event));
    b.store.inject('acquire', { type: 'delay', ms: 500 });
    void b.elector.start();
    await clock.advanceTo(100);
    const stopping = b.elector.stop();
    await clock.advanceTo(1_000);
    await stopping;
    expect(events.filter((event) => event.type === 'acquired')).toEqual([]);
    expect(b.store.callsOf('release')).toHaveLength(1);
    expect((await memory.observe('jobs', new AbortController().signal)).held).toBe(false);
  });

  it('a release begun (draining) while the acquire was on its way: the acquisition is not led on', async () => {
    const { candidate, clock } = setup();
    const b = candidate('b', {}, { beforeHandover: drainFor(clock, 1_000) });
    b.store.inject('acquire', { type: 'transient' }); // in doubt: stepDown releases it
    await b.elector.start();
    b.store.inject('acquire', { type: 'delay', ms: 500 });
    await clock.advanceTo(RETRY + 100); // b's second acquire is on its way
    const steppingDown = b.elector.stepDown({ cooldownMs: 0 });
    await clock.advanceTo(RETRY + 1_100 - 1); // the acquire was answered at RETRY + 500; still draining
    expect(roleChanges(b.states)).not.toContain('leader');
    await clock.advanceTo(RETRY + 1_100);
    await steppingDown;
    expect(b.store.callsOf('release').map((c) => c.at)).toEqual([RETRY + 1_100]);
  });

  it('a release answered before the acquire: the acquisition is released with its own lease id, and the cooldown still ends on time', async () => {
    const { candidate, clock, memory } = setup();
    const b = candidate('b');
    b.store.inject('acquire', { type: 'transient' }); // in doubt: stepDown releases it
    await b.elector.start();
    b.store.inject('acquire', { type: 'delay', ms: 500 });
    await clock.advanceTo(RETRY + 100); // b's second acquire is on its way
    const before = b.elector.leaseId;
    await b.elector.stepDown({ cooldownMs: 3_000 }); // released at once (no drain)
    const afterRelease = b.elector.leaseId;
    expect(afterRelease).not.toBe(before); // a release retires the id it carried
    await clock.advanceTo(RETRY + 500); // the acquire lands and is answered: released again
    expect(b.store.callsOf('release').map((c) => c.at)).toEqual([RETRY + 100, RETRY + 500]);
    expect(b.elector.leaseId).toBe(afterRelease); // that release carried the older id
    expect((await memory.observe('jobs', new AbortController().signal)).held).toBe(false);
    expect(roleChanges(b.states)).not.toContain('leader');
    await clock.advanceTo(20_000);
    expect(observes(b.store.calls, RETRY + 1).slice(0, 1)).toEqual([RETRY + 100 + 3_000]);
  });
});

describe('a lease left to expire (the drain before its release failed)', () => {
  it('an acquire in doubt whose drain fails is left to expire: no poll for one lease duration, and stop() says so instead of releasing', async () => {
    const { candidate, clock } = setup();
    const b = candidate('b', {}, { beforeHandover: drainFor(clock, 1_000, false) });
    b.store.inject('acquire', { type: 'transient' }); // in doubt
    await b.elector.start();
    await clock.advanceTo(1_000);
    const steppingDown = b.elector.stepDown({ cooldownMs: 0 });
    await clock.advanceTo(2_000); // the drain fails: left to expire at 2 s
    await steppingDown;
    await clock.advanceTo(2_000 + D + 5_000);
    expect(observes(b.store.calls, 1).slice(0, 1)).toEqual([2_000 + D]);
    await clock.advanceTo(2_000 + D + 5_000);
    expect(b.store.callsOf('release')).toEqual([]);
  });

  it('stop() after a lease was left to expire sends no release and logs until when it may be held', async () => {
    const { candidate, clock } = setup();
    const b = candidate('b', {}, { beforeHandover: drainFor(clock, 1_000, false) });
    b.store.inject('acquire', { type: 'transient' }); // in doubt
    await b.elector.start();
    const steppingDown = b.elector.stepDown({ cooldownMs: 0 });
    await clock.advanceTo(1_000); // left to expire at 1 s
    await steppingDown;
    await clock.advanceTo(4_000);
    const stopping = b.elector.stop();
    await clock.advanceTo(5_000);
    await stopping;
    expect(b.store.callsOf('release')).toEqual([]);
    // Retired until 1 s + D + requestTimeoutMs; the line rounds the rest up to whole seconds.
    // stop() drains again first (1 s), so the line is written at 5 s.
    const heldUntil = 1_000 + D + b.elector.options.requestTimeoutMs;
    expect(b.logger.text()).toContain(
      `log: Not releasing lease "jobs": it was left to expire (work of an ended tenure may still run) ` +
        `and is surely free within ${Math.ceil((heldUntil - 5_000) / 1000)} s`,
    );
  });

  it('a tenure whose drain fails stays out until its lease surely expired; a hand-over left to expire one preference window more', async () => {
    const stepped = setup();
    const a = stepped.candidate('a', {}, { beforeHandover: drainFor(stepped.clock, 500, false) });
    await a.elector.start();
    await stepped.clock.advanceTo(1_000);
    const steppingDown = a.elector.stepDown({ cooldownMs: 0 });
    await stepped.clock.advanceTo(1_500);
    await steppingDown;
    await stepped.clock.advanceTo(3 * D);
    expect(observes(a.store.calls, 1).slice(0, 1)).toEqual([D]); // acquired at 0: expires by D
    await stopAllElectors();

    const handed = setup({ presence: true });
    const x = handed.candidate('x', {}, { beforeHandover: drainFor(handed.clock, 500, false) });
    const y = handed.candidate('y');
    y.store.always('acquire', { type: 'hang' }); // the successor cannot take it
    await x.elector.start();
    await y.elector.start();
    await handed.clock.advanceTo(1_000);
    const yielding = x.elector.yieldTo('y');
    await handed.clock.advanceTo(1_500);
    await yielding;
    await handed.clock.advanceTo(4 * D);
    const window = x.elector.options.preference.preferenceWindowMs;
    expect(observes(x.store.calls, 1).slice(0, 1)).toEqual([D + window]);
  });
});
