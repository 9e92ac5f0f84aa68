import { describe, expect, it } from '@jest/globals';
import type { LeadershipEndReason } from '../../lib/core/leadership-events.js';
import { LeaseLostError, LeaseRecordLostError, TransientStoreError } from '../../lib/core/lease-store.js';
import type { RecordLossRules } from '../../lib/core/record-loss.js';
import type { DelegatedRenewal, RenewalDelegate } from '../../lib/core/renewal-delegate.js';
import { StoreHealth } from '../../lib/core/store-health.js';
import { TenureKeeper } from '../../lib/core/tenure-keeper.js';
import { delegateRenewals, drainWithin, Tenure, type TenureEnvironment } from '../../lib/core/tenure.js';
import { renewalRetryDelay } from '../../lib/core/timing.js';
import { ManualClock, settle } from '../support/manual-clock.js';
import { RecordingLogger } from '../support/recording-logger.js';

// The tenure's timing rules and the keeper that renews or ends it, on the manual clock
// (docs/GUARANTEES.md, "Timing"): D = 15 s, safety margin 1 s, renewal every 5 s, renewal retries every
// 500 ms, requests bounded by 2 s. The deadline is the last successful send + D − margin.

const timings = {
  leaseDurationMs: 15_000,
  safetyMarginMs: 1_000,
  renewIntervalMs: 5_000,
  renewRetryIntervalMs: 500,
  requestTimeoutMs: 2_000,
  retryIntervalMs: 2_000,
  maxErrorBackoffMs: 30_000,
};

function environment(clock = new ManualClock(), logger = new RecordingLogger()) {
  const deadlines: Array<{ term: number; at: number }> = [];
  const env: TenureEnvironment = {
    clock,
    logger,
    timings,
    leaseName: 'jobs',
    drainTimeoutMs: 10_000,
    onDeadline: (tenure) => deadlines.push({ term: tenure.term, at: clock.now() }),
  };
  return { clock, logger, env, deadlines };
}

/** A renewal thread as the main thread sees it: a send time and a loss it may report. */
function scriptedDelegation() {
  const state = {
    sentAt: 0,
    lost: undefined as { recordLost: boolean; message: string } | undefined,
    stopped: undefined as string | undefined,
    ended: 0,
    begun: [] as unknown[],
  };
  const renewal: DelegatedRenewal = {
    lastSentAt: () => state.sentAt,
    lost: () => state.lost,
    stoppedBecause: () => state.stopped,
    end: () => void (state.ended += 1),
  };
  const delegate: RenewalDelegate = {
    begin: (lease) => {
      state.begun.push(lease);
      return renewal;
    },
  };
  return { state, renewal, delegate };
}

describe('Tenure: deadline and timer', () => {
  it('a renewal moves the deadline and the timer with it; the timer then fires at the new deadline, not the old', async () => {
    const { clock, env, deadlines } = environment();
    const tenure = new Tenure(1, 0, env);
    tenure.armDeadlineTimer();
    await clock.advanceTo(5_000);
    tenure.renewed(5_000);
    expect(tenure.deadline).toBe(19_000);
    await clock.advanceTo(18_999);
    expect(deadlines).toEqual([]);
    await clock.advanceTo(19_000);
    expect(deadlines).toEqual([{ term: 1, at: 19_000 }]);
  });

  it('a renewal with the same send time changes nothing (and arms no timer)', async () => {
    const { clock, env, deadlines } = environment();
    const tenure = new Tenure(1, 1_000, env);
    tenure.renewed(1_000);
    expect(tenure.deadline).toBe(15_000);
    await clock.advance(60_000);
    expect(deadlines).toEqual([]);
    expect(clock.pendingTimers).toBe(0);
  });

  it('re-arming replaces the timer: one report per deadline, never two', async () => {
    const { clock, env, deadlines } = environment();
    const tenure = new Tenure(1, 0, env);
    tenure.armDeadlineTimer();
    tenure.armDeadlineTimer();
    expect(clock.pendingTimers).toBe(1);
    await clock.advanceTo(14_000);
    expect(deadlines).toHaveLength(1);
  });

  it('ending clears the timer and ends the delegated renewal; a timer that fires after the end reports nothing', async () => {
    const { clock, env, deadlines } = environment();
    const { state, renewal } = scriptedDelegation();
    const tenure = new Tenure(1, 0, env, renewal);
    tenure.armDeadlineTimer();
    expect(tenure.end('lost', 'gone')).toBe(true);
    expect(clock.pendingTimers).toBe(0);
    expect(state.ended).toBe(1);
    expect(tenure.end('lost', 'again')).toBe(false);
    expect(state.ended).toBe(1);
    await clock.advance(60_000);
    expect(deadlines).toEqual([]);
  });

  it('remainingMs and the work view: time to the deadline while current, 0 once not', async () => {
    const { clock, env } = environment();
    const tenure = new Tenure(3, 0, env);
    let current = true;
    const view = tenure.describe({ leaseName: 'jobs', identity: 'me' }, () => current);
    expect(view).toMatchObject({ leaseName: 'jobs', identity: 'me', term: 3, since: clock.wallStart });
    expect(view.signal).toBe(tenure.signal);
    await clock.advance(4_000);
    expect(view.remainingMs()).toBe(10_000);
    current = false;
    expect(view.isActive()).toBe(false);
    expect(view.remainingMs()).toBe(0);
    await clock.advance(10_000);
    expect(tenure.remainingMs()).toBe(0);
    expect(tenure.leaseExpiredBy()).toBe(15_000);
  });
});

