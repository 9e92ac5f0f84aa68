import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { LeaderElector, LeadershipEndedError } from '../../lib/core/leader-elector.js';
import { FaultyStore } from '../support/faulty-store.js';
import {
  D,
  MARGIN,
  RENEW,
  RETRY,
  partition,
  roleChanges,
  setup,
  stopAllElectors,
} from '../support/elector-harness.js';

afterEach(stopAllElectors);

describe('LeaderElector: acquiring', () => {
  it('acquires a free lease during start(): leader as soon as start() resolves, with term 1', async () => {
    const { candidate } = setup();
    const { elector, store } = candidate('a');
    await elector.start();
    expect(elector.isLeader()).toBe(true);
    expect(elector.state).toMatchObject({ role: 'leader', leader: 'a', term: 1, identity: 'a' });
    expect(store.calls.map((call) => call.operation)).toEqual(['observe', 'acquire']);
    expect(elector.leadership?.term).toBe(1);
    expect(elector.leadership?.signal.aborted).toBe(false);
  });

  it('with two candidates exactly one leads; the follower sees its identity and term and never tries to acquire a held lease', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    const b = candidate('b');
    await a.elector.start();
    await b.elector.start();
    for (let t = 0; t < 60_000; t += 250) {
      await clock.advance(250);
      expect([a.elector.isLeader(), b.elector.isLeader()]).toEqual([true, false]);
    }
    expect(b.elector.state).toMatchObject({ role: 'follower', leader: 'a', term: 1 });
    expect(b.store.callsOf('acquire')).toHaveLength(0);
    // Follower polls once per retryInterval.
    const observeTimes = b.store.callsOf('observe').map((call) => call.at);
    expect(observeTimes.slice(0, 4)).toEqual([0, RETRY, 2 * RETRY, 3 * RETRY]);
  });

  it('never has two leaders among five candidates started at the same instant', async () => {
    const { candidate, clock, electors } = setup();
    for (const name of ['a', 'b', 'c', 'd', 'e']) candidate(name, { retryJitter: 0.2 });
    await Promise.all(electors.map((elector) => elector.start()));
    for (let t = 0; t < 120_000; t += 100) {
      await clock.advance(100);
      expect(electors.filter((elector) => elector.isLeader()).length).toBe(1);
    }
  });

  it('polls with jitter that stays within retryInterval ± 20 %', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    const b = candidate('b', { retryJitter: 0.2 });
    await a.elector.start();
    await b.elector.start();
    await clock.advance(120_000);
    const times = b.store.callsOf('observe').map((call) => call.at);
    const gaps = times.slice(1).map((time, i) => time - times[i]!);
    expect(gaps.length).toBeGreaterThan(40);
    for (const gap of gaps) {
      expect(gap).toBeGreaterThanOrEqual(RETRY * 0.8);
      expect(gap).toBeLessThanOrEqual(RETRY * 1.2);
    }
    expect(new Set(gaps.map((gap) => Math.round(gap))).size).toBeGreaterThan(5);
  });

  it('takes the lease directly after an acquire whose response was lost (idempotent by lease id)', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    a.store.inject('acquire', { type: 'succeed-then-fail' });
    await a.elector.start();
    expect(a.elector.isLeader()).toBe(false);
    await clock.advance(RETRY);
    expect(a.elector.isLeader()).toBe(true);
    // The retry observes first (a lost record is noticed there), then acquires with the same lease
    // id although the record may name a previous holder: the lease may be ours.
    expect(a.store.calls.map((call) => call.operation)).toEqual(['observe', 'acquire', 'observe', 'acquire']);
    expect(a.elector.state.term).toBe(2);
  });

  it('refuses a lease whose acquisition took longer than D − safetyMargin, and re-acquires with a new term', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a', { requestTimeoutMs: D });
    a.store.inject('acquire', { type: 'delay', ms: D - MARGIN });
    const starting = a.elector.start();
    await clock.advance(D - MARGIN);
    await starting;
    expect(a.elector.isLeader()).toBe(true);
    const leaderStates = a.states.filter((state) => state.role === 'leader');
    expect(leaderStates.map((state) => state.term)).toEqual([2]);
    expect(a.logger.text()).toMatch(/too late to use it/);
  });
});

