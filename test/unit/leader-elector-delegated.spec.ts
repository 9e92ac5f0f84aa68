import { afterEach, describe, expect, it } from '@jest/globals';
import { LeaderElector, LeadershipEndedError } from '../../lib/core/leader-elector.js';
import type { DelegatedLease, DelegatedRenewal, RenewalDelegate } from '../../lib/core/renewal-delegate.js';
import { MemoryLeaseStore } from '../../lib/stores/memory/memory-lease-store.js';
import { FaultyStore } from '../support/faulty-store.js';
import { ManualClock } from '../support/manual-clock.js';
import { RecordingLogger } from '../support/recording-logger.js';
import { D, MARGIN, RENEW } from '../support/elector-harness.js';

// Issue 11, the elector's side of renewal off the main thread: it hands the tenure to a
// RenewalDelegate and reads the delegate's published send time, loss and stop reason. A scripted
// delegate stands in for the worker thread (the real one is tested in
// test/integration/renewal-thread-requests.spec.ts and test/e2e/renewal-thread*.e2e.spec.ts).

/** The renewing side as the elector sees it: what the thread would publish in shared memory. */
class ScriptedDelegate implements RenewalDelegate {
  readonly begun: DelegatedLease[] = [];
  ended = 0;
  sentAt = -Infinity;
  lostWith: { recordLost: boolean; message: string } | undefined;
  stopped: string | undefined;
  begin(lease: DelegatedLease): DelegatedRenewal {
    this.begun.push(lease);
    this.sentAt = lease.sentAt;
    this.lostWith = undefined;
    this.stopped = undefined;
    return {
      lastSentAt: () => this.sentAt,
      lost: () => this.lostWith,
      stoppedBecause: () => this.stopped,
      end: () => {
        this.ended += 1;
      },
    };
  }
}

let elector: LeaderElector | undefined;
let clock: ManualClock;
afterEach(async () => {
  const stopping = elector?.stop();
  for (let i = 0; i < 10; i++) await clock.advance(5_000);
  await stopping;
  elector = undefined;
});

async function leaderWithDelegate(): Promise<{
  delegate: ScriptedDelegate;
  store: FaultyStore;
  logger: RecordingLogger;
  acquiredAt: number;
}> {
  clock = new ManualClock();
  const store = new FaultyStore(new MemoryLeaseStore(clock), clock);
  const logger = new RecordingLogger();
  const delegate = new ScriptedDelegate();
  elector = new LeaderElector(
    store,
    { leaseName: 'jobs', identity: 'a', retryJitter: 0, presence: false },
    { clock, logger, renewalDelegate: delegate },
  );
  const acquiredAt = clock.now();
  await elector.start();
  expect(elector.isLeader()).toBe(true);
  return { delegate, store, logger, acquiredAt };
}

