import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { systemClock, type Clock } from '../../lib/core/clock.js';
import type { ElectionOptions } from '../../lib/core/election-options.js';
import { LeaderElector } from '../../lib/core/leader-elector.js';
import { AzureBlobLeaseStore, presenceBlobName } from '../../lib/stores/azure-blob/azure-blob-lease-store.js';
import { FaultyStore } from '../support/faulty-store.js';
import { RecordingLogger } from '../support/recording-logger.js';

// Presence and preferred leaders against the real Azure store on Azurite (issue 9). Short timings:
// presence every 1 s, stale after 2.5 s, polls every 200 ms, preference window 1 s.

jest.setTimeout(60_000);

const connectionString = process.env.AZURITE_CONNECTION_STRING!;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const fast: Partial<ElectionOptions> = {
  retryIntervalMs: 200,
  retryJitter: 0,
  presence: { intervalMs: 1_000, staleAfterMs: 2_500 },
  preferenceWindowMs: 1_000,
  electionDelayMs: 1_500,
};

let electors: LeaderElector[] = [];
afterEach(async () => {
  await Promise.allSettled(electors.map((elector) => elector.stop()));
  electors = [];
});

function lease(): { store: AzureBlobLeaseStore; name: string } {
  const containerName = `it-presence-${randomBytes(4).toString('hex')}`;
  return { store: new AzureBlobLeaseStore({ connectionString, containerName }), name: 'jobs/nightly' };
}

function candidate(
  store: AzureBlobLeaseStore | FaultyStore,
  leaseName: string,
  identity: string,
  options: Partial<ElectionOptions> = {},
  clock: Clock = systemClock,
): LeaderElector {
  const elector = new LeaderElector(
    store,
    { leaseName, identity, ...fast, ...options },
    { clock, logger: new RecordingLogger() },
  );
  electors.push(elector);
  return elector;
}

/** Samples every 50 ms for `ms`, failing on two leaders at once; returns the leader at the end. */
async function watch(all: LeaderElector[], ms: number): Promise<string | undefined> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    expect(all.filter((elector) => elector.isLeader()).length).toBeLessThanOrEqual(1);
    await sleep(50);
  }
  return all.find((elector) => elector.isLeader())?.identity;
}

describe('presence on Azurite', () => {
  it('lists exactly the live candidates; a stopped one withdraws; one that stops refreshing (crash) drops out within the staleness bound', async () => {
    const { store, name } = lease();
    const a = candidate(store, name, 'a');
    const b = candidate(store, name, 'b');
    const crashing = new FaultyStore(store, systemClock);
    const c = candidate(crashing, name, 'c');
    await Promise.all([a.start(), b.start(), c.start()]);
    await sleep(1_500);
    expect((await a.members()).map((m) => m.identity).sort()).toEqual(['a', 'b', 'c']);
    await b.stop();
    await sleep(1_100); // members() lists at most once per presence interval
    expect((await a.members()).map((m) => m.identity).sort()).not.toContain('b');
    for (const op of ['announce', 'observe', 'acquire', 'renew', 'list', 'withdraw'] as const)
      crashing.always(op, { type: 'hang' });
    await sleep(4_000); // > staleAfterMs + the listing's age
    expect((await a.members()).map((m) => m.identity)).toEqual(['a']);
    const record = await store.container.getBlobClient(presenceBlobName(name, 'a')).getProperties();
    expect(record.metadata).toMatchObject({ identity: 'a', priority: '0', canlead: 'true' });
  });

  it("judges liveness on the service's clock: a candidate whose wall clock is hours off is live and refreshed seconds ago", async () => {
    const { store, name } = lease();
    const skewed: Clock = { ...systemClock, wallNow: () => Date.now() + 3 * 3_600_000 };
    const a = candidate(store, name, 'a');
    const z = candidate(store, name, 'z', {}, skewed);
    await Promise.all([a.start(), z.start()]);
    await sleep(1_500);
    const members = await a.members();
    const skewedMember = members.find((m) => m.identity === 'z');
    expect(skewedMember).toBeDefined();
    expect(skewedMember!.lastSeenAgoMs).toBeLessThanOrEqual(2_500);
    expect(skewedMember!.startedAt - Date.now()).toBeGreaterThan(2 * 3_600_000); // its own (wrong) clock, display only
  });
});

describe('preferred leaders on Azurite', () => {
  for (const order of [
    ['low', 'mid', 'high'],
    ['high', 'low', 'mid'],
    ['mid', 'high', 'low'],
  ]) {
    it(`three priorities started in the order ${order.join(', ')}: the best leads after the delay; stopping it hands over to the next; never two leaders`, async () => {
      const { store, name } = lease();
      const priorities: Record<string, number> = { low: 1, mid: 2, high: 3 };
      const started: Record<string, LeaderElector> = {};
      for (const who of order) {
        started[who] = candidate(store, name, who, { priority: priorities[who] });
        await started[who].start();
        await sleep(300);
      }
      const all = Object.values(started);
      expect(await watch(all, 5_000)).toBe('high');
      await started.high!.stop();
      expect(await watch(all, 2_500)).toBe('mid');
    });
  }

  it('canLead: false never leads, even alone on the lease', async () => {
    const { store, name } = lease();
    const observer = candidate(store, name, 'observer', { canLead: false });
    await observer.start();
    expect(await watch([observer], 2_000)).toBeUndefined();
    expect((await observer.members()).map((m) => [m.identity, m.canLead])).toEqual([['observer', false]]);
  });

  it('with failback on, the better candidate that returns gets the lease back after afterStableMs, with no overlap', async () => {
    const { store, name } = lease();
    const mid = candidate(store, name, 'mid', { priority: 2, failback: { afterStableMs: 2_000 } });
    await mid.start();
    expect(await watch([mid], 2_500)).toBe('mid');
    const high = candidate(store, name, 'high', { priority: 3, failback: { afterStableMs: 2_000 } });
    await high.start();
    expect(await watch([mid, high], 1_000)).toBe('mid');
    expect(await watch([mid, high], 5_000)).toBe('high');
    expect(high.state.term).toBeGreaterThan(1);
  });
});
