import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { LeaderElector } from '../../lib/core/leader-elector.js';
import { MemoryLeaseStore } from '../../lib/stores/memory/memory-lease-store.js';
import { D, RETRY, setup, stopAllElectors } from '../support/elector-harness.js';
import { FaultyStore } from '../support/faulty-store.js';
import { ManualClock } from '../support/manual-clock.js';

// The facade's own rules (lib/core/leader-elector.ts), on the memory store and the manual clock: what
// it answers after a missed deadline, hand-overs, stop()'s drain and release decisions, its default
// logger. Run first by `npm run mutate` with MUTATE_RULES=leader-elector (docs/mutation/README.md).

afterEach(stopAllElectors);

/** A drain (beforeHandover / beforeRelease) that ends after `ms`: `false` says work still runs. */
const drainFor = (clock: ManualClock, ms: number, result = true) => {
  const calls: number[] = [];
  const drain = () => {
    calls.push(clock.now());
    return new Promise<boolean>((resolve) => clock.setTimeout(() => resolve(result), ms));
  };
  return Object.assign(drain, { calls });
};

describe('promises that settle without waiting on the clock', () => {
  const ticks = () => new Promise<void>((resolve) => setImmediate(resolve));

  it('start() resolves once the first attempt completed, even a failed one', async () => {
    const { candidate } = setup();
    const a = candidate('a');
    a.store.inject('observe', { type: 'transient' });
    let started = false;
    void a.elector.start().then(() => (started = true));
    await ticks();
    expect(started).toBe(true);
    expect(a.elector.isLeader()).toBe(false);
  });

  it('waitForLeadership() on a stopped elector rejects at once', async () => {
    const { candidate } = setup();
    const a = candidate('a');
    await a.elector.start();
    await a.elector.stop();
    let outcome = 'pending';
    a.elector.waitForLeadership().then(
      () => (outcome = 'resolved'),
      (error: Error) => (outcome = error.message),
    );
    await ticks();
    expect(outcome).toBe('LeaderElector "jobs" is stopped');
  });
});

describe('the leadership view', () => {
  it('after a deadline passed unnoticed (the process was paused), there is no leadership view', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    await a.elector.start();
    expect(a.elector.leadership?.term).toBe(1);
    clock.jump(D); // no timer ran: the deadline timer has not fired
    expect(a.elector.leadership).toBeUndefined();
    expect(a.elector.isLeader()).toBe(false);
  });
});

describe('renewals', () => {
  it('a renewal that hangs is given up after requestTimeoutMs, not at the deadline', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    await a.elector.start();
    a.store.always('renew', { type: 'hang' });
    const timeoutMs = a.elector.options.requestTimeoutMs;
    const firstRenewal = 5_000;
    await clock.advanceTo(firstRenewal + timeoutMs);
    expect(a.store.callsOf('renew')[0]).toMatchObject({
      at: firstRenewal,
      endedAt: firstRenewal + timeoutMs,
    });
    expect(a.logger.text()).toContain(`renew timed out after ${timeoutMs} ms`);
  });
});

describe('hand-overs', () => {
  it('yieldTo() logs the step-down with the successor and why', async () => {
    const { candidate } = setup({ presence: true });
    const a = candidate('a');
    const b = candidate('b');
    await a.elector.start();
    await b.elector.start();
    await a.elector.yieldTo('b');
    expect(a.logger.text()).toContain(
      'log: Stepped down from "jobs" (term 1): handing over to "b" (manual switchover (yieldTo))',
    );
  });

  it('a hand-over asked of a follower (failback racing a loss) does nothing: no cooldown, no store call', async () => {
    const { candidate } = setup();
    const a = candidate('a');
    const b = candidate('b');
    await a.elector.start();
    await b.elector.start();
    const calls = b.store.calls.length;
    await b.elector.handOver('a', 'failback');
    expect(b.elector.coolingDown()).toBe(false);
    expect(b.store.calls).toHaveLength(calls);
  });
});