describe('LeaderElector with a renewal delegate', () => {
  it('hands the tenure over with its lease id, the acquire send time and every timing knob; sends no renewal itself', async () => {
    const { delegate, store, acquiredAt } = await leaderWithDelegate();
    expect(delegate.begun).toEqual([
      expect.objectContaining({
        leaseName: 'jobs',
        sentAt: acquiredAt,
        leaseDurationMs: D,
        safetyMarginMs: MARGIN,
        renewIntervalMs: RENEW,
        leaseId: expect.any(String),
      }),
    ]);
    delegate.sentAt = clock.now() + 1; // keep it alive while time passes
    for (let t = 0; t < 3 * RENEW; t += 1_000) {
      await clock.advance(1_000);
      delegate.sentAt = clock.now();
    }
    expect(store.callsOf('renew')).toHaveLength(0);
  });

  it('a send time published by the renewing side moves the deadline to that time + D − safetyMargin, exactly', async () => {
    const { delegate, acquiredAt } = await leaderWithDelegate();
    const first = elector!.leadership!;
    await clock.advance(10_000);
    delegate.sentAt = clock.now(); // the thread renewed at t = 10 s
    await clock.advance(D - MARGIN - 1); // past the acquire's deadline (14 s) …
    expect(clock.now()).toBeGreaterThan(acquiredAt + D - MARGIN);
    expect(elector!.isLeader()).toBe(true); // … still leader: the published renewal counts
    expect(first.signal.aborted).toBe(false);
    await clock.advance(1);
    // At 10 s + 14 s, not a millisecond later, the tenure ends (the elector may then take its own
    // free lease again, as a new tenure with a new term).
    expect(first.signal.aborted).toBe(true);
    expect((first.signal.reason as LeadershipEndedError).kind).toBe('deadline');
  });

  it('with nothing published the tenure ends at the acquire deadline, the signal aborts with reason "deadline", and the delegate is ended', async () => {
    const { delegate, acquiredAt } = await leaderWithDelegate();
    const signal = elector!.leadership!.signal;
    await clock.advance(acquiredAt + D - MARGIN - 1);
    expect(elector!.isLeader()).toBe(true);
    expect(signal.aborted).toBe(false);
    await clock.advance(1);
    expect(signal.aborted).toBe(true);
    expect((signal.reason as LeadershipEndedError).kind).toBe('deadline');
    expect(delegate.ended).toBe(1);
  });

  it("a definite loss published by the renewing side ends the tenure at the next isLeader() read, synchronously, with the thread's message", async () => {
    const { delegate, logger } = await leaderWithDelegate();
    const signal = elector!.leadership!.signal;
    await clock.advance(1_000);
    delegate.lostWith = {
      recordLost: false,
      message: 'renewal thread: HTTP 409 LeaseIdMismatchWithLeaseOperation',
    };
    expect(elector!.isLeader()).toBe(false); // no timer had to run
    expect((signal.reason as LeadershipEndedError).kind).toBe('lost');
    expect(logger.text()).toMatch(
      /Stepped down from "jobs" \(term 1\): lease lost: renewal thread: HTTP 409/,
    );
    expect(delegate.ended).toBe(1);
  });

  it('when the renewing side stopped on its own (main thread blocked past maxBlockedMs), the step-down line says why', async () => {
    const { delegate, logger } = await leaderWithDelegate();
    delegate.stopped =
      'a renewal was due while the main thread had not run for 61 s (more than maxBlockedMs, 60000 ms), so the renewal thread stopped renewing';
    await clock.advance(D);
    expect(logger.text()).toMatch(
      /lease deadline reached without a successful renewal: a renewal was due while the main thread had not run for 61 s/,
    );
  });

  it('past maxBlockedMs, a block that ends before the lease runs out: the tenure ends at its deadline and the process re-acquires its own lease with a new term; nobody else takes over', async () => {
    const { delegate, store } = await leaderWithDelegate();
    const memory = (store as unknown as { inner: MemoryLeaseStore }).inner;
    const other = new LeaderElector(
      new FaultyStore(memory, clock),
      { leaseName: 'jobs', identity: 'b', retryJitter: 0, presence: false },
      { clock, logger: new RecordingLogger() },
    );
    await other.start();
    delegate.stopped = 'the renewal thread stopped renewing (main thread blocked past maxBlockedMs)';
    let otherLed = false;
    for (let t = 0; t < 2 * D; t += 100) {
      await clock.advance(100);
      if (delegate.begun.length === 2 && t % 5_000 === 0) {
        // The new tenure is renewed again (the scripted thread renews for real, then publishes).
        const sentAt = clock.now();
        await memory.renew('jobs', elector!.leaseId, new AbortController().signal);
        delegate.sentAt = sentAt;
      }
      otherLed ||= other.isLeader();
      expect(elector!.isLeader() && other.isLeader()).toBe(false);
    }
    expect(otherLed).toBe(false);
    expect(elector!.state).toMatchObject({ role: 'leader', term: 2 });
    await other.stop();
  });

  it('a later tenure starts a new delegated renewal (the old one stays ended)', async () => {
    const { delegate } = await leaderWithDelegate();
    await clock.advance(D); // nothing published: steps down, then re-acquires its own free lease
    for (let i = 0; i < 20 && !elector!.isLeader(); i++) await clock.advance(1_000);
    expect(elector!.isLeader()).toBe(true);
    expect(delegate.begun).toHaveLength(2);
    expect(delegate.ended).toBe(1);
    expect(elector!.state.term).toBe(2);
  });
});