describe('Tenure: following a renewal thread', () => {
  it('a later send time moves the deadline exactly as a main-thread renewal; the same one does not count as an attempt', () => {
    const { env } = environment();
    const { state, renewal } = scriptedDelegation();
    const tenure = new Tenure(1, 0, env, renewal);
    expect(tenure.followDelegate()).toBeUndefined();
    expect(tenure.lastRenewAttemptAt).toBe(-Infinity);
    state.sentAt = 5_000;
    expect(tenure.followDelegate()).toBeUndefined();
    expect(tenure.deadline).toBe(19_000);
    expect(tenure.lastRenewAttemptAt).toBe(5_000);
  });

  it('reports the loss the thread saw while leading; nothing once the tenure ended, and nothing without a thread', () => {
    const { env } = environment();
    const { state, renewal } = scriptedDelegation();
    const tenure = new Tenure(1, 0, env, renewal);
    state.lost = { recordLost: true, message: '404' };
    expect(tenure.followDelegate()).toEqual({ recordLost: true, message: '404' });
    tenure.end('lost', 'x');
    state.sentAt = 9_000;
    expect(tenure.followDelegate()).toBeUndefined();
    expect(tenure.deadline).toBe(14_000);
    expect(new Tenure(2, 0, env).followDelegate()).toBeUndefined();
  });

  it('hands a new tenure to the delegate with every timing it needs; a delegate that refuses leaves renewals on the main thread, logged', () => {
    const { logger } = environment();
    const { state, delegate, renewal } = scriptedDelegation();
    const lease = { leaseName: 'jobs', leaseId: 'id-1' };
    expect(delegateRenewals(delegate, lease, timings, 700, logger)).toBe(renewal);
    expect(state.begun).toEqual([
      {
        leaseName: 'jobs',
        leaseId: 'id-1',
        sentAt: 700,
        leaseDurationMs: 15_000,
        safetyMarginMs: 1_000,
        renewIntervalMs: 5_000,
        renewRetryIntervalMs: 500,
        requestTimeoutMs: 2_000,
      },
    ]);
    const refusing: RenewalDelegate = {
      begin: () => {
        throw new Error('no free slot');
      },
    };
    expect(delegateRenewals(refusing, lease, timings, 700, logger)).toBeUndefined();
    expect(logger.text()).toBe(
      'warn: The renewal delegate cannot renew "jobs" (no free slot); renewing on the main thread',
    );
  });
});