describe('stop(): drain first, release only what this replica may hold, and say so', () => {
  it("stop({ release: false }) still drains the ended tenure's work before it resolves", async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    await a.elector.start();
    const drain = drainFor(clock, 1_000);
    let stopped = false;
    const stopping = a.elector.stop({ release: false, beforeRelease: drain }).then(() => (stopped = true));
    await clock.advance(999);
    expect(drain.calls).toEqual([0]);
    expect(stopped).toBe(false);
    await clock.advance(1);
    await stopping;
    expect(a.store.callsOf('release')).toEqual([]);
  });

  it("a follower's stop() drains too: work of an earlier tenure may still run", async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    const b = candidate('b');
    await a.elector.start();
    await b.elector.start();
    const drain = drainFor(clock, 1_000);
    void b.elector.stop({ beforeRelease: drain });
    await clock.advance(10);
    expect(drain.calls).toEqual([0]);
  });

  it('the line about a lease left to expire comes only when stop() was asked to release and released nothing', async () => {
    const { candidate, clock } = setup();
    const failing = drainFor(clock, 500, false);
    const b = candidate('b', {}, { beforeHandover: failing });
    const leftLine = /Not releasing lease "jobs": it was left to expire/;
    b.store.inject('acquire', { type: 'transient' }); // in doubt
    await b.elector.start();
    await Promise.all([b.elector.stepDown({ cooldownMs: 0 }), clock.advance(500)]); // left to expire at 0.5 s
    // Once the cooldown ends an acquire is in doubt again: stop() releases it (a new lease id).
    b.store.inject('acquire', { type: 'transient' });
    await clock.advanceTo(500 + D);
    const stopping = b.elector.stop({ beforeRelease: drainFor(clock, 10) });
    await clock.advance(100);
    await stopping;
    expect(b.store.callsOf('release')).toHaveLength(1);
    expect(b.logger.lines.filter((line) => leftLine.test(line.message))).toEqual([]);
  });

  it('stop({ release: false }) after a lease was left to expire says nothing about releasing', async () => {
    const { candidate, clock } = setup();
    const b = candidate('b', {}, { beforeHandover: drainFor(clock, 500, false) });
    b.store.inject('acquire', { type: 'transient' }); // in doubt
    await b.elector.start();
    await Promise.all([b.elector.stepDown({ cooldownMs: 0 }), clock.advance(500)]); // left to expire
    const stopping = b.elector.stop({ release: false });
    await clock.advance(1_000);
    await stopping;
    expect(b.logger.text()).not.toMatch(/it was left to expire/);
  });
});

describe('stopped', () => {
  it("after stop() a leader's role is 'stopped', its state stream has completed, and it leads no more", async () => {
    const { candidate } = setup();
    const a = candidate('a');
    let completed = false;
    a.elector.state$.subscribe({ complete: () => (completed = true) });
    await a.elector.start();
    await a.elector.stop();
    expect(a.elector.state.role).toBe('stopped');
    expect(a.states.at(-1)?.role).toBe('stopped');
    expect(completed).toBe(true);
    expect(a.elector.isLeader()).toBe(false);
  });
});

describe('the default logger', () => {
  it('without a logger, warnings go to the console, prefixed with the elector and its lease name', async () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const clock = new ManualClock();
      const store = new FaultyStore(new MemoryLeaseStore(clock), clock);
      store.inject('observe', { type: 'transient' });
      const elector = new LeaderElector(
        store,
        { leaseName: 'jobs', identity: 'a', retryJitter: 0, presence: false },
        { clock },
      );
      await elector.start();
      const stopping = elector.stop();
      await clock.advance(RETRY);
      await stopping;
      expect(warn.mock.calls[0]?.[0]).toMatch(
        /^\[LeaderElector:jobs\] Lease store transient error during follower poll of "jobs"/,
      );
    } finally {
      warn.mockRestore();
    }
  });
});
