import { afterEach, describe, expect, it } from '@jest/globals';
import { sleep } from '../../lib/core/clock.js';
import type { ResolvedElectionOptions } from '../../lib/core/election-options.js';
import { InvalidElectionOptionError } from '../../lib/core/errors.js';
import type { LeaseStore } from '../../lib/core/lease-store.js';
import { PresenceAgent, type PresenceHost } from '../../lib/core/presence-agent.js';
import type { PresenceAnnouncement, PresenceRecord, PresenceStore } from '../../lib/core/presence.js';
import { StoreRequests, type StoreRequestEvent } from '../../lib/core/store-requests.js';
import { ManualClock } from '../support/manual-clock.js';
import { RecordingLogger } from '../support/recording-logger.js';

// The presence agent on its own, against a scripted presence store on the manual clock: failback's
// rules (issue 9: a better candidate must be alive now, refreshed since first seen, and present for
// failbackAfterMs), orphan removal, the cached listing, and "never affects leadership by failing".
// Here: presence interval I = 10 s, stale after S = 30 s, our priority 1.

const I = 10_000;
const S = 30_000;

/** Records with a store-clock refresh time; ages are computed at listing time. */
class ScriptedPresenceStore implements PresenceStore {
  readonly description = 'scripted presence store';
  readonly records = new Map<string, PresenceAnnouncement & { refreshedAt: number }>();
  readonly withdrawn: string[] = [];
  lists = 0;
  failing?: Error;
  failWithdraw?: Error;
  constructor(
    private readonly clock: ManualClock,
    private readonly latencyMs = 0,
  ) {}

  /** Another candidate's record, refreshed at `refreshedAt` (store clock = the manual clock). */
  peer(identity: string, priority: number, refreshedAt: number, canLead = true): void {
    this.records.set(identity, { identity, priority, canLead, startedAt: 0, refreshedAt });
  }

  async announce(_lease: string, announcement: PresenceAnnouncement, signal: AbortSignal): Promise<void> {
    await this.answer(signal);
    this.records.set(announcement.identity, { ...announcement, refreshedAt: this.clock.now() });
  }

  async withdraw(_lease: string, identity: string, signal: AbortSignal): Promise<void> {
    await this.answer(signal);
    if (this.failWithdraw) throw this.failWithdraw;
    this.withdrawn.push(identity);
    this.records.delete(identity);
  }

  async list(_lease: string, signal: AbortSignal): Promise<PresenceRecord[]> {
    this.lists += 1;
    await this.answer(signal);
    return [...this.records.values()].map(({ refreshedAt, ...announcement }) => ({
      ...announcement,
      ageMs: this.clock.now() - refreshedAt,
    }));
  }

  private async answer(signal: AbortSignal): Promise<void> {
    if (this.latencyMs > 0) await sleep(this.clock, this.latencyMs, signal);
    signal.throwIfAborted();
    if (this.failing) throw this.failing;
  }
}

interface Setup {
  clock: ManualClock;
  store: ScriptedPresenceStore;
  agent: PresenceAgent;
  logger: RecordingLogger;
  stop: AbortController;
  requests: StoreRequests;
  handOvers: Array<{ identity: string; why: string; at: number }>;
  role: { leader: boolean; cooling: boolean };
}

const running: Setup[] = [];
afterEach(async () => {
  for (const setup of running.splice(0)) {
    setup.stop.abort();
    await setup.clock.advance(I);
  }
});

function setup(
  options: { failbackAfterMs?: number; canLead?: boolean; latencyMs?: number; leader?: boolean } = {},
): Setup {
  const clock = new ManualClock();
  const store = new ScriptedPresenceStore(clock, options.latencyMs);
  const logger = new RecordingLogger();
  const stop = new AbortController();
  const role = { leader: options.leader ?? true, cooling: false };
  const handOvers: Setup['handOvers'] = [];
  const host: PresenceHost = {
    leaseName: 'jobs',
    identity: 'me',
    requestTimeoutMs: 1_000,
    isLeader: () => role.leader,
    coolingDown: () => role.cooling,
    handOver: async (identity, why) => {
      handOvers.push({ identity, why, at: clock.now() });
    },
  };
  const requests = new StoreRequests(clock, stop.signal, {
    leaseName: 'jobs',
    identity: 'me',
    requestTimeoutMs: 1_000,
  });
  const agent = new PresenceAgent(
    store,
    host,
    {
      priority: 1,
      prioritySet: true,
      canLead: options.canLead ?? true,
      presence: { intervalMs: I, staleAfterMs: S },
      electionDelayMs: 0,
      preferenceWindowMs: 0,
      ...(options.failbackAfterMs === undefined ? {} : { failbackAfterMs: options.failbackAfterMs }),
    },
    requests,
    clock,
    logger,
    stop.signal,
  );
  const result = { clock, store, agent, logger, stop, requests, handOvers, role };
  running.push(result);
  return result;
}