describe('LeaderElector: the deadline (tSend + D − safetyMargin)', () => {
  it('measures the deadline from the time BEFORE the acquire was sent, not from the answer', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    a.store.inject('acquire', { type: 'delay', ms: 3_000 });
    const starting = a.elector.start();
    await clock.advance(3_000);
    await starting;
    expect(a.elector.isLeader()).toBe(true);
    partition(a.store, 'hang-ignoring-signal');
    await clock.advanceTo(D - MARGIN - 1);
    expect(a.elector.isLeader()).toBe(true);
    await clock.advanceTo(D - MARGIN);
    expect(a.elector.isLeader()).toBe(false);
  });

  it('moves the deadline to renewal send time + D − safetyMargin after each successful renewal', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    await a.elector.start();
    a.store.inject('renew', { type: 'delay', ms: 2_000 });
    await clock.advanceTo(RENEW + 2_000); // renewal sent at 5 s, answered at 7 s
    partition(a.store, 'hang-ignoring-signal');
    await clock.advanceTo(RENEW + D - MARGIN - 1);
    expect(a.elector.isLeader()).toBe(true);
    await clock.advanceTo(RENEW + D - MARGIN);
    expect(a.elector.isLeader()).toBe(false);
    expect(a.elector.state.role).toBe('follower');
  });

  it('steps down AT the deadline when a renewal hangs (even one that ignores its abort signal), not when it returns', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    await a.elector.start();
    const leadership = a.elector.leadership!;
    partition(a.store, 'hang-ignoring-signal');
    await clock.advanceTo(D - MARGIN - 1);
    expect(a.elector.isLeader()).toBe(true);
    expect(leadership.signal.aborted).toBe(false);
    await clock.advanceTo(D - MARGIN);
    expect(a.elector.isLeader()).toBe(false);
    expect(a.elector.state.role).toBe('follower');
    expect(leadership.signal.aborted).toBe(true);
    expect(leadership.signal.reason).toBeInstanceOf(LeadershipEndedError);
    expect(String(leadership.signal.reason.message)).toMatch(/deadline/);
    // Renewals were sent and failed: the step-down names the storage error, not the event loop.
    expect(a.logger.text()).toMatch(
      /lease deadline reached without a successful renewal \(last error: renew timed out after \d+ ms\)/,
    );
    expect(a.logger.text()).not.toMatch(/event loop/);
    // The hung calls never returned.
    expect(a.store.callsOf('renew').every((call) => call.endedAt === undefined)).toBe(true);
  });

  it('bounds each renewal by min(requestTimeout, time left before the deadline)', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    await a.elector.start();
    partition(a.store, 'hang');
    await clock.advanceTo(D);
    const renewals = a.store.callsOf('renew').map((call) => [call.at, call.endedAt]);
    // 5 s: sent, aborted by the 5 s request timeout at 10 s; retried 0.5 s later with only 3.5 s
    // left, aborted exactly at the deadline (14 s).
    expect(renewals).toEqual([
      [5_000, 10_000],
      [10_500, 14_000],
    ]);
    expect(a.elector.isLeader()).toBe(false);
  });

  it('refuses a late tick: isLeader() is false past the deadline even before any timer has run', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    await a.elector.start();
    const leadership = a.elector.leadership!;
    partition(a.store, 'hang-ignoring-signal');
    clock.jump(D - MARGIN - 1); // the process was paused; no timer has fired yet
    expect(a.elector.isLeader()).toBe(true);
    clock.jump(1);
    expect(a.elector.isLeader()).toBe(false); // the gate refuses before any timer has run…
    // …and steps down on the spot: the signal a long job watches aborts before the caller goes on.
    expect(leadership.signal.aborted).toBe(true);
    expect(leadership.signal.reason).toBeInstanceOf(LeadershipEndedError);
    expect(a.elector.state.role).toBe('follower');
    expect(a.elector.leadership).toBeUndefined();
    expect(a.elector.remainingLeaseMs()).toBe(0);
    expect(a.logger.text()).toMatch(/Stepped down from "jobs" \(term 1\): lease deadline reached/);
  });

  it('reading the state past the deadline also steps down at once (no leader role shown after the deadline)', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    await a.elector.start();
    const leadership = a.elector.leadership!;
    partition(a.store, 'hang-ignoring-signal');
    clock.jump(D - MARGIN);
    expect(a.elector.state.role).toBe('follower');
    expect(leadership.signal.aborted).toBe(true);
    expect(leadership.isActive()).toBe(false);
    // No renewal could be sent (no timer ran since 0; renewal was due at 5 s): the line says why.
    expect(a.logger.text()).toMatch(
      /no renewal could be sent for 9\.0 s after it was due \(event loop blocked or process paused\?\)/,
    );
  });
});

