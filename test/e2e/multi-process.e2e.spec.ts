import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReplicaProcess, SAMPLE_APP_MAIN, waitForLeader } from '../../sample-app/demo/replica-process.js';
import { freePort } from '../support/azurite.mjs';

// Sample-app replicas as real child processes on the shared Azurite (npm test builds them first
// with `npm run build:apps`). Timings: D = 15 s (the minimum), follower poll R = 300 ms ± 20 %.
const LEASE_MS = 15_000;
const RETRY_MS = 300;
const RENEW_MS = LEASE_MS / 3;

async function until(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('sample-app replicas as separate processes', () => {
  let replicas: ReplicaProcess[] = [];

  beforeAll(async () => {
    if (!existsSync(SAMPLE_APP_MAIN))
      throw new Error(`${SAMPLE_APP_MAIN} is missing: run "npm run build:apps" first (npm test does)`);
    const logDir = mkdtempSync(join(tmpdir(), 'leader-e2e-'));
    const env = {
      AZURE_STORAGE_CONNECTION_STRING: process.env.AZURITE_CONNECTION_STRING!,
      LEASE_CONTAINER: `e2e-processes-${process.pid}`,
      RETRY_INTERVAL_MS: String(RETRY_MS),
    };
    replicas = await Promise.all(
      ['p1', 'p2', 'p3'].map(
        async (id) => new ReplicaProcess(id, await freePort(), env, join(logDir, `${id}.log`)),
      ),
    );
    await Promise.all(replicas.map((replica) => replica.start()));
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled(replicas.map((replica) => replica.kill()));
  });

  it('elects exactly one leader that every replica agrees on', async () => {
    const { leader, term } = await waitForLeader(replicas, { timeoutMs: 10_000 });
    const views = await Promise.all(replicas.map((replica) => replica.view()));
    const roles = views.map((view) => view!.leases.find((lease) => lease.leaseName === 'leader')!);
    expect(roles.filter((lease) => lease.role === 'leader')).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 2 * RETRY_MS));
    const again = await Promise.all(replicas.map((replica) => replica.view()));
    for (const view of again) {
      expect(view!.leases.find((lease) => lease.leaseName === 'leader')).toMatchObject({
        leader: leader.id,
        term,
      });
    }
    // The sample app's single-reader consumer (a @LeaderTask) runs on the leader only, with its term.
    expect(
      again.map((view) => [view!.identity, view!.consumer?.running ? view!.consumer.term : 'idle']),
    ).toEqual(replicas.map((replica) => [replica.id, replica === leader ? term : 'idle']));
  }, 30_000);

  it('SIGTERM on the leader: another replica leads within about one retry interval, with a higher term', async () => {
    const before = await waitForLeader(replicas, { timeoutMs: 10_000 });
    const stopping = before.leader.stop();
    const sentAt = Date.now();
    const after = await waitForLeader(replicas, { timeoutMs: 10_000, exclude: before.leader, pollMs: 20 });
    const takeoverMs = Date.now() - sentAt;
    await stopping;
    console.log(`multi-process graceful takeover (SIGTERM → new leader reports): ${takeoverMs} ms`);
    // Shutdown + release + one poll (R ± 20 %), with generous slack for a loaded machine.
    expect(takeoverMs).toBeLessThan(RETRY_MS * 1.2 + 5_000);
    expect(after.term).toBeGreaterThan(before.term!);
    // The consumer moved with the lease: it runs on the new leader, with the new term.
    await until(async () => (await after.leader.view())?.consumer?.term === after.term, 5_000);
    await before.leader.start(); // back as a follower for the next test
    expect(await before.leader.role()).toBe('follower');
  }, 60_000);

  it('SIGKILL on the leader: nobody else leads before the lease can have expired; someone does after it', async () => {
    const before = await waitForLeader(replicas, { timeoutMs: 10_000 });
    await before.leader.kill();
    const killedAt = Date.now();
    const after = await waitForLeader(replicas, {
      timeoutMs: LEASE_MS + 15_000,
      exclude: before.leader,
      pollMs: 20,
    });
    const takeoverMs = Date.now() - killedAt;
    console.log(`multi-process crash takeover (SIGKILL → new leader reports): ${takeoverMs} ms`);
    // The last renewal happened at most renewInterval before the kill, so the lease outlives the
    // crash by at least D − renewInterval; a takeover earlier than that would mean two leases.
    expect(takeoverMs).toBeGreaterThanOrEqual(LEASE_MS - RENEW_MS - 500);
    expect(takeoverMs).toBeLessThanOrEqual(LEASE_MS + RETRY_MS * 1.2 + 5_000);
    expect(after.term).toBeGreaterThan(before.term!);
  }, 60_000);
});