/** Runs the agent's loop to `t` (loop passes at 0, I, 2 I, … with an instant store). */
async function at(s: Setup, t: number): Promise<void> {
  await s.clock.advanceTo(t);
}

describe('presence agent: failback', () => {
  it('hands the lease to a better candidate once it has been present for failbackAfterMs and refreshed since first seen', async () => {
    const s = setup({ failbackAfterMs: 2 * I });
    s.store.peer('b', 5, -1_000);
    s.agent.start();
    await at(s, 0); // first seen
    s.store.peer('b', 5, I - 1_000);
    await at(s, I); // refreshed since, present for I only
    expect(s.handOvers).toEqual([]);
    s.store.peer('b', 5, 2 * I - 1_000);
    await at(s, 2 * I);
    expect(s.handOvers).toEqual([
      { identity: 'b', why: 'failback: "b" (priority 5) has been present for 20 s', at: 2 * I },
    ]);
  });

  it('never hands the lease to a record that has not been refreshed since first seen (a replica that just crashed is still "live")', async () => {
    const s = setup({ failbackAfterMs: I });
    s.store.peer('b', 5, -5_000); // age 5 s at the first sighting, 15 s (= 1.5 I) at the next
    s.agent.start();
    await at(s, 2 * I);
    expect(s.handOvers).toEqual([]);
  });

  it('a refresh only 1 s later is within the store age resolution and does not count; one clearly later does', async () => {
    const s = setup({ failbackAfterMs: I });
    s.store.peer('b', 5, -5_000);
    s.agent.start();
    await at(s, 0);
    s.store.peer('b', 5, -4_000); // 1 s later: not clearly a refresh
    await at(s, I);
    expect(s.handOvers).toEqual([]);

    const t = setup({ failbackAfterMs: I });
    t.store.peer('b', 5, -5_000);
    t.agent.start();
    await at(t, 0);
    t.store.peer('b', 5, -3_999);
    await at(t, I);
    expect(t.handOvers.map((h) => [h.identity, h.at])).toEqual([['b', I]]);
  });

  it('the candidate must be alive now: refreshed within 1.5 intervals of the check', async () => {
    const alive = setup({ failbackAfterMs: I });
    alive.store.peer('b', 5, -9_000);
    alive.agent.start();
    await at(alive, 0);
    alive.store.peer('b', 5, I - 15_000); // age exactly 1.5 I
    await at(alive, I);
    expect(alive.handOvers.map((h) => h.at)).toEqual([I]);

    const late = setup({ failbackAfterMs: I });
    late.store.peer('b', 5, -9_000);
    late.agent.start();
    await at(late, 0);
    late.store.peer('b', 5, I - 15_001);
    await at(late, I);
    expect(late.handOvers).toEqual([]);
  });

  it('never fails back to an equal or lower priority, to an observer (canLead false), or without failback configured', async () => {
    for (const [identity, priority, canLead, failbackAfterMs] of [
      ['equal', 1, true, I],
      ['lower', 0, true, I],
      ['observer', 9, false, I],
      ['unconfigured', 9, true, undefined],
    ] as const) {
      const s = setup(failbackAfterMs === undefined ? {} : { failbackAfterMs });
      s.agent.start();
      for (let t = 0; t <= 3 * I; t += I) {
        s.store.peer(identity, priority, t - 1_000, canLead);
        await at(s, t);
      }
      expect([identity, s.handOvers]).toEqual([identity, []]);
    }
  });

  it('picks the most preferred of the better candidates that refreshed; one that crashed is passed over', async () => {
    const s = setup({ failbackAfterMs: I });
    s.store.peer('top', 9, -1_000); // crashes right after the first sighting
    s.store.peer('b', 5, -1_000);
    s.store.peer('c', 3, -1_000);
    s.agent.start();
    await at(s, 0);
    s.store.peer('b', 5, I - 1_000);
    s.store.peer('c', 3, I - 1_000);
    await at(s, I);
    expect(s.handOvers.map((h) => h.identity)).toEqual(['b']);
  });

  it('failback picks the most preferred better candidate whatever order the store lists them in', async () => {
    const s = setup({ failbackAfterMs: I });
    s.store.peer('c', 3, -1_000); // listed first
    s.store.peer('b', 5, -1_000);
    s.agent.start();
    await at(s, 0);
    s.store.peer('c', 3, I - 1_000);
    s.store.peer('b', 5, I - 1_000);
    await at(s, I);
    expect(s.handOvers.map((h) => h.identity)).toEqual(['b']);
  });

  it('a leader with failback on and no better candidate checks quietly: no failure logged, no hand-over', async () => {
    const s = setup({ failbackAfterMs: I });
    s.store.peer('lower', 0, -1_000);
    s.agent.start();
    await at(s, 2 * I);
    expect(s.store.lists).toBe(3);
    expect(s.logger.lines).toEqual([]);
    expect(s.handOvers).toEqual([]);
  });

  it('a candidate that went stale and came back starts over: first seen again, must refresh again and stay failbackAfterMs', async () => {
    const s = setup({ failbackAfterMs: 3 * I });
    s.store.peer('b', 5, -1_000);
    s.agent.start();
    await at(s, 0);
    s.store.peer('b', 5, I - 1_000); // refreshed, then crashes: stale from 4 I on
    await at(s, 4 * I);
    s.store.peer('b', 5, 5 * I - 1_000); // back
    await at(s, 5 * I);
    s.store.peer('b', 5, 6 * I - 1_000);
    await at(s, 6 * I);
    for (let t = 7 * I; t <= 8 * I; t += I) {
      expect(s.handOvers).toEqual([]);
      s.store.peer('b', 5, t - 1_000);
      await at(s, t);
    }
    expect(s.handOvers.map((h) => h.at)).toEqual([8 * I]);
  });

  it('after a hand-over that did not happen (still leader), the next one again waits failbackAfterMs', async () => {
    const s = setup({ failbackAfterMs: I });
    s.store.peer('b', 5, -1_000);
    s.agent.start();
    for (let t = 0; t <= 3 * I; t += I) {
      s.store.peer('b', 5, t - 1_000);
      await at(s, t);
    }
    // seen at 0, handed over at I; seen again at 2 I, refreshed at 3 I but present for I only at 3 I
    expect(s.handOvers.map((h) => h.at)).toEqual([I, 3 * I]);
  });
});