describe('Tenure: why the deadline passed', () => {
  it('names a renewal that was due but never sent (blocked loop), a stopped renewal thread, or the last store error', async () => {
    const base = 'lease deadline reached without a successful renewal';
    const { clock, env } = environment();
    const tenure = new Tenure(1, 0, env);
    await clock.advanceTo(14_000); // renewal due at 5 s, never attempted
    expect(tenure.deadlineMissedReason('timeout')).toBe(
      `${base}: no renewal could be sent for 9.0 s after it was due (event loop blocked or process paused?)`,
    );
    tenure.lastRenewAttemptAt = 5_000; // attempted when due: the store is to blame
    expect(tenure.deadlineMissedReason('timeout')).toBe(`${base} (last error: timeout)`);
    expect(tenure.deadlineMissedReason()).toBe(base);

    const { state, renewal } = scriptedDelegation();
    state.stopped = 'the main thread was blocked for 20 s';
    expect(new Tenure(1, 0, env, renewal).deadlineMissedReason('x')).toBe(
      `${base}: the main thread was blocked for 20 s`,
    );
  });

  it('a renewal overdue by no more than one retry interval is not called blocked', async () => {
    const { clock, env } = environment();
    const tenure = new Tenure(1, 0, env);
    await clock.advanceTo(5_500);
    expect(tenure.deadlineMissedReason()).toBe('lease deadline reached without a successful renewal');
    await clock.advance(1);
    expect(tenure.deadlineMissedReason()).toMatch(/no renewal could be sent for 0\.5 s/);
  });
});

describe('Tenure: the drain before a release', () => {
  it("a drain is cut at the ended tenure's deadline when that comes before drainTimeoutMs, with a warning saying why", async () => {
    const { env, logger, clock } = environment();
    const tenure = new Tenure(1, 0, env); // deadline 14 s
    await clock.advanceTo(10_000); // 4 s left, drainTimeoutMs 10 s
    tenure.end('step-down', 'bye');
    void tenure.release(
      { current: () => undefined, send: async () => undefined },
      () => new Promise<void>(() => undefined),
    );
    await clock.advance(3_999);
    expect(tenure.state).toBe('draining');
    await clock.advance(1);
    await settle();
    expect(tenure.state).toBe('left-to-expire');
    expect(logger.lines.map((line) => line.message)).toContainEqual(
      'Work of the ended tenure of "jobs" (term 1) is still running as its lease runs out: another ' +
        'replica may lead beside it from now on (a drain cannot extend the lease; work must stop within ' +
        "the lease's remaining time after its signal aborts)",
    );
  });

  it('a drain that ends at once counts as drained at once', async () => {
    const { env } = environment();
    let drained: boolean | undefined;
    void drainWithin(env, async () => undefined).then((result) => (drained = result));
    await settle();
    expect(drained).toBe(true);
  });

  it('a tenure superseded by a later one never frees the lease', async () => {
    const { env } = environment();
    const old = new Tenure(1, 0, env);
    const later = new Tenure(2, 0, env);
    old.end('step-down', 'bye');
    const sent: Array<string | undefined> = [];
    let outcome: string | undefined;
    void old
      .release({ current: () => later, send: async (to) => void sent.push(to) })
      .then((state) => (outcome = state));
    await settle();
    expect(outcome).toBe('superseded');
    expect(sent).toEqual([]);
  });

  it('a drain that throws is no proof the work stopped (review-core-2 finding 2): not drained, the lease left to expire, its work cut', async () => {
    const { env, logger } = environment();
    let gaveUp: AbortSignal | undefined;
    await expect(
      drainWithin(env, async (signal) => {
        gaveUp = signal;
        throw new Error('drain broke');
      }),
    ).resolves.toBe(false);
    expect(gaveUp?.aborted).toBe(true);
    expect(logger.text()).toMatch(
      /^warn: The drain before releasing "jobs" failed: drain broke\nwarn: Not releasing lease "jobs"/,
    );
  });

  it('a drain still running at its bound is not drained: the warning names the successor and D, and the bound timer is cleared on success', async () => {
    const { env, logger, clock } = environment();
    const pending = drainWithin(env, () => new Promise<void>(() => undefined), 'b');
    await clock.advance(10_000);
    await expect(pending).resolves.toBe(false);
    expect(logger.text()).toBe(
      'warn: Not releasing lease "jobs" to "b": work of the ended tenure is still running; the lease ' +
        'expires by itself within 15 s, so no new leader starts beside that work until then',
    );
    await expect(drainWithin(env, async () => undefined)).resolves.toBe(true);
    expect(clock.pendingTimers).toBe(0);
    expect(logger.lines).toHaveLength(1);
  });

  it('the drain gets at most what is left of the lease, and says so when work outlives it; a superseding tenure never sees a release', async () => {
    const { env, logger, clock } = environment();
    const tenure = new Tenure(1, 0, env);
    await clock.advanceTo(10_000); // 4 s left, drainTimeoutMs 10 s
    tenure.end('step-down', 'bye');
    const sent: Array<string | undefined> = [];
    const releasing = tenure.release(
      { current: () => undefined, send: async (s) => void sent.push(s) },
      () => new Promise<void>(() => undefined),
    );
    await clock.advance(3_999);
    expect(tenure.state).toBe('draining');
    await clock.advance(1);
    await expect(releasing).resolves.toBe('left-to-expire');
    expect(sent).toEqual([]);
    expect(logger.text()).toContain('is still running as its lease runs out: another replica may lead');

    const own = new Tenure(2, clock.now(), env);
    own.end('step-down', 'bye');
    const released: Array<string | undefined> = [];
    await expect(own.release({ current: () => own, send: async (s) => void released.push(s) })).resolves.toBe(
      'released',
    );
    expect(released).toEqual([undefined]);
  });

  it('a drain cut short by its own bound (not by the lease) is not called "as its lease runs out"', async () => {
    const { env, logger } = environment();
    const tenure = new Tenure(1, env.clock.now(), env);
    tenure.end('step-down', 'bye');
    await expect(
      tenure.release({ current: () => undefined, send: async () => undefined }, async () => false),
    ).resolves.toBe('left-to-expire');
    expect(logger.text()).not.toContain('as its lease runs out');
  });
});