describe('LeaderElector: renewal failures', () => {
  it('keeps leadership (same term, signal not aborted) when transient failures are followed by success', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    await a.elector.start();
    const leadership = a.elector.leadership!;
    a.store.inject('renew', { type: 'transient' }, 3);
    await clock.advance(60_000);
    expect(a.elector.isLeader()).toBe(true);
    expect(leadership.signal.aborted).toBe(false);
    expect(a.elector.state.term).toBe(1);
    expect(roleChanges(a.states)).toEqual(['idle', 'follower', 'leader']);
    // Retries were spaced by renewRetryIntervalMs (500 ms).
    expect(
      a.store
        .callsOf('renew')
        .slice(0, 4)
        .map((call) => call.at),
    ).toEqual([5_000, 5_500, 6_000, 6_500]);
  });

  it('steps down immediately on a definite loss, aborting the leadership signal with the reason', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    await a.elector.start();
    const leadership = a.elector.leadership!;
    a.store.inject('renew', { type: 'lost' });
    await clock.advanceTo(RENEW - 1);
    expect(a.elector.isLeader()).toBe(true);
    expect(leadership.isActive()).toBe(true);
    await clock.advanceTo(RENEW);
    expect(leadership.signal.aborted).toBe(true);
    expect(leadership.signal.reason.message).toMatch(/lease lost/);
    expect(leadership.isActive()).toBe(false);
    expect(roleChanges(a.states)).toEqual(['idle', 'follower', 'leader', 'follower', 'leader']);
    // The memory lease was still recorded as ours, so the next poll took it again, with a new term.
    expect(a.elector.state.term).toBe(2);
  });

  it('loses leadership when an operator breaks the lease and another replica takes it; terms increase', async () => {
    const { candidate, clock, memory } = setup();
    const a = candidate('a');
    const b = candidate('b');
    await a.elector.start();
    await b.elector.start();
    memory.breakLease('jobs');
    await clock.advance(RETRY);
    expect(b.elector.isLeader()).toBe(true);
    expect(b.elector.state.term).toBe(2);
    await clock.advanceTo(RENEW);
    expect(a.elector.isLeader()).toBe(false);
    expect(a.elector.state).toMatchObject({ role: 'follower' });
    await clock.advance(RETRY);
    expect(a.elector.state).toMatchObject({ leader: 'b', term: 2 });
  });

  it('after stepping down for an outage, leads again with a higher term once the store answers', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    await a.elector.start();
    a.store.always('renew', { type: 'transient' }).always('observe', { type: 'transient' });
    await clock.advanceTo(D);
    expect(a.elector.isLeader()).toBe(false);
    expect(a.elector.state.consecutiveFailures).toBeGreaterThan(5);
    expect(a.elector.state.lastError).toMatchObject({ kind: 'transient' });
    a.store.clear();
    await clock.advance(RETRY);
    expect(a.elector.isLeader()).toBe(true);
    expect(a.elector.state.term).toBe(2);
    expect(a.elector.state.lastError).toBeUndefined();
    expect(a.logger.text()).toMatch(/reachable again/);
  });
});

describe('LeaderElector: terms', () => {
  it('keeps terms increasing even when the store loses its records (the new term exceeds every term seen)', async () => {
    const { candidate, clock, memory } = setup();
    const a = candidate('a');
    const b = candidate('b');
    await a.elector.start();
    await b.elector.start();
    await a.elector.stepDown({ cooldownMs: 3_000 });
    await clock.advance(RETRY);
    expect(b.elector.state).toMatchObject({ role: 'leader', term: 2 });
    await clock.advance(2 * RETRY);
    expect(a.elector.state).toMatchObject({ role: 'follower', leader: 'b', term: 2 });
    memory.reset(); // e.g. an emulator restarted in memory: the recorded term is gone
    await b.elector.stop({ release: false });
    await clock.advance(D + 2 * RETRY); // the loss is noticed, then waited out for one lease duration
    expect(a.elector.isLeader()).toBe(true);
    expect(a.elector.state.term).toBe(3);
  });
});