describe('presence agent: announcing, orphans and listings', () => {
  it('the leader deletes records not refreshed for more than twice staleAfterMs, and logs it; a follower deletes none', async () => {
    const s = setup();
    s.store.peer('orphan', 0, -2 * S - 1);
    s.store.peer('old', 0, -2 * S);
    s.agent.start();
    await at(s, 0);
    expect(s.store.withdrawn).toEqual(['orphan']);
    expect(s.logger.text()).toContain(
      'log: Removed the presence record of "orphan" from "jobs" (not refreshed for 60 s)',
    );

    const f = setup({ leader: false });
    f.store.peer('orphan', 0, -2 * S - 1);
    f.agent.start();
    await at(f, 2 * I);
    expect(f.store.withdrawn).toEqual([]);
    expect(f.store.lists).toBe(0); // a follower lists only on demand
  });

  it('with a store that takes time to answer, each call gets the request timeout: announce, list and withdraw all succeed', async () => {
    const s = setup({ latencyMs: 100 });
    s.store.peer('orphan', 0, -3 * S);
    const operations: StoreRequestEvent[] = [];
    s.requests.events$.subscribe((event) => operations.push(event));
    s.agent.start();
    await at(s, 1_000);
    expect(operations.map((e) => [e.operation, e.outcome])).toEqual([
      ['announce', 'ok'],
      ['list', 'ok'],
      ['withdraw', 'ok'],
    ]);
    expect(s.store.withdrawn).toEqual(['orphan']);
    s.role.leader = false;
    s.store.peer('b', 0, 0);
    expect(
      (await Promise.all([s.agent.liveRecords(0), s.clock.advance(200)]))[0].map((r) => r.identity),
    ).toEqual(['me', 'b']);
    expect(operations.at(-1)).toMatchObject({ operation: 'list', outcome: 'ok' });
  });

  it('announces canLead false while the host is in a cooldown, and always for an observer', async () => {
    const s = setup();
    s.agent.start();
    await at(s, 0);
    expect(s.store.records.get('me')?.canLead).toBe(true);
    s.role.cooling = true;
    await at(s, I);
    expect(s.store.records.get('me')?.canLead).toBe(false);
    s.role.cooling = false;
    await at(s, 2 * I);
    expect(s.store.records.get('me')?.canLead).toBe(true);

    const observer = setup({ canLead: false });
    observer.agent.start();
    await at(observer, 0);
    expect(observer.store.records.get('me')).toMatchObject({ canLead: false, priority: 1 });
  });

  it('liveRecords reuses a listing younger than maxAgeMs, ages it by the local clock and drops records older than staleAfterMs', async () => {
    const s = setup({ leader: false });
    expect(s.agent.lastKnownLive()).toEqual([]);
    s.store.peer('b', 0, -1_000);
    s.store.peer('edge', 0, 10_000 - S); // exactly S old in 10 s
    expect((await s.agent.liveRecords()).map((r) => [r.identity, r.ageMs])).toEqual([
      ['b', 1_000],
      ['edge', S - 10_000],
    ]);
    await s.clock.advance(I);
    const again = await s.agent.liveRecords();
    expect(s.store.lists).toBe(1);
    expect(again.map((r) => [r.identity, r.ageMs])).toEqual([
      ['b', 1_000 + I],
      ['edge', S],
    ]);
    await s.clock.advance(1);
    expect(s.agent.lastKnownLive().map((r) => r.identity)).toEqual(['b']);
    await s.agent.liveRecords();
    expect(s.store.lists).toBe(2); // older than one interval: listed again
  });

  it('a listing is reused and aged by the time since it was taken, not since the clock started', async () => {
    const s = setup({ leader: false });
    await s.clock.advanceTo(100_000);
    s.store.peer('b', 0, 99_000);
    await s.agent.liveRecords();
    await s.clock.advance(4_000);
    const aged = await s.agent.liveRecords();
    expect(s.store.lists).toBe(1);
    expect(aged.map((r) => [r.identity, r.ageMs])).toEqual([['b', 5_000]]);
  });

  it("stop withdraws our own record, reported as a 'withdraw' request", async () => {
    const s = setup({ leader: false });
    const operations: StoreRequestEvent[] = [];
    s.requests.events$.subscribe((event) => operations.push(event));
    s.agent.start();
    await at(s, 0);
    s.stop.abort();
    await Promise.all([s.agent.stop(), s.clock.advance(I)]);
    expect(s.store.withdrawn).toEqual(['me']);
    expect(operations.at(-1)).toMatchObject({ operation: 'withdraw', outcome: 'ok' });
  });

  it('betterTiers counts the distinct priorities above ours among live candidates that can lead', async () => {
    const s = setup({ leader: false });
    s.store.peer('a', 5, 0);
    s.store.peer('b', 5, 0);
    s.store.peer('c', 3, 0);
    s.store.peer('equal', 1, 0);
    s.store.peer('observer', 9, 0, false);
    s.store.peer('stale', 7, -S - 1);
    expect(await s.agent.betterTiers()).toBe(2);
  });
});