interface KeeperSetup {
  clock: ManualClock;
  logger: RecordingLogger;
  keeper: TenureKeeper;
  health: StoreHealth;
  demoted: Array<{ term: number; reason: LeadershipEndReason; message: string; at: number }>;
  sends: Array<{ at: number; timeoutMs: number }>;
  ownLosses: number[];
  stop: AbortController;
  current: { tenure?: Tenure };
  answers: Array<(tenure: Tenure) => Promise<void>>;
}

function keeperSetup(renewalDelegate?: RenewalDelegate): KeeperSetup {
  const clock = new ManualClock();
  const logger = new RecordingLogger();
  const health = new StoreHealth(clock, logger, 'jobs');
  const demoted: KeeperSetup['demoted'] = [];
  const sends: KeeperSetup['sends'] = [];
  const ownLosses: number[] = [];
  const stop = new AbortController();
  const current: { tenure?: Tenure } = {};
  const answers: KeeperSetup['answers'] = [];
  const keeper = new TenureKeeper({
    clock,
    logger,
    lease: { leaseName: 'jobs', leaseId: 'id-1' },
    timings,
    drainTimeoutMs: 10_000,
    ...(renewalDelegate ? { renewalDelegate } : {}),
    health,
    recordLoss: { ownRecordLost: (term: number) => void ownLosses.push(term) } as unknown as RecordLossRules,
    stopSignal: stop.signal,
    current: () => current.tenure,
    sendRenew: (tenure, timeoutMs) => {
      sends.push({ at: clock.now(), timeoutMs });
      const answer = answers.shift();
      // Bounded like the elector's own sendRenew: an answer later than timeoutMs is a timeout.
      return new Promise<void>((resolve, reject) => {
        const timer = clock.setTimeout(() => reject(new TransientStoreError('timed out')), timeoutMs);
        (answer ? answer(tenure) : Promise.resolve())
          .then(resolve, reject)
          .finally(() => clock.clearTimeout(timer));
      });
    },
    demote: (tenure, reason, message) => {
      if (tenure.end(reason, message)) demoted.push({ term: tenure.term, reason, message, at: clock.now() });
    },
  });
  return { clock, logger, keeper, health, demoted, sends, ownLosses, stop, current, answers };
}

