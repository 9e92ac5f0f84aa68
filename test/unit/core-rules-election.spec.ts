import { afterEach, describe, expect, it } from '@jest/globals';
import { InvalidElectionOptionError, LeaderElectionError, NotLeaderError } from '../../lib/core/errors.js';
import { D, RETRY, setup, stopAllElectors } from '../support/elector-harness.js';

// The candidate's rules as a user of LeaderElector sees them (lib/core/candidacy.ts and the elector's
// facade), on the memory store and the manual clock: cooldowns, releases, stop during a poll,
// acquires in doubt, the election delay, and the log level of each way a tenure ends.

afterEach(stopAllElectors);

const observes = (calls: Array<{ operation: string; at: number }>, from = 0) =>
  calls.filter((call) => call.operation === 'observe' && call.at >= from).map((call) => call.at);

describe('cooldowns', () => {
  it('stepDown() refuses a cooldown that is not a finite number of ms ≥ 0, naming the option and the value', async () => {
    const { candidate } = setup();
    const a = candidate('a');
    await a.elector.start();
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, '5' as unknown as number]) {
      const refused = a.elector.stepDown({ cooldownMs: bad });
      await expect(refused).rejects.toThrow(InvalidElectionOptionError);
      await expect(refused).rejects.toThrow(
        /^Invalid leader election option "stepDown cooldownMs": got .*; allowed: a finite number of ms ≥ 0\.$/,
      );
    }
    expect(a.elector.isLeader()).toBe(true); // a refused stepDown changes nothing
  });

  it('a replica in a stepDown cooldown makes no store call until it ends, then polls at once and leads again', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    await a.elector.start();
    await clock.advance(1_000);
    await a.elector.stepDown({ cooldownMs: 7_000 });
    const endsAt = 1_000 + 7_000;
    await clock.advanceTo(endsAt - 1);
    expect(observes(a.store.calls, 1_000)).toEqual([]);
    expect(a.elector.coolingDown()).toBe(true);
    await clock.advanceTo(endsAt);
    expect(observes(a.store.calls, 1_000)).toEqual([endsAt]);
    expect(a.elector.coolingDown()).toBe(false);
    expect(a.elector.isLeader()).toBe(true);
  });
});

describe('releases', () => {
  it('a release that succeeds is logged and lets a follower lead within a poll', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    const b = candidate('b');
    await a.elector.start();
    await b.elector.start();
    await a.elector.stop();
    expect(a.logger.text()).toContain('log: Released lease "jobs"');
    await clock.advance(RETRY);
    expect(b.elector.isLeader()).toBe(true);
  });

  it('a release that fails is logged as a store error during release, and the lease is left to expire', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    const b = candidate('b');
    await a.elector.start();
    await b.elector.start();
    a.store.inject('release', { type: 'transient' });
    await a.elector.stop();
    expect(a.logger.text()).toContain(
      'warn: Lease store transient error during release of "jobs": injected transient failure of release',
    );
    expect(a.logger.text()).not.toContain('Released lease');
    await clock.advance(D - RETRY);
    expect(b.elector.isLeader()).toBe(false);
    await clock.advance(2 * RETRY);
    expect(b.elector.isLeader()).toBe(true);
  });
});

describe('acquires and stop', () => {
  it('an acquire whose outcome is unknown (transient failure) is released at stop; one refused with a definite loss is not', async () => {
    const unknown = setup();
    const a = unknown.candidate('a');
    a.store.inject('acquire', { type: 'transient' });
    await a.elector.start();
    expect(a.elector.isLeader()).toBe(false);
    await a.elector.stop();
    expect(a.store.calls.filter((c) => c.operation === 'release')).toHaveLength(1);
    await stopAllElectors();

    const definite = setup();
    const b = definite.candidate('b');
    b.store.inject('acquire', { type: 'lost' });
    await b.elector.start();
    await b.elector.stop();
    expect(b.store.calls.filter((c) => c.operation === 'release')).toHaveLength(0);
  });

  it('stop() during a hung follower poll returns without logging the aborted call as a store failure', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    const b = candidate('b');
    await a.elector.start();
    await b.elector.start();
    b.store.always('observe', { type: 'hang' });
    await clock.advance(RETRY + 100); // b's poll is hanging
    const stopping = b.elector.stop();
    await clock.advance(100);
    await stopping;
    expect(b.logger.lines.filter((l) => l.level === 'warn' || l.level === 'error')).toEqual([]);
  });
});

describe('poll failures', () => {
  it('after a transient poll failure the next poll comes one retry interval later (the permanent-error backoff is for permanent errors)', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    const b = candidate('b');
    await a.elector.start();
    await b.elector.start();
    b.store.inject('observe', { type: 'transient' });
    await clock.advance(3 * RETRY);
    expect(observes(b.store.calls)).toEqual([0, RETRY, 2 * RETRY, 3 * RETRY]);
    expect(b.logger.text()).toContain(
      'warn: Lease store transient error during follower poll of "jobs": injected transient failure of observe',
    );
  });
});

