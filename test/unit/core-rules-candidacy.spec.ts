import { afterEach, describe, expect, it } from '@jest/globals';
import { LeaderElector } from '../../lib/core/leader-elector.js';
import type { LeadershipEvent } from '../../lib/core/leadership-events.js';
import type { LeaseLister } from '../../lib/core/lease-lister.js';
import type { LeaseObservation } from '../../lib/core/lease-store.js';
import { silentLogger } from '../../lib/core/logger.js';
import type { StoreRequestEvent } from '../../lib/core/store-requests.js';
import { MemoryLeaseStore } from '../../lib/stores/memory/memory-lease-store.js';
import {
  D,
  partition,
  RETRY,
  roleChanges,
  setup,
  stopAllElectors,
  type Candidate,
} from '../support/elector-harness.js';
import { ManualClock } from '../support/manual-clock.js';

// The candidacy's rules (lib/core/candidacy.ts, lib/core/free-lease-preference.ts) at their edges, on
// the memory store and the manual clock: what a follower poll does when stop(), stepDown() or a
// release overtakes it, leases left to expire, the election delay, the free-lease marks, the re-check
// after a presence listing, refused acquires, and polls served by the shared listing. Run first by `npm run mutate`
// with MUTATE_RULES=candidacy (docs/mutation/README.md).

afterEach(stopAllElectors);

const observes = (calls: Array<{ operation: string; at: number }>, from = 0) =>
  calls.filter((call) => call.operation === 'observe' && call.at >= from).map((call) => call.at);
const signal = new AbortController().signal;
/** A drain (beforeHandover) that ends after `ms`: `false` says work of the ended tenure still runs. */
const drainFor =
  (clock: ManualClock, ms: number, result = true) =>
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
    expect((await memory.observe('jobs', signal)).held).toBe(false);
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
    expect((await memory.observe('jobs', signal)).held).toBe(false);
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

/** Another replica, played by the test directly on the shared store. */
const asZ = (memory: MemoryLeaseStore) => ({
  acquire: (durationSeconds = 15) =>
    memory.acquire({ leaseName: 'jobs', leaseId: 'z1', identity: 'z', durationSeconds }, signal),
  release: (successor?: string) =>
    memory.release('jobs', 'z1', signal, successor === undefined ? {} : { successor }),
  renew: () => memory.renew('jobs', 'z1', signal),
});

/** The memory store with a shared listing (issue 23) from one followed lease on; listings take 300 ms. */
class ListingMemoryStore extends MemoryLeaseStore implements LeaseLister {
  readonly listingFromLeases = 1;
  readonly listedAt: number[] = [];
  constructor(private readonly manual: ManualClock) {
    super(manual);
  }
  async listLeases(names: readonly string[], s: AbortSignal): Promise<Map<string, LeaseObservation>> {
    this.listedAt.push(this.manual.now());
    await new Promise<void>((resolve) => this.manual.setTimeout(resolve, 300));
    const listed = new Map<string, LeaseObservation>();
    for (const name of names) listed.set(name, await this.observe(name, s));
    return listed;
  }
}

describe('polls served by the shared listing', () => {
  it('wait for the next listing instead of sleeping: one listing per retry interval, however long a listing takes', async () => {
    const clock = new ManualClock();
    const store = new ListingMemoryStore(clock);
    await store.acquire({ leaseName: 'jobs', leaseId: 'z1', identity: 'z', durationSeconds: 60 }, signal);
    const b = new LeaderElector(
      store,
      { leaseName: 'jobs', identity: 'b', retryJitter: 0, presence: false },
      { clock, logger: silentLogger },
    );
    void b.start();
    await clock.advanceTo(4 * RETRY + 100);
    const stopping = b.stop();
    await clock.advance(1_000);
    await stopping;
    expect(store.listedAt).toEqual([0, RETRY, 2 * RETRY, 3 * RETRY, 4 * RETRY]);
  });
});