describe('presence agent: failures never affect leadership', () => {
  it('logs an outage once (debug), notes when records are reachable again, and logs the next outage again', async () => {
    const s = setup();
    s.agent.start();
    s.store.failing = new Error('boom');
    await at(s, 3 * I);
    const outage =
      'debug: Presence of "me" for "jobs" could not be refreshed (retrying; leadership is not affected): boom';
    expect(s.logger.text()).toBe(outage);
    s.store.failing = undefined;
    await at(s, 4 * I);
    await at(s, 5 * I);
    expect(s.logger.text()).toBe(`${outage}\ndebug: Presence records of "jobs" reachable again`);
    s.store.failing = new Error('boom');
    await at(s, 6 * I);
    expect(s.logger.lines.filter((l) => l.message.startsWith('Presence of'))).toHaveLength(2);
  });

  it('a call cut off by stop is not logged as an outage; stop withdraws our own record even so', async () => {
    const s = setup({ latencyMs: 100 });
    s.agent.start();
    await s.clock.advance(50); // the first announce is in flight
    s.stop.abort();
    const stopped = s.agent.stop();
    await s.clock.advance(200);
    await stopped;
    expect(s.logger.lines).toEqual([]);
    expect(s.store.withdrawn).toEqual(['me']);
  });

  it('a withdraw that fails on stop is logged (debug) and the record is left to go stale', async () => {
    const s = setup();
    s.agent.start();
    await at(s, 0);
    s.store.failWithdraw = new Error('nope');
    s.stop.abort();
    await s.agent.stop();
    expect(s.logger.text()).toBe(
      'debug: Could not withdraw the presence record of "me" for "jobs" (it goes stale instead): nope',
    );
  });
});