const failAfter = (clock: ManualClock, ms: number, error: Error) => async (): Promise<void> => {
  await new Promise<void>((resolve) => clock.setTimeout(resolve, ms));
  throw error;
};

// These run before the longer keeper tests below: each checks its rule without awaiting the renewal
// loop, so a mutant that breaks the rule fails an assertion instead of leaving the loop pending.
describe('TenureKeeper: each rule at the moment it applies', () => {
  it('renewWhenDue returns as soon as its tenure ends, or the election stops, without waiting for the renewal to fall due', async () => {
    for (const ending of ['tenure', 'stop'] as const) {
      const s = keeperSetup();
      const tenure = s.keeper.begin(1, 0)!;
      s.current.tenure = tenure;
      let returned = false;
      void s.keeper.renewWhenDue(tenure).then(() => (returned = true));
      await s.clock.advanceTo(1_000);
      if (ending === 'tenure') tenure.end('step-down', 'bye');
      else s.stop.abort();
      await settle();
      expect(returned).toBe(true);
      expect(s.sends).toEqual([]);
    }
  });

  it('a main-thread tenure sends its renewal renewIntervalMs after the last send', async () => {
    const s = keeperSetup();
    const tenure = s.keeper.begin(1, 0)!;
    s.current.tenure = tenure;
    void s.keeper.renewWhenDue(tenure);
    await s.clock.advanceTo(5_000);
    await settle();
    expect(s.sends).toEqual([{ at: 5_000, timeoutMs: 2_000 }]);
    expect(tenure.deadline).toBe(19_000);
  });

  it('a definite loss on renewal ends the tenure the moment the store answers, with no retry', async () => {
    const s = keeperSetup();
    const tenure = s.keeper.begin(4, 0)!;
    s.current.tenure = tenure;
    s.answers.push(async () => {
      throw new LeaseLostError('someone else holds it');
    });
    void s.keeper.renewWhenDue(tenure);
    await s.clock.advanceTo(5_000);
    await settle();
    expect(s.demoted.map((d) => [d.reason, d.message, d.at])).toEqual([
      ['lost', 'lease lost: someone else holds it', 5_000],
    ]);
    expect(s.sends).toHaveLength(1);
  });

  it('delegated: a loss the renewal thread reports ends the tenure at the next read of its progress', async () => {
    const { state, delegate } = scriptedDelegation();
    const s = keeperSetup(delegate);
    const tenure = s.keeper.begin(2, 0)!;
    s.current.tenure = tenure;
    void s.keeper.renewWhenDue(tenure);
    state.lost = { recordLost: false, message: 'taken' };
    await s.clock.advanceTo(3_000);
    await settle();
    expect(s.demoted.map((d) => [d.reason, d.message])).toEqual([['lost', 'lease lost: taken']]);
    expect(s.ownLosses).toEqual([]);
  });
});