describe('a lease re-checked after the presence listing (I/O) of a priority candidate', () => {
  // z's lease (1 s) expired at 1 s; b (a priority) first competes at the end of its election delay,
  // when it lists presence (500 ms): the test changes the record meanwhile.
  async function listing(change: (z: ReturnType<typeof asZ>, b: Candidate) => Promise<unknown>) {
    const { candidate, clock, memory } = setup({ presence: true });
    const z = asZ(memory);
    await z.acquire(1);
    const b = candidate('b', { priority: 1 });
    const operations: string[] = [];
    b.elector.requests$.subscribe((event: StoreRequestEvent) => operations.push(event.operation));
    b.store.always('list', { type: 'delay', ms: 500 });
    await b.elector.start();
    const eligibleAt = b.elector.options.preference.electionDelayMs;
    await clock.advanceTo(eligibleAt + 200); // listing
    await change(z, b);
    await clock.advanceTo(eligibleAt + 600);
    return { b, clock, eligibleAt, operations };
  }

  it('the re-check is bounded by requestTimeoutMs like any observation', async () => {
    const { b, clock, eligibleAt } = await listing(async (_z, b) =>
      b.store.always('observe', { type: 'hang' }),
    );
    const timeoutMs = b.elector.options.requestTimeoutMs;
    await clock.advanceTo(eligibleAt + 500 + timeoutMs);
    expect(b.logger.text()).toContain(`follower poll of "jobs": observe timed out after ${timeoutMs} ms`);
    expect(b.store.callsOf('acquire')).toEqual([]);
  });

  it('renewed by its holder meanwhile (held again, same record): no acquire', async () => {
    const { b, eligibleAt } = await listing((z) => z.renew());
    expect(b.store.callsOf('observe').at(-1)?.at).toBe(eligibleAt + 500); // the re-check
    expect(b.store.callsOf('acquire')).toEqual([]);
  });

  it('taken and released meanwhile (free again, a later term): no acquire on the stale observation', async () => {
    const { b, eligibleAt } = await listing(async (z) => {
      await z.acquire();
      await z.release();
    });
    expect(b.store.callsOf('observe').at(-1)?.at).toBe(eligibleAt + 500);
    expect(b.store.callsOf('acquire')).toEqual([]);
  });

  it('handed to a successor meanwhile (a late release of the expired lease names one): no acquire', async () => {
    const { b, eligibleAt } = await listing((z) => z.release('y'));
    expect(b.store.callsOf('observe').at(-1)?.at).toBe(eligibleAt + 500);
    expect(b.store.callsOf('acquire')).toEqual([]);
  });

  it('unchanged: acquired after the re-check, and every call is reported on requests$ under its name', async () => {
    const { b, eligibleAt, operations } = await listing(async () => undefined);
    expect(b.store.callsOf('acquire').map((call) => call.at)).toEqual([eligibleAt + 500]);
    expect(b.elector.isLeader()).toBe(true);
    const stopping = b.elector.stop();
    await stopAllElectors();
    await stopping;
    for (const operation of ['observe', 'acquire', 'release'] as const)
      expect(operations.filter((o) => o === operation)).toHaveLength(b.store.callsOf(operation).length);
  });
});

describe('the free-lease marks (free since, better tiers) belong to the record seen', () => {
  it('a successor named on the same term (a late release of an expired lease) starts a new window', async () => {
    const { candidate, clock, memory } = setup({ presence: true });
    const z = asZ(memory);
    await z.acquire(1); // expires at 1 s
    const b = candidate('b', { priority: 1 });
    await b.elector.start();
    await clock.advanceTo(7_000); // b saw it free (term 1, no successor) from 2 s
    await z.release('y'); // same term, now naming y
    const window = b.elector.options.preference.preferenceWindowMs;
    await clock.advanceTo(8_000 + window - 1); // b saw y named at 8 s
    expect(b.elector.isLeader()).toBe(false);
    await clock.advanceTo(8_000 + window + RETRY);
    expect(b.elector.isLeader()).toBe(true);
  });

  it('better tiers seen on an earlier free record do not lengthen the wait for a later one', async () => {
    const { candidate, clock, memory } = setup({ presence: true });
    const b = candidate('b', { priority: 1 });
    const c = candidate('c', { priority: 9 });
    c.store.always('acquire', { type: 'transient' }); // c cannot take it
    await b.elector.start();
    await c.elector.start();
    const eligibleAt = b.elector.options.preference.electionDelayMs;
    await clock.advanceTo(eligibleAt + 500); // b saw c live and better: it leaves the lease to c
    await c.elector.stop(); // c is gone
    const z = asZ(memory);
    await z.acquire();
    await z.release(); // a new free record before b's next poll
    await clock.advanceTo(eligibleAt + RETRY);
    expect(b.elector.isLeader()).toBe(true);
  });
});