describe('a lease handed to a named successor', () => {
  it('the others leave it to the successor for exactly one preference window from when each first saw it free', async () => {
    // retryInterval 2.5 s: the window (2 × 2.5 s + 5 s = 10 s) ends exactly on a poll.
    const { candidate, clock } = setup({ presence: true, retryIntervalMs: 2_500 });
    const a = candidate('a');
    const b = candidate('b');
    const c = candidate('c');
    for (const x of [a, b, c]) await x.elector.start();
    c.store.always('acquire', { type: 'hang' }); // the successor cannot take it
    await clock.advanceTo(1_000);
    await a.elector.yieldTo('c');
    await clock.advanceTo(2_500); // b first sees the lease free, named for c
    await clock.advanceTo(12_499);
    expect([a, b, c].filter((x) => x.elector.isLeader())).toEqual([]);
    await clock.advanceTo(12_500);
    expect(b.elector.isLeader()).toBe(true);
  });
});

describe('a second replica with our identity', () => {
  it('one refused acquire of a record naming us may be a takeover racing our poll: only a second one in a row is called a collision', async () => {
    const { candidate, clock } = setup();
    const first = candidate('same');
    const second = candidate('same');
    await first.elector.start();
    await second.elector.start(); // refused once
    const collision = () => second.logger.lines.filter((line) => /own identity "same"/.test(line.message));
    expect(second.store.callsOf('acquire')).toHaveLength(1);
    expect(collision()).toEqual([]);
    await clock.advance(RETRY); // refused again
    expect(second.store.callsOf('acquire')).toHaveLength(2);
    expect(collision()).toHaveLength(1);
  });
});

describe('a second replica with our identity: refusals in a row', () => {
  it('a refusal, then another holder seen, then a refusal are not two in a row: no collision', async () => {
    const { candidate, clock, memory } = setup();
    const signal = new AbortController().signal;
    const holdAs = async (identity: string, leaseId: string) =>
      memory.acquire({ leaseName: 'jobs', leaseId, identity, durationSeconds: 15 }, signal);
    await holdAs('same', 'twin-1'); // a replica using our identity holds the lease
    const me = candidate('same');
    await me.elector.start(); // refused once
    expect(me.store.callsOf('acquire')).toHaveLength(1);
    await memory.release('jobs', 'twin-1', signal);
    await holdAs('other', 'other-1');
    await clock.advance(RETRY); // sees "other": a takeover after all, the count starts over
    await memory.release('jobs', 'other-1', signal);
    await holdAs('same', 'twin-2');
    await clock.advance(RETRY); // refused again, but not twice in a row
    expect(me.store.callsOf('acquire')).toHaveLength(2);
    expect(me.logger.lines.filter((line) => /own identity "same"/.test(line.message))).toEqual([]);
  });

  it('a refusal right after an acquire in doubt does not count: it may be our own acquire that landed', async () => {
    const { candidate, clock, memory } = setup();
    const signal = new AbortController().signal;
    await memory.acquire(
      { leaseName: 'jobs', leaseId: 'twin-1', identity: 'same', durationSeconds: 15 },
      signal,
    );
    const me = candidate('same');
    me.store.inject('acquire', { type: 'transient' });
    await me.elector.start(); // acquire in doubt
    await clock.advance(RETRY); // refused, after the doubt: not counted
    await clock.advance(RETRY); // refused: the first that counts
    expect(me.store.callsOf('acquire')).toHaveLength(3);
    expect(me.logger.lines.filter((line) => /own identity "same"/.test(line.message))).toEqual([]);
  });
});

describe('the election delay of a candidate with a priority', () => {
  it('a candidate started with a priority leaves a free lease alone for exactly electionDelayMs', async () => {
    const { candidate, clock } = setup({ presence: true });
    const a = candidate('a', { priority: 5 });
    await a.elector.start();
    await clock.advanceTo(12_000 - 1);
    expect(a.elector.isLeader()).toBe(false);
    await clock.advanceTo(12_000);
    expect(a.elector.isLeader()).toBe(true);
  });
});