describe('LeaderElector: the loop never dies', () => {
  it('keeps electing with a logger that throws on every call, and with one that has no methods', async () => {
    const { clock, memory, electors } = setup();
    const fail = (): never => {
      throw new Error('logger is broken');
    };
    const throwing = { debug: fail, log: fail, warn: fail, error: fail };
    const store = new FaultyStore(memory, clock);
    // Unexpected errors are logged from the loop's own catch block: a throwing logger there used to
    // end the loop for good.
    store.inject('observe', { type: 'plain-error' }, 2);
    const a = new LeaderElector(
      store,
      { leaseName: 'jobs', identity: 'a', retryJitter: 0 },
      { clock, logger: throwing },
    );
    electors.push(a);
    await a.start();
    await clock.advance(3 * RETRY);
    expect(a.isLeader()).toBe(true);
    store.inject('renew', { type: 'transient' }, 2); // logged as a warning: throws, ignored
    await clock.advance(30_000);
    expect(a.isLeader()).toBe(true);
    await a.stepDown({ cooldownMs: 60_000 }); // logs the step-down
    expect(a.isLeader()).toBe(false);

    const bare = new LeaderElector(
      new FaultyStore(memory, clock),
      { leaseName: 'jobs', identity: 'b', retryJitter: 0 },
      { clock, logger: {} as never },
    );
    electors.push(bare);
    await bare.start();
    expect(bare.isLeader()).toBe(true);
  });

  it('never creates AbortSignal.any() composites (Node 20 keeps each one alive from the long-lived stop signal)', async () => {
    const spy = jest.spyOn(AbortSignal, 'any');
    try {
      const { candidate, clock } = setup();
      const a = candidate('a');
      const b = candidate('b');
      await a.elector.start();
      await b.elector.start();
      a.store.inject('renew', { type: 'transient' }, 2);
      b.store.inject('observe', { type: 'hang' }, 1);
      await clock.advance(60_000); // polls, renewals, retries, a request timeout
      await a.elector.stepDown({ cooldownMs: 30_000 });
      await clock.advance(10_000);
      expect(b.elector.isLeader()).toBe(true);
      expect(a.store.callsOf('renew').length).toBeGreaterThan(5);
      expect(spy).not.toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
  });

  it('survives unexpected (non-store) errors and keeps polling', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    a.store.inject('observe', { type: 'plain-error' }, 3);
    await a.elector.start();
    expect(a.elector.isLeader()).toBe(false);
    await clock.advance(3 * RETRY);
    expect(a.elector.isLeader()).toBe(true);
  });

  it('backs off on permanent errors (doubling up to maxErrorBackoffMs), logs them as errors, and recovers', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    a.store.always('observe', { type: 'permanent' });
    await a.elector.start();
    await clock.advance(120_000);
    const times = a.store.callsOf('observe').map((call) => call.at);
    expect(times.slice(0, 6)).toEqual([0, 2_000, 6_000, 14_000, 30_000, 60_000]);
    expect(times[6]).toBe(90_000); // capped at 30 s
    expect(a.logger.lines.filter((line) => line.level === 'error').length).toBe(times.length);
    expect(a.logger.text()).toMatch(/permanent error during follower poll/);
    a.store.clear();
    await clock.advance(30_000);
    expect(a.elector.isLeader()).toBe(true);
  });

  it('start() resolves after the first attempt even when the store is down', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    a.store.inject('observe', { type: 'hang' });
    const starting = a.elector.start();
    let started = false;
    void starting.then(() => (started = true));
    await clock.advance(4_999);
    expect(started).toBe(false);
    await clock.advance(1); // request timeout (5 s) ends the first attempt
    expect(started).toBe(true);
    expect(a.elector.state.role).toBe('follower');
  });
});