describe('releases that overlap', () => {
  it('while a later release is pending no poll acquires, even after an earlier one settled', async () => {
    const { candidate, clock } = setup();
    const b = candidate('b');
    b.store.inject('acquire', { type: 'transient' }); // in doubt: stepDown releases it
    await b.elector.start();
    b.store.inject('release', { type: 'delay', ms: 1_000 });
    b.store.inject('release', { type: 'delay', ms: 3_000 });
    await clock.advanceTo(1_000);
    const first = b.elector.stepDown({ cooldownMs: 0 });
    const second = b.elector.stepDown({ cooldownMs: 0 }); // the first release is unanswered: still in doubt
    await clock.advanceTo(1_500);
    expect(b.store.callsOf('release').map((call) => call.at)).toEqual([1_000, 1_000]);
    await clock.advanceTo(4_000 - 1);
    expect(b.store.callsOf('acquire').map((call) => call.at)).toEqual([0]);
    await clock.advanceTo(4_000);
    await Promise.all([first, second]);
    expect(b.store.callsOf('acquire').map((call) => call.at)).toEqual([0, 4_000]);
  });

  it('an acquire answered after its lease id was left to expire is not released either: it says so', async () => {
    const { candidate, clock } = setup();
    const b = candidate('b', {}, { beforeHandover: drainFor(clock, 500, false) });
    b.store.inject('acquire', { type: 'slow-answer', ms: 2_000 }); // lands at once, answered at 2 s
    void b.elector.start();
    await clock.advanceTo(100);
    const steppingDown = b.elector.stepDown({ cooldownMs: 0 }); // in doubt: drained, fails at 0.6 s
    await clock.advanceTo(2_000);
    await steppingDown;
    expect(b.store.callsOf('release')).toEqual([]);
    expect(b.logger.text()).toMatch(/log: Not releasing lease "jobs": it was left to expire/);
    expect(roleChanges(b.states)).not.toContain('leader');
  });
});

describe('a refused acquire', () => {
  it('names the holder the refusal reports, not the one observed before', async () => {
    const { candidate, clock, memory } = setup();
    const b = candidate('b');
    b.store.inject('acquire', { type: 'delay', ms: 100 });
    void b.elector.start(); // observes the lease free at 0
    await clock.advanceTo(50);
    await asZ(memory).acquire(); // z takes it first
    await clock.advanceTo(100);
    expect(b.elector.state).toMatchObject({ role: 'follower', leader: 'z', term: 1 });
  });

  it('refusals of records that did not name this replica never count toward an identity collision', async () => {
    const { candidate, clock, memory } = setup();
    const b = candidate('b');
    const z = asZ(memory);
    for (const at of [0, RETRY + 100, 2 * (RETRY + 100)]) {
      b.store.inject('acquire', { type: 'delay', ms: 100 });
      if (at === 0) void b.elector.start();
      await clock.advanceTo(at + 50);
      await z.acquire(); // taken and given back between b's observation and its acquire
      await z.release();
      await clock.advanceTo(at + 100);
    }
    expect(b.store.callsOf('acquire')).toHaveLength(3);
    expect(b.logger.text()).not.toContain('own identity');
  });

  it('a record naming us refused twice in a row: the warning names the lease and identity and says what follows', async () => {
    const { candidate, clock } = setup();
    const first = candidate('same');
    const second = candidate('same');
    await first.elector.start();
    await second.elector.start();
    await clock.advance(RETRY);
    expect(second.logger.lines.filter((line) => line.level === 'warn').map((line) => line.message)).toEqual([
      'Another replica holds "jobs" under this replica\'s own identity "same": give every replica a ' +
        'unique identity (logs, health and currentLeader() cannot tell them apart). Until then this ' +
        'replica no longer treats a record naming "same" as its own',
    ]);
  });
});