describe('TenureKeeper', () => {
  it('refuses a tenure whose acquire answered at or after its deadline, logged; one answered just before starts', async () => {
    const s = keeperSetup();
    await s.clock.advanceTo(14_000);
    expect(s.keeper.begin(1, 0)).toBeUndefined();
    expect(s.logger.text()).toBe(
      'warn: Acquired lease "jobs" too late to use it (the request took longer than the lease); acquiring again',
    );
    expect(s.keeper.begin(2, 1)?.deadline).toBe(14_001);
  });

  it("isLeader()'s check ends a tenure past its deadline, naming why", async () => {
    const s = keeperSetup();
    const tenure = s.keeper.begin(1, 0)!;
    s.current.tenure = tenure;
    await s.clock.advanceTo(13_999);
    expect(s.keeper.check(tenure)).toBe(true);
    await s.clock.advanceTo(14_000);
    expect(s.keeper.check(tenure)).toBe(false);
    expect(s.demoted).toEqual([
      {
        term: 1,
        reason: 'deadline',
        message:
          'lease deadline reached without a successful renewal: no renewal could be sent for 9.0 s after it was due (event loop blocked or process paused?)',
        at: 14_000,
      },
    ]);
  });

  it('the deadline timer ends the current tenure at its deadline, and leaves one that is no longer current alone', async () => {
    const s = keeperSetup();
    const tenure = s.keeper.begin(1, 0)!;
    s.current.tenure = tenure;
    tenure.armDeadlineTimer();
    await s.clock.advanceTo(14_000);
    expect(s.demoted.map((d) => [d.reason, d.at])).toEqual([['deadline', 14_000]]);

    const other = keeperSetup();
    const old = other.keeper.begin(1, 0)!;
    other.current.tenure = other.keeper.begin(2, 0);
    old.armDeadlineTimer();
    await other.clock.advanceTo(20_000);
    expect(other.demoted).toEqual([]);
    expect(old.state).toBe('leading'); // its elector moved on; only the current tenure is ended here
  });

  it('renews when due, bounded by the request timeout; a success moves the deadline from its send time', async () => {
    const s = keeperSetup();
    const tenure = s.keeper.begin(1, 0)!;
    s.current.tenure = tenure;
    const renewing = s.keeper.renewWhenDue(tenure);
    await s.clock.advanceTo(4_999);
    expect(s.sends).toEqual([]);
    await s.clock.advanceTo(5_000);
    await renewing;
    expect(s.sends).toEqual([{ at: 5_000, timeoutMs: 2_000 }]);
    expect(tenure.deadline).toBe(19_000);
    expect(tenure.lastRenewAttemptAt).toBe(5_000);
  });

  it('retries transient failures every retry interval, each bounded by the time left, and reports the store reachable again', async () => {
    const s = keeperSetup();
    const tenure = s.keeper.begin(1, 0)!;
    s.current.tenure = tenure;
    for (let i = 0; i < 4; i++) s.answers.push(failAfter(s.clock, 1_500, new TransientStoreError('503')));
    const renewing = s.keeper.renewWhenDue(tenure);
    await s.clock.advanceTo(14_000);
    await renewing;
    expect(s.sends).toEqual([
      { at: 5_000, timeoutMs: 2_000 },
      { at: 7_000, timeoutMs: 2_000 },
      { at: 9_000, timeoutMs: 2_000 },
      { at: 11_000, timeoutMs: 2_000 },
      { at: 13_000, timeoutMs: 1_000 },
    ]);
    expect(tenure.deadline).toBe(27_000); // the fifth, answered at once, moved it
    expect(s.logger.text()).toContain('warn: Lease store transient error during renewal of "jobs": 503');
    expect(s.logger.text()).toContain(
      'log: Lease store reachable again for "jobs" after 4 failed request(s)',
    );
  });

  it('a renewal never sent before the deadline ends the tenure at the deadline, not later', async () => {
    const s = keeperSetup();
    const tenure = s.keeper.begin(1, 0)!;
    s.current.tenure = tenure;
    for (let i = 0; i < 10; i++) s.answers.push(failAfter(s.clock, 9_000, new TransientStoreError('slow')));
    const renewing = s.keeper.renewWhenDue(tenure);
    await s.clock.advanceTo(20_000);
    await renewing;
    expect(s.demoted.map((d) => [d.reason, d.at])).toEqual([['deadline', 14_000]]);
    expect(s.sends.map((send) => [send.at, send.timeoutMs])).toEqual([
      [5_000, 2_000],
      [7_500, 2_000],
      [10_000, 2_000],
      [12_500, 1_500],
    ]);
  });

  it('a definite loss ends the tenure at once; a lost record also starts the record-loss wait', async () => {
    const s = keeperSetup();
    const tenure = s.keeper.begin(4, 0)!;
    s.current.tenure = tenure;
    s.answers.push(async () => {
      throw new LeaseLostError('someone else holds it');
    });
    await Promise.all([s.keeper.renewWhenDue(tenure), s.clock.advanceTo(5_000)]);
    expect(s.demoted.map((d) => [d.reason, d.message, d.at])).toEqual([
      ['lost', 'lease lost: someone else holds it', 5_000],
    ]);
    expect(s.ownLosses).toEqual([]);
    expect(s.logger.text()).not.toContain('error during renewal');

    const r = keeperSetup();
    const mine = r.keeper.begin(5, 0)!;
    r.current.tenure = mine;
    r.answers.push(async () => {
      throw new LeaseRecordLostError('404 BlobNotFound');
    });
    await Promise.all([r.keeper.renewWhenDue(mine), r.clock.advanceTo(5_000)]);
    expect(r.ownLosses).toEqual([5]);
    expect(r.demoted.map((d) => d.reason)).toEqual(['lost']);
  });

  it('an answer that arrives after the tenure ended changes nothing', async () => {
    const s = keeperSetup();
    const tenure = s.keeper.begin(1, 0)!;
    s.current.tenure = tenure;
    s.answers.push(async () => {
      tenure.end('step-down', 'bye');
    });
    s.answers.push(async () => {
      throw new LeaseRecordLostError('404');
    });
    await Promise.all([s.keeper.renewWhenDue(tenure), s.clock.advanceTo(5_000)]);
    expect(tenure.deadline).toBe(14_000);
    expect(s.health.lastContactAt).toBeUndefined();

    const t = keeperSetup();
    const ended = t.keeper.begin(1, 0)!;
    t.current.tenure = ended;
    t.answers.push(async () => {
      ended.end('step-down', 'bye');
      throw new LeaseRecordLostError('404');
    });
    await Promise.all([t.keeper.renewWhenDue(ended), t.clock.advanceTo(20_000)]);
    expect(t.ownLosses).toEqual([]); // a 404 after our own release is no loss
    expect(t.sends).toHaveLength(1);
  });

  it('stops renewing when the election stops', async () => {
    const s = keeperSetup();
    const tenure = s.keeper.begin(1, 0)!;
    s.current.tenure = tenure;
    s.answers.push(failAfter(s.clock, 1_000, new TransientStoreError('503')));
    const renewing = s.keeper.renewWhenDue(tenure);
    await s.clock.advanceTo(5_500);
    s.stop.abort();
    await s.clock.advanceTo(20_000);
    await renewing;
    expect(s.sends).toHaveLength(1);
    expect(s.demoted).toEqual([]);
  });

  it('delegated: follows the renewal thread (the store counts as answering when a send moves) and ends the tenure on the loss it reports', async () => {
    const { state, delegate } = scriptedDelegation();
    const s = keeperSetup(delegate);
    s.health.failed(new TransientStoreError('503'), 'renewal');
    const tenure = s.keeper.begin(2, 0)!;
    expect(tenure.delegated).toBeDefined();
    s.current.tenure = tenure;
    const following = s.keeper.renewWhenDue(tenure);
    await s.clock.advanceTo(4_000);
    expect(s.health.consecutiveFailures).toBe(1); // nothing new from the thread yet
    state.sentAt = 4_000;
    await s.clock.advanceTo(4_500);
    expect(s.health.consecutiveFailures).toBe(0);
    expect(tenure.deadline).toBe(18_000);
    state.lost = { recordLost: true, message: 'record gone' };
    await s.clock.advanceTo(5_000);
    await following;
    expect(s.demoted.map((d) => [d.reason, d.message, d.at])).toEqual([
      ['lost', 'lease lost: record gone', 5_000],
    ]);
    expect(s.ownLosses).toEqual([2]);
    expect(s.sends).toEqual([]);
  });

  it("delegated: isLeader()'s check reads the thread's progress first, so a renewal it made keeps the tenure", async () => {
    const { state, delegate } = scriptedDelegation();
    const s = keeperSetup(delegate);
    const tenure = s.keeper.begin(1, 0)!;
    s.current.tenure = tenure;
    state.sentAt = 10_000;
    s.clock.jump(20_000); // the main thread was blocked; the thread renewed meanwhile
    expect(s.keeper.check(tenure)).toBe(true);
    state.lost = { recordLost: false, message: 'taken' };
    expect(s.keeper.check(tenure)).toBe(false);
    expect(s.demoted.map((d) => d.reason)).toEqual(['lost']);
    expect(s.ownLosses).toEqual([]);
  });

  it('the retry delay never reaches past the deadline', () => {
    expect(renewalRetryDelay(10_000, 9_800, timings)).toBe(200);
    expect(renewalRetryDelay(10_000, 11_000, timings)).toBe(0);
    expect(renewalRetryDelay(10_000, 1_000, timings)).toBe(500);
  });
});