describe('LeaderElector: stop, step-down, waiting', () => {
  it('stop() releases the lease; a follower leads within one retryInterval', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    const b = candidate('b');
    await a.elector.start();
    await b.elector.start();
    await clock.advance(7_000);
    const leadership = a.elector.leadership!;
    await a.elector.stop();
    expect(leadership.signal.aborted).toBe(true);
    expect(a.elector.state.role).toBe('stopped');
    expect(a.store.callsOf('release')).toHaveLength(1);
    const stoppedAt = clock.now();
    await clock.advance(RETRY);
    expect(b.elector.isLeader()).toBe(true);
    const takeover = b.store.callsOf('acquire')[0]!.at - stoppedAt;
    expect(takeover).toBeLessThanOrEqual(RETRY);
    expect(b.elector.state.term).toBe(2);
  });

  it('a crashed leader (no release) is replaced only after its lease expires', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    const b = candidate('b');
    await a.elector.start();
    await b.elector.start();
    await clock.advanceTo(11_000); // last renewal at 10 s → the lease ends at 25 s
    await a.elector.stop({ release: false });
    await clock.advanceTo(25_000 - 1);
    expect(b.elector.isLeader()).toBe(false);
    await clock.advanceTo(25_000 + RETRY);
    expect(b.elector.isLeader()).toBe(true);
  });

  it('stop() as follower releases nothing, aborts a hung request, and completes the state stream', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    const b = candidate('b');
    await a.elector.start();
    await b.elector.start();
    b.store.always('observe', { type: 'hang' });
    await clock.advance(RETRY + 100);
    let completed = false;
    b.elector.state$.subscribe({ complete: () => (completed = true) });
    await b.elector.stop();
    expect(b.store.callsOf('release')).toHaveLength(0);
    expect(b.store.callsOf('observe').at(-1)!.signal.aborted).toBe(true);
    expect(completed).toBe(true);
    await expect(b.elector.start()).rejects.toThrow(/stopped/);
  });

  it('runs beforeRelease after the leadership signal aborts and before the lease is released', async () => {
    const { candidate } = setup();
    const a = candidate('a');
    await a.elector.start();
    const leadership = a.elector.leadership!;
    const seen: string[] = [];
    await a.elector.stop({
      beforeRelease: async () => {
        seen.push(`aborted=${leadership.signal.aborted} releases=${a.store.callsOf('release').length}`);
      },
    });
    expect(seen).toEqual(['aborted=true releases=0']);
    expect(a.store.callsOf('release')).toHaveLength(1);
  });

  it('stepDown() releases, lets another replica lead, and stays out for the cooldown', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    const b = candidate('b');
    await a.elector.start();
    await b.elector.start();
    const leadership = a.elector.leadership!;
    await a.elector.stepDown({ cooldownMs: 10_000 });
    expect(leadership.signal.aborted).toBe(true);
    expect(a.elector.isLeader()).toBe(false);
    await clock.advance(RETRY);
    expect(b.elector.isLeader()).toBe(true);
    await b.elector.stop();
    const observesBefore = a.store.callsOf('observe').length;
    await clock.advanceTo(10_000 - 1);
    expect(a.store.callsOf('observe').length).toBe(observesBefore);
    await clock.advanceTo(10_000 + 1);
    expect(a.elector.isLeader()).toBe(true);
  });

  it('never leads on an acquire that a stepDown() release overtook (the lease may already be free for others)', async () => {
    const { candidate, clock, memory } = setup();
    const a = candidate('a');
    const b = candidate('b');
    // a's acquire reaches the store at once (a holds the lease there) but its answer takes 1 s.
    a.store.inject('acquire', { type: 'slow-answer', ms: 1_000 });
    const aStarted = a.elector.start();
    await clock.advance(100);
    // The user steps a down while the answer is on its way: the release frees the lease…
    await a.elector.stepDown({ cooldownMs: 0 });
    // …and b takes it.
    await b.elector.start();
    expect(b.elector.isLeader()).toBe(true);
    await clock.advance(1_000); // a's "acquired" answer arrives
    await aStarted;
    expect(a.elector.isLeader()).toBe(false);
    expect(a.elector.state.role).toBe('follower');
    expect(b.elector.isLeader()).toBe(true);
    // a released again (answered 409-like no-op: the lease is b's) and leaves b's lease alone.
    expect(a.store.callsOf('release')).toHaveLength(2);
    const lease = await memory.observe('jobs', new AbortController().signal);
    expect(lease).toMatchObject({ held: true, holder: 'b' });
    // With no cooldown a competes again, but only as a follower of b.
    await clock.advance(3 * RETRY);
    expect(a.elector.isLeader()).toBe(false);
    expect(b.elector.isLeader()).toBe(true);
  });

  it('waitForLeadership() resolves with the tenure when this replica takes over', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    const b = candidate('b');
    await a.elector.start();
    await b.elector.start();
    let term: number | undefined;
    void b.elector.waitForLeadership().then((leadership) => (term = leadership.term));
    await clock.advance(10_000);
    expect(term).toBeUndefined();
    await a.elector.stop();
    await clock.advance(RETRY);
    expect(term).toBe(2);
  });

  it('waitForLeadership() rejects when aborted', async () => {
    const { candidate } = setup();
    const a = candidate('a');
    const b = candidate('b');
    await a.elector.start();
    await b.elector.start();
    const controller = new AbortController();
    const waiting = b.elector.waitForLeadership(controller.signal);
    controller.abort(new Error('gave up'));
    await expect(waiting).rejects.toThrow('gave up');
  });
});