describe('an acquisition not led on stays in doubt until released', () => {
  it('one answered too late to use: stop() releases it', async () => {
    const { candidate, clock, memory } = setup();
    const b = candidate('b');
    b.store.inject('acquire', { type: 'slow-answer', ms: 100 }); // lands at once, answered at 0.1 s
    void b.elector.start();
    await clock.advanceTo(50);
    b.store.always('observe', { type: 'hang' }); // the next poll hangs until stop()
    clock.jump(D); // the process is paused: the answer is read after the deadline
    await clock.advance(100);
    expect(b.logger.text()).toContain('too late to use it');
    const stopping = b.elector.stop();
    await clock.advance(1_000);
    await stopping;
    expect(b.store.callsOf('release')).toHaveLength(1);
    expect((await memory.observe('jobs', signal)).held).toBe(false);
  });

  it('one led on is not in doubt after its tenure: a follower never acquires a lease another replica holds', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    await a.elector.start();
    a.store.inject('release', { type: 'transient' }); // the lease stays held by a's old id until D
    await a.elector.stepDown({ cooldownMs: 3_000 });
    await clock.advanceTo(D - 1);
    expect(a.store.callsOf('acquire').map((call) => call.at)).toEqual([0]);
  });
});

describe('a holder broken by fast failover: its lease is then a free lease like any other', () => {
  const FAST = { fastFailover: { livenessMs: 3000 }, retryIntervalMs: 1000 } as const;
  const cutOff = (store: Candidate['store']) => {
    for (const operation of ['observe', 'acquire', 'renew', 'release', 'heartbeat', 'break'] as const)
      store.always(operation, { type: 'hang' });
  };
  /** Advances in 50 ms steps until `b` sent its break. */
  async function untilBroken(clock: ManualClock, b: Candidate): Promise<number> {
    while (b.store.callsOf('break').length === 0) await clock.advance(50);
    return b.store.callsOf('break')[0]!.at;
  }

  it('a holder that heartbeats is never broken, and each heartbeat is reported on requests$', async () => {
    const { candidate, clock } = setup(FAST);
    const a = candidate('a');
    const b = candidate('b');
    const operations: string[] = [];
    a.elector.requests$.subscribe((event) => operations.push(event.operation));
    await a.elector.start();
    await b.elector.start();
    await clock.advanceTo(10_000);
    expect(b.store.callsOf('break')).toEqual([]);
    expect([a.elector.isLeader(), b.elector.isLeader()]).toEqual([true, false]);
    expect(a.store.callsOf('heartbeat').length).toBeGreaterThan(5);
    expect(operations.filter((o) => o === 'heartbeat')).toHaveLength(a.store.callsOf('heartbeat').length);
  });

  it('acquired in the same poll as the break, without a poll failure', async () => {
    const { candidate, clock } = setup(FAST);
    const a = candidate('a');
    const b = candidate('b');
    await a.elector.start();
    await b.elector.start();
    cutOff(a.store);
    const brokenAt = await untilBroken(clock, b);
    expect(b.store.callsOf('acquire').map((call) => call.at)).toEqual([brokenAt]);
    expect(b.elector.isLeader()).toBe(true);
    expect(b.logger.lines.filter((line) => line.level !== 'log')).toEqual([]);
  });

  it('the acquire after a break is conditional on the record seen: one changed meanwhile is not taken', async () => {
    const { candidate, clock, memory } = setup(FAST);
    const a = candidate('a');
    const b = candidate('b');
    await a.elector.start();
    await b.elector.start();
    cutOff(a.store);
    b.store.inject('acquire', { type: 'delay', ms: 100 });
    await untilBroken(clock, b);
    const z = asZ(memory);
    await z.acquire(); // taken and given back between the break and b's acquire
    await z.release();
    await clock.advance(100);
    expect(b.store.callsOf('acquire')).toHaveLength(1);
    expect(b.elector.isLeader()).toBe(false);
  });

  it('a better priority still announced live gets its window after the break, as on any free lease', async () => {
    const { candidate, clock } = setup({ ...FAST, presence: true });
    const a = candidate('a', { priority: 9 });
    const b = candidate('b', { priority: 1 });
    await a.elector.start();
    await b.elector.start();
    await clock.advanceTo(a.elector.options.preference.electionDelayMs + 1_000);
    expect(a.elector.isLeader()).toBe(true);
    cutOff(a.store); // a's presence record stays live for a while
    const brokenAt = await untilBroken(clock, b);
    await clock.advance(RETRY);
    expect(b.store.callsOf('acquire').filter((call) => call.at >= brokenAt)).toEqual([]);
  });
});

