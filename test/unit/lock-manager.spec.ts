import { describe, expect, it } from '@jest/globals';
import { LeaderElectionError, InvalidElectionOptionError } from '../../lib/core/errors.js';
import { resolveElectionOptions } from '../../lib/core/election-options.js';
import { LockManager } from '../../lib/locks/lock-manager.js';
import {
  LockEndedError,
  LockLostError,
  LockManagerStoppedError,
  LockNotAcquiredError,
} from '../../lib/locks/lock-errors.js';
import { lockLeaseName, runLeaseName } from '../../lib/locks/lock-names.js';
import type { LockContext } from '../../lib/locks/held-lock.js';
import type { LeaseStore } from '../../lib/core/lease-store.js';
import { MemoryLeaseStore } from '../../lib/stores/memory/memory-lease-store.js';
import { ManualClock, settle } from '../../lib/testing/manual-clock.js';
import { FaultyStore } from '../support/faulty-store.js';

function setup(identities = ['a', 'b']) {
  const clock = new ManualClock();
  const memory = new MemoryLeaseStore(clock);
  const store = new FaultyStore(memory, clock);
  const managers = identities.map(
    (identity) => new LockManager(store, { identity, clock, random: () => 0.5 }),
  );
  return { clock, memory, store, managers };
}

/** A promise fn can wait on, resolved from the test. */
function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe('LockManager', () => {
  it('runs fn under the lock with a term and a live signal, then releases it', async () => {
    const { managers, memory } = setup();
    let seen: LockContext | undefined;
    const result = await managers[0]!.tryWithLock('invoices', (lock) => {
      seen = lock;
      expect(lock.signal.aborted).toBe(false);
      return 42;
    });
    expect(result).toEqual({ acquired: true, value: 42, term: 1 });
    expect(seen!.name).toBe('invoices');
    expect(seen!.signal.aborted).toBe(true);
    expect(seen!.signal.reason).toBeInstanceOf(LockEndedError);
    expect((seen!.signal.reason as LockEndedError).reason).toBe('released');
    const observed = await memory.observe(lockLeaseName('invoices'), new AbortController().signal);
    expect(observed).toMatchObject({ held: false, holder: 'a', term: 1 });
  });

  it('reports "not acquired" while another replica holds it, and fn does not run', async () => {
    const { managers } = setup();
    const hold = gate();
    const first = managers[0]!.withLock('job', () => hold.promise);
    await settle();
    let ran = false;
    const second = await managers[1]!.tryWithLock('job', () => {
      ran = true;
    });
    expect(second).toEqual({ acquired: false, holder: 'a' });
    expect(ran).toBe(false);
    await expect(managers[1]!.withLock('job', () => 'x')).rejects.toBeInstanceOf(LockNotAcquiredError);
    await expect(managers[1]!.withLock('job', () => 'x')).rejects.toThrow(
      'Could not acquire the lock "job": held by "a"',
    );
    hold.open();
    await first;
  });

  it('terms strictly increase across holders (fencing)', async () => {
    const { managers } = setup();
    const terms: number[] = [];
    for (const manager of [...managers, ...managers]) {
      const result = await manager.tryWithLock('fenced', (lock) => lock.term);
      if (result.acquired) terms.push(result.value);
    }
    expect(terms).toEqual([1, 2, 3, 4]);
  });

  it("releases the lock when fn throws, and rethrows fn's error", async () => {
    const { managers, memory } = setup();
    const failure = new Error('boom');
    await expect(
      managers[0]!.withLock('throws', () => {
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect((await memory.observe(lockLeaseName('throws'), new AbortController().signal)).held).toBe(false);
    await expect(managers[1]!.tryWithLock('throws', () => 'next')).resolves.toMatchObject({ acquired: true });
  });

  it('a waiter takes the lock after the holder releases it (waitMs)', async () => {
    const { managers, clock } = setup();
    const hold = gate();
    const first = managers[0]!.withLock('wait', () => hold.promise);
    await settle();
    const waiting = managers[1]!.withLock('wait', (lock) => lock.term, { waitMs: 60_000 });
    await clock.advance(500);
    hold.open();
    await first;
    await clock.advance(3_000);
    await expect(waiting).resolves.toBe(2);
  });

  it('a waiter acting on a stale "free" observation neither runs beside the holder nor reuses a term', async () => {
    // Lock acquires carry no version (docs/GUARANTEES.md "Lock acquires need no version"): safe because
    // the store refuses a lease someone holds and reads the term under the new lease, whatever b saw.
    const { managers, clock, memory } = setup();
    const staleFree: LeaseStore = {
      description: 'b sees the lock free for ever',
      observe: async () => ({ held: false, term: 0 }),
      acquire: (request, signal) => memory.acquire(request, signal),
      renew: (name, id, signal) => memory.renew(name, id, signal),
      release: (name, id, signal) => memory.release(name, id, signal),
    };
    const b = new LockManager(staleFree, { identity: 'b', clock, random: () => 0.5 });
    const hold = gate();
    const first = managers[0]!.withLock('stale', (lock) => hold.promise.then(() => lock.term));
    await settle();
    let aHolds = true;
    const ranBeside: boolean[] = [];
    const waiting = b.withLock(
      'stale',
      (lock) => {
        ranBeside.push(aHolds);
        return lock.term;
      },
      { waitMs: 120_000 },
    );
    await clock.advance(40_000); // a renews throughout; b polls, sees "free", tries to acquire, is refused
    expect(ranBeside).toEqual([]);
    hold.open();
    await expect(first).resolves.toBe(1);
    aHolds = false;
    await clock.advance(10_000);
    await expect(waiting).resolves.toBe(2);
    expect(ranBeside).toEqual([false]);
  });

  it('a waiter gives up after waitMs with LockNotAcquiredError (not a store error)', async () => {
    const { managers, clock } = setup();
    const hold = gate();
    const first = managers[0]!.withLock('busy', () => hold.promise);
    await settle();
    const waiting = managers[1]!.withLock('busy', () => 'never', { waitMs: 5_000 });
    const outcome = waiting.catch((error: unknown) => error);
    await clock.advance(6_000);
    const error = await outcome;
    expect(error).toBeInstanceOf(LockNotAcquiredError);
    expect(error).toBeInstanceOf(LeaderElectionError);
    expect((error as LockNotAcquiredError).waitMs).toBe(5_000);
    hold.open();
    await first;
  });

  it('waiters poll with growing, jittered pauses capped at retryIntervalMs', async () => {
    const { managers, clock, store } = setup();
    const hold = gate();
    const first = managers[0]!.withLock('poll', () => hold.promise);
    await settle();
    const waiting = managers[1]!.tryWithLock('poll', () => 'x', { waitMs: 20_000 }).catch(() => undefined);
    await clock.advance(20_000);
    await waiting;
    const observes = store.callsOf('observe').map((call) => call.at);
    const gaps = observes.slice(1).map((at, i) => at - observes[i]!);
    expect(gaps[1]!).toBeGreaterThan(gaps[0]!);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(2_000);
    // 20 s of waiting costs far fewer reads than a fixed 100 ms poll (200)
    expect(observes.length).toBeLessThan(30);
    hold.open();
    await first;
  });

  it('a waiter in the same process wakes as soon as the holder releases', async () => {
    const clock = new ManualClock();
    const manager = new LockManager(new MemoryLeaseStore(clock), { identity: 'a', clock, random: () => 0.5 });
    const hold = gate();
    const first = manager.withLock('local', () => hold.promise);
    await settle();
    const waiting = manager.tryWithLock('local', () => clock.now(), { waitMs: 60_000 });
    await clock.advance(10_000); // pauses are 2 s by now
    const releasedAt = clock.now();
    hold.open();
    await first;
    await clock.advance(100);
    const result = await waiting;
    expect(result).toMatchObject({ acquired: true });
    expect((result as { value: number }).value - releasedAt).toBeLessThan(100);
  });

  it('renews while fn runs: a run longer than the lease keeps the lock', async () => {
    const { managers, clock, store } = setup();
    const hold = gate();
    let signal!: AbortSignal;
    const run = managers[0]!.withLock('long', (lock) => {
      signal = lock.signal;
      return hold.promise;
    });
    await clock.advance(60_000);
    expect(signal.aborted).toBe(false);
    expect(store.callsOf('renew').length).toBeGreaterThanOrEqual(11);
    await expect(managers[1]!.tryWithLock('long', () => 'x')).resolves.toMatchObject({ acquired: false });
    hold.open();
    await run;
  });

  it('lock.isValid() re-checks the deadline on the clock: false after a pause, before the abort ran', async () => {
    const { managers, clock } = setup();
    const hold = gate();
    let lock!: LockContext;
    const run = managers[0]!.withLock('paused', (held) => {
      lock = held;
      return hold.promise;
    });
    await settle();
    expect(lock.isValid()).toBe(true);
    clock.jump(15_000); // the process was stopped past the deadline: no timer ran, the signal is not aborted
    expect(lock.signal.aborted).toBe(false);
    expect(lock.isValid()).toBe(false);
    hold.open();
    await run;
    expect(lock.isValid()).toBe(false);
  });

  it('loss aborts the signal with LockLostError at once (renewal refused)', async () => {
    const { managers, clock, memory } = setup();
    const hold = gate();
    let signal!: AbortSignal;
    const run = managers[0]!.withLock('lost', (lock) => {
      signal = lock.signal;
      return hold.promise;
    });
    await settle();
    memory.breakLease(lockLeaseName('lost'));
    await clock.advance(5_000);
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBeInstanceOf(LockLostError);
    expect((signal.reason as LockLostError).reason).toBe('lost');
    hold.open();
    await run;
  });

  it('the signal aborts at sentAt + D − safetyMargin when renewals keep failing (deadline rule)', async () => {
    const { managers, clock, store } = setup();
    const timings = resolveElectionOptions({ leaseName: 'x', identity: 'a' });
    const hold = gate();
    let signal!: AbortSignal;
    const startedAt = clock.now();
    const run = managers[0]!.withLock('deadline', (lock) => {
      signal = lock.signal;
      return hold.promise;
    });
    await settle();
    store.always('renew', { type: 'transient' });
    const deadline = startedAt + timings.leaseDurationMs - timings.safetyMarginMs;
    await clock.advanceTo(deadline - 1);
    expect(signal.aborted).toBe(false);
    await clock.advanceTo(deadline);
    expect(signal.aborted).toBe(true);
    expect((signal.reason as LockLostError).reason).toBe('deadline');
    hold.open();
    await run;
  });

  it('measures the deadline from the time BEFORE the acquire was sent, not from its answer', async () => {
    const { managers, clock, store } = setup();
    const hold = gate();
    let signal!: AbortSignal;
    const sentAt = clock.now();
    store.inject('acquire', { type: 'slow-answer', ms: 3_000 });
    store.always('renew', { type: 'transient' });
    const run = managers[0]!.withLock('slow', (lock) => {
      signal = lock.signal;
      return hold.promise;
    });
    await clock.advance(3_000);
    expect(signal.aborted).toBe(false);
    await clock.advanceTo(sentAt + 14_000 - 1); // D 15 s − safety margin 1 s, from the send
    expect(signal.aborted).toBe(false);
    await clock.advanceTo(sentAt + 14_000);
    expect(signal.aborted).toBe(true);
    hold.open();
    await run;
  });

  it('moves the deadline to the send time of the last successful renewal', async () => {
    const { managers, clock, store } = setup();
    const hold = gate();
    let signal!: AbortSignal;
    const startedAt = clock.now();
    const run = managers[0]!.withLock('renewed', (lock) => {
      signal = lock.signal;
      return hold.promise;
    });
    await settle();
    store.inject('renew', { type: 'slow-answer', ms: 3_000 }); // the renewal sent at +5 s answers at +8 s
    await clock.advanceTo(startedAt + 5_001);
    store.always('renew', { type: 'transient' });
    await clock.advanceTo(startedAt + 5_000 + 14_000 - 1);
    expect(signal.aborted).toBe(false);
    await clock.advanceTo(startedAt + 5_000 + 14_000);
    expect(signal.aborted).toBe(true);
    hold.open();
    await run;
  });

  it('a store failure rejects with the store error, never as "not acquired"', async () => {
    const { managers, store } = setup();
    store.inject('acquire', { type: 'permanent' });
    await expect(managers[0]!.tryWithLock('broken', () => 'x')).rejects.toMatchObject({ kind: 'permanent' });
  });

  it('a transient acquire failure is retried while the wait lasts', async () => {
    const { managers, store, clock } = setup();
    store.inject('acquire', { type: 'transient' });
    const result = managers[0]!.tryWithLock('flaky', () => 'ok', { waitMs: 5_000 });
    await clock.advance(1_000);
    await expect(result).resolves.toEqual({ acquired: true, value: 'ok', term: 1 });
  });

  it('stop() ends waiting calls and aborts held locks with reason "stopped"', async () => {
    const { managers, clock } = setup();
    const hold = gate();
    let signal!: AbortSignal;
    const run = managers[0]!.withLock('stop', (lock) => {
      signal = lock.signal;
      return hold.promise;
    });
    await settle();
    const waiting = managers[0]!.withLock('stop', () => 'x', { waitMs: Infinity }).catch((e: unknown) => e);
    await clock.advance(300);
    const stopping = managers[0]!.stop(1_000);
    await clock.advance(1_000);
    await stopping;
    expect(await waiting).toBeInstanceOf(LockManagerStoppedError);
    expect((signal.reason as LockEndedError).reason).toBe('stopped');
    hold.open();
    await run;
    await expect(managers[0]!.tryWithLock('other', () => 'x')).rejects.toBeInstanceOf(
      LockManagerStoppedError,
    );
  });

  it('validates names and options with the option, the value and what is allowed', async () => {
    const { managers } = setup();
    await expect(managers[0]!.tryWithLock('../x', () => 1)).rejects.toThrow(
      /Invalid leader election option "lock name": got "\.\.\/x"; allowed: 1–200 characters/,
    );
    await expect(managers[0]!.tryWithLock('ok', () => 1, { waitMs: -1 })).rejects.toThrow(
      /"waitMs": got -1; allowed: a number of milliseconds ≥ 0/,
    );
    await expect(
      managers[0]!.tryWithLock('ok', () => 1, { wait: 5 } as unknown as { waitMs: number }),
    ).rejects.toBeInstanceOf(InvalidElectionOptionError);
    expect(() => lockLeaseName('x'.repeat(190))).toThrow(/at most 189 characters/);
    expect(() => new LockManager(new MemoryLeaseStore(), { identity: 'a', leaseDurationSeconds: 5 })).toThrow(
      /leaseDurationSeconds/,
    );
  });

  it('lock records live under locks/lock/ and per-run records under locks/run/', () => {
    expect(lockLeaseName('invoices/export')).toBe('locks/lock/invoices/export');
    expect(runLeaseName('report', 1_700_000_000_000)).toBe('locks/run/report/1700000000000');
  });
});

describe('LockManager.runOnce (per-run jobs)', () => {
  it('runs a tick on exactly one replica, and never again once its record was taken', async () => {
    const { managers, clock } = setup(['a', 'b', 'c']);
    const ran: string[] = [];
    const tick = 1_700_000_000_000;
    const results = await Promise.all(
      managers.map((manager) => manager.runOnce('report', tick, () => ran.push(manager.identity))),
    );
    expect(ran).toHaveLength(1);
    expect(results.filter((r) => r.ran)).toHaveLength(1);
    // Long after the lease expired, a replica whose clock is behind tries the same tick again.
    await clock.advance(120_000);
    const late = await managers[2]!.runOnce('report', tick, () => ran.push('late'));
    expect(late).toEqual({ ran: false, reason: 'already-ran' });
    expect(ran).toHaveLength(1);
  });

  it("holds a tick's lease at least one lease duration (it is never released)", async () => {
    const { managers, store, clock, memory } = setup();
    await managers[0]!.runOnce('fast', 1000, () => 'done');
    expect(store.callsOf('release')).toHaveLength(0);
    await clock.advance(14_000);
    expect((await memory.observe(runLeaseName('fast', 1000), new AbortController().signal)).held).toBe(true);
    await clock.advance(1_000);
    expect((await memory.observe(runLeaseName('fast', 1000), new AbortController().signal)).held).toBe(false);
  });

  it('spreadMs: each replica waits a random 0–spreadMs before trying, so the first to fire does not always win', async () => {
    const clock = new ManualClock();
    const store = new FaultyStore(new MemoryLeaseStore(clock), clock);
    const draws = [0.9, 0.1];
    const [early, late] = ['early', 'late'].map(
      (identity) => new LockManager(store, { identity, clock, random: () => draws.shift() ?? 0.5 }),
    );
    const first = early!.runOnce('spread', 1000, () => 'early', { spreadMs: 1_000 }); // fires first, waits 900 ms
    await clock.advance(200);
    const second = late!.runOnce('spread', 1000, () => 'late', { spreadMs: 1_000 }); // fires 200 ms later, waits 100 ms
    await clock.advance(1_000);
    expect(await second).toMatchObject({ ran: true, value: 'late' });
    expect(await first).toMatchObject({ ran: false });
    expect(store.callsOf('acquire').map((call) => call.at)).toEqual([300, 900]);
  });

  it('different ticks are independent', async () => {
    const { managers } = setup();
    const first = await managers[0]!.runOnce('job', 1000, () => 1);
    const second = await managers[1]!.runOnce('job', 2000, () => 2);
    expect([first.ran, second.ran]).toEqual([true, true]);
  });
});

describe('lock records and election leases never share a blob', () => {
  it('an election refuses a lease name under locks/ (reserved for lock records)', () => {
    expect(() => resolveElectionOptions({ leaseName: 'locks/lock/x', identity: 'a' })).toThrow(
      /Invalid leader election option "leaseName": got "locks\/lock\/x"; allowed: a lease name not starting with "locks\/"/,
    );
    expect(resolveElectionOptions({ leaseName: 'locks', identity: 'a' }).leaseName).toBe('locks');
  });
});

describe('LockManager: an acquire whose outcome is unknown', () => {
  it('gives the lease back when the caller stops waiting after an unanswered acquire', async () => {
    const { managers, clock, store, memory } = setup();
    // Every acquire reaches the store (the lease is taken) but its answer never comes in time.
    store.always('acquire', { type: 'slow-answer', ms: 60_000 });
    const stop = new AbortController();
    const waiting = managers[0]!.tryWithLock('unknown', () => 'x', { waitMs: 30_000, signal: stop.signal });
    const outcome = waiting.catch((error: unknown) => error);
    await clock.advance(6_000); // past the request timeout
    stop.abort(new Error('caller gave up'));
    await clock.advance(100);
    expect(await outcome).toEqual(new Error('caller gave up'));
    expect(store.callsOf('release').length).toBeGreaterThanOrEqual(1);
    expect((await memory.observe(lockLeaseName('unknown'), new AbortController().signal)).held).toBe(false);
  });
});

describe('LockManager: a waiter whose own acquire was applied but unanswered', () => {
  // Hostile review of the locks (2026-12-07), finding 3: later attempts read the lease "held" (by this
  // very call's leaseId) and waited it out as if another replica held it.
  it('acquires again with the same leaseId at once, instead of waiting out its own lease', async () => {
    const { clock, store, managers } = setup(['a']);
    store.inject('acquire', { type: 'succeed-then-fail' });
    const result = managers[0]!.tryWithLock('self', () => 'ran', { waitMs: 5_000 });
    await clock.advance(5_000);
    await expect(result).resolves.toMatchObject({ acquired: true, value: 'ran' });
    // The memory store grants an acquire on a held lease only to the same leaseId (as Azure does).
    expect(store.callsOf('acquire')).toHaveLength(2);
    expect(store.callsOf('observe')).toHaveLength(0);
  });
});