describe('how a tenure ends, as the log shows it', () => {
  it('stepping down and stopping are routine (log); a lost lease is a warning', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    await a.elector.start();
    await a.elector.stepDown({ cooldownMs: 0 });
    expect(a.logger.text()).toContain('log: Stepped down from "jobs" (term 1): stepped down voluntarily');
    await clock.advance(RETRY);
    a.store.inject('renew', { type: 'lost' });
    await clock.advance(5_000);
    expect(a.logger.text()).toMatch(
      /warn: Stepped down from "jobs" \(term 2\): lease lost: injected loss on renew/,
    );
    await clock.advance(D + RETRY);
    expect(a.elector.isLeader()).toBe(true);
    await a.elector.stop();
    expect(a.logger.text()).toMatch(/log: Stepped down from "jobs" \(term 3\): election stopped/);
    expect(a.logger.text()).toContain('log: Became leader of "jobs" as "a" (term 3)');
  });
});

describe('the facade', () => {
  it('start() twice runs one election loop; stop() twice stops once; a stopped elector cannot be restarted', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    const b = candidate('b');
    await a.elector.start();
    await Promise.all([b.elector.start(), b.elector.start()]);
    await clock.advance(2 * RETRY);
    expect(observes(b.store.calls)).toEqual([0, RETRY, 2 * RETRY]);
    const stopping = b.elector.stop();
    expect(b.elector.stop()).toBe(stopping);
    await stopping;
    await expect(b.elector.start()).rejects.toThrow(
      'LeaderElector "jobs" was stopped and cannot be restarted',
    );
  });

  it("the 'acquired' event says when the tenure expires unless renewed: the acquire's send time + D − safetyMargin", async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    const acquired: Array<{ term: number; at: number; expiresAt: number }> = [];
    a.elector.events$.subscribe((event) => {
      if (event.type === 'acquired')
        acquired.push({ term: event.term, at: event.at, expiresAt: event.expiresAt });
    });
    await clock.advance(3_000);
    a.store.inject('acquire', { type: 'delay', ms: 400 });
    const starting = a.elector.start();
    await clock.advance(400);
    await starting;
    expect(acquired).toEqual([
      { term: 1, at: clock.wallStart + 3_400, expiresAt: clock.wallStart + 3_000 + D - 1_000 },
    ]);
  });

  it('yieldTo() is only for the leader, and never to itself', async () => {
    const { candidate } = setup({ presence: true });
    const a = candidate('a');
    const b = candidate('b');
    await a.elector.start();
    await b.elector.start();
    await expect(b.elector.yieldTo('a')).rejects.toThrow(NotLeaderError);
    await expect(a.elector.yieldTo('a')).rejects.toThrow(
      new LeaderElectionError('yieldTo: "a" is this replica'),
    );
    expect(a.elector.isLeader()).toBe(true);
  });

  it('waitForLeadership(): at once when leading, rejected once stopped, rejected when stopped while waiting', async () => {
    const { candidate } = setup();
    const a = candidate('a');
    await a.elector.start();
    const now = await a.elector.waitForLeadership();
    expect(now.term).toBe(1);
    const b = candidate('b');
    await b.elector.start();
    const waiting = b.elector.waitForLeadership();
    const stopping = b.elector.stop();
    await expect(waiting).rejects.toThrow('LeaderElector "jobs" stopped before it became leader');
    await stopping;
    await expect(b.elector.waitForLeadership()).rejects.toThrow('LeaderElector "jobs" is stopped');
  });

  it('lastKnownMembers(): undefined with presence off; the last listing (no I/O) with presence on', async () => {
    const off = setup();
    const a = off.candidate('a');
    await a.elector.start();
    expect(a.elector.lastKnownMembers()).toBeUndefined();
    await expect(a.elector.members()).rejects.toThrow(
      'Presence is off for "jobs" (presence: false, or no presence store)',
    );
    await stopAllElectors();

    const on = setup({ presence: true });
    const b = on.candidate('b');
    await b.elector.start();
    expect(b.elector.lastKnownMembers()).toEqual([]); // nothing listed yet
    await on.clock.advance(10_000); // the leader lists once per presence interval
    const listings = b.store.calls.filter((c) => c.operation === 'list').length;
    expect(b.elector.lastKnownMembers()?.map((m) => [m.identity, m.role, m.self])).toEqual([
      ['b', 'leader', true],
    ]);
    expect(b.store.calls.filter((c) => c.operation === 'list').length).toBe(listings);
  });

  it('the leadership view and remaining time exist only while leading', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    const b = candidate('b');
    await a.elector.start();
    await b.elector.start();
    expect(b.elector.leadership).toBeUndefined();
    expect(b.elector.remainingLeaseMs()).toBe(0);
    expect(b.elector.isLeader()).toBe(false);
    await clock.advance(1_000);
    expect(a.elector.remainingLeaseMs()).toBe(D - 1_000 - 1_000);
    const view = a.elector.leadership!;
    expect(view.remainingMs()).toBe(13_000);
    await a.elector.stepDown();
    expect(view.isActive()).toBe(false);
    expect(a.elector.leadership).toBeUndefined();
  });
});