describe('presence agent: creation and yieldTo', () => {
  const lease = { description: 'a store without presence' } as unknown as LeaseStore;
  const options = (preference: Partial<ResolvedElectionOptions['preference']>): ResolvedElectionOptions =>
    ({
      preference: {
        priority: 0,
        prioritySet: false,
        canLead: true,
        presence: false,
        electionDelayMs: 0,
        preferenceWindowMs: 0,
        ...preference,
      },
    }) as ResolvedElectionOptions;
  const create = (store: LeaseStore, preference: Partial<ResolvedElectionOptions['preference']>) =>
    PresenceAgent.create(
      store,
      {} as PresenceHost,
      options(preference),
      {} as StoreRequests,
      new ManualClock(),
      new RecordingLogger(),
      new AbortController().signal,
    );

  it('no presence and no preference: no agent; presence on a presence store: an agent', () => {
    expect(create(lease, {})).toBeUndefined();
    const store = new ScriptedPresenceStore(new ManualClock()) as unknown as LeaseStore;
    expect(create(store, { presence: { intervalMs: I, staleAfterMs: S } })).toBeInstanceOf(PresenceAgent);
    expect(create(store, {})).toBeUndefined();
  });

  it('a priority or failback without a store that keeps presence records is refused, naming the option and the store', () => {
    const priority = (): unknown => create(lease, { prioritySet: true, priority: 4 });
    expect(priority).toThrow(InvalidElectionOptionError);
    expect(priority).toThrow(
      'Invalid leader election option "priority": got 4; allowed: a store with presence records ' +
        '(MemoryLeaseStore or AzureBlobLeaseStore; a store without presence has none).',
    );
    expect(() => create(lease, { failbackAfterMs: 1_000 })).toThrow(
      /option "failback": got "on"; allowed: a store with presence records/,
    );
  });

  it('yieldTo accepts only a live member that can lead, and names the live members when refusing', async () => {
    await expect(PresenceAgent.liveCandidate(undefined, 'jobs', 'b')).rejects.toThrow(
      'yieldTo: "b" is not a live member of "jobs" that can lead (live: none)',
    );
    const s = setup({ leader: false });
    s.store.peer('b', 0, 0);
    s.store.peer('watcher', 0, 0, false);
    await expect(PresenceAgent.liveCandidate(s.agent, 'jobs', 'b')).resolves.toBeUndefined();
    await expect(PresenceAgent.liveCandidate(s.agent, 'jobs', 'watcher')).rejects.toThrow(
      'yieldTo: "watcher" is not a live member of "jobs" that can lead (live: "b", "watcher")',
    );
    await expect(PresenceAgent.liveCandidate(s.agent, 'jobs', 'zed')).rejects.toThrow(
      /\(live: "b", "watcher"\)/,
    );
  });
});