describe('a lease recorded as ours is not a free lease', () => {
  it('an acquire that landed but whose answer was lost is taken up again at the next poll, whatever the preferences', async () => {
    const { candidate, clock } = setup({ presence: true });
    const a = candidate('a', { priority: 1 });
    const c = candidate('c', { priority: 9 });
    c.store.always('acquire', { type: 'transient' }); // c, better and live, cannot take it
    a.store.inject('acquire', { type: 'succeed-then-fail' });
    await a.elector.start();
    await c.elector.start();
    while (a.store.callsOf('acquire').length === 0) await clock.advance(RETRY); // after c's window
    const landedAt = a.store.callsOf('acquire')[0]!.at;
    expect(a.elector.isLeader()).toBe(false);
    await clock.advanceTo(landedAt + RETRY);
    expect(a.store.callsOf('acquire').map((call) => call.at)).toEqual([landedAt, landedAt + RETRY]);
    expect(a.elector.isLeader()).toBe(true);
  });
});

describe('marks about the free lease end with a tenure', () => {
  it("after its record was lost, a former leader counts the better tiers' window from when it sees the missing record free again, not from before its tenure", async () => {
    const { candidate, clock, memory } = setup({ presence: true });
    const b = candidate('b', { priority: 1 });
    const c = candidate('c', { priority: 9 });
    c.store.always('acquire', { type: 'transient' }); // c, better and live, cannot take it
    await b.elector.start(); // b first sees the (missing) record free at 0
    await c.elector.start();
    while (!b.elector.isLeader()) await clock.advance(RETRY);
    memory.deleteRecord('jobs'); // b's record is lost: missing again, as before b's tenure
    const window = b.elector.options.preference.preferenceWindowMs;
    const lostAt = clock.now();
    while (b.elector.isLeader()) await clock.advance(100);
    // The loss was noticed by b's renewal: b waits one lease duration, then sees the record free.
    const waitEnds = b.store.callsOf('renew').at(-1)!.at + D;
    await clock.advanceTo(lostAt + 3 * D);
    const freeAgainAt = b.store.callsOf('observe').find((call) => call.at >= waitEnds)!.at;
    const acquires = b.store.callsOf('acquire').filter((call) => call.at > lostAt);
    expect(acquires.length).toBeGreaterThan(0);
    expect(acquires[0]!.at - freeAgainAt).toBeGreaterThanOrEqual(window);
  });
});

describe('identity collisions are counted on held records only', () => {
  it('our own expired record taken between our observation and our acquire, twice: no collision', async () => {
    const { candidate, clock, memory } = setup();
    const b = candidate('b');
    const z = asZ(memory);
    await b.elector.start();
    for (let round = 0; round < 2; round++) {
      expect(b.elector.isLeader()).toBe(true);
      partition(b.store, 'hang'); // b's lease expires unreleased: a free record naming b
      while (b.elector.isLeader()) await clock.advance(500);
      await clock.advance(D);
      b.store.clear();
      b.store.inject('acquire', { type: 'delay', ms: 100 });
      const acquires = b.store.callsOf('acquire').length;
      while (b.store.callsOf('acquire').length === acquires) await clock.advance(50);
      await z.acquire(); // taken and given back before b's acquire lands: refused
      await z.release();
      await clock.advance(100);
      expect(b.store.callsOf('acquire').at(-1)?.outcome).toBe('ok');
      expect(b.elector.isLeader()).toBe(false);
      await clock.advance(RETRY); // the record names z now: b takes it
    }
    expect(b.elector.isLeader()).toBe(true);
    expect(b.logger.text()).not.toContain('own identity');
  });
});
