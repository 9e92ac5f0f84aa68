import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import { BlobServiceClient } from '@azure/storage-blob';
import { LockLostError, LockNotAcquiredError } from '../../lib/locks/lock-errors.js';
import { LockManager } from '../../lib/locks/lock-manager.js';
import { lockLeaseName, runLeaseName } from '../../lib/locks/lock-names.js';
import { AzureBlobLeaseStore } from '../../lib/stores/azure-blob/azure-blob-lease-store.js';

// LockManager over AzureBlobLeaseStore on the Azurite of Jest's global setup, real time: each replica
// has its own store instance, as separate processes would.

const connectionString = process.env.AZURITE_CONNECTION_STRING!;
const CONTAINER = `it-locks-${randomBytes(4).toString('hex')}`;
const managers: LockManager[] = [];
const container = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(CONTAINER);

function replica(identity: string): LockManager {
  const manager = new LockManager(new AzureBlobLeaseStore({ connectionString, containerName: CONTAINER }), {
    identity,
    retryIntervalMs: 500,
  });
  managers.push(manager);
  return manager;
}

const unique = (label: string): string => `${label}-${randomUUID().slice(0, 8)}`;

afterAll(async () => {
  await Promise.all(managers.map((manager) => manager.stop(1_000)));
  await container.deleteIfExists();
});

describe('locks on Azurite', () => {
  it('a contended lock: one holder at a time, the waiter takes it after the release, terms increase', async () => {
    const [a, b] = [replica('a'), replica('b')];
    const name = unique('contended');
    let release!: () => void;
    const first = a.withLock(name, async ({ term }) => {
      await new Promise<void>((resolve) => (release = resolve));
      return term;
    });
    while (!release) await new Promise((resolve) => setTimeout(resolve, 20));
    await expect(b.withLock(name, () => 'x')).rejects.toBeInstanceOf(LockNotAcquiredError);
    const waiting = b.tryWithLock(name, ({ term }) => term, { waitMs: 20_000 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    release();
    const firstTerm = await first;
    const second = await waiting;
    expect(second).toMatchObject({ acquired: true });
    expect((second as { value: number }).value).toBeGreaterThan(firstTerm);
    const properties = await container.getBlobClient(lockLeaseName(name)).getProperties();
    expect(properties.leaseState).toBe('available');
    expect(properties.metadata).toMatchObject({ leader: 'b' });
  }, 60_000);

  it("loss aborts the signal: a broken lease ends fn's signal with LockLostError at the next renewal", async () => {
    const a = replica('a');
    const name = unique('broken');
    const outcome = await a.withLock(name, async ({ signal }) => {
      await container.getBlobClient(lockLeaseName(name)).getBlobLeaseClient().breakLease(0);
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      return signal.reason as unknown;
    });
    expect(outcome).toBeInstanceOf(LockLostError);
    expect((outcome as LockLostError).reason).toBe('lost');
  }, 60_000);

  it('releases the lock when fn throws', async () => {
    const [a, b] = [replica('a'), replica('b')];
    const name = unique('throws');
    await expect(
      a.withLock(name, () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect((await container.getBlobClient(lockLeaseName(name)).getProperties()).leaseState).toBe('available');
    await expect(b.tryWithLock(name, () => 'after')).resolves.toMatchObject({
      acquired: true,
      value: 'after',
    });
  }, 60_000);

  it('per-run: a tick tried by three replicas runs once, and its record keeps it done', async () => {
    const replicas = [replica('a'), replica('b'), replica('c')];
    const job = unique('job');
    const tickAt = 1_700_000_000_000;
    const ran: string[] = [];
    const results = await Promise.all(
      replicas.map((manager) => manager.runOnce(job, tickAt, () => ran.push(manager.identity))),
    );
    expect(ran).toHaveLength(1);
    expect(results.filter((result) => result.ran)).toHaveLength(1);
    const record = await container.getBlobClient(runLeaseName(job, tickAt)).getProperties();
    expect(record.metadata).toMatchObject({ leader: ran[0], term: '1' });
    expect(await replicas[1]!.runOnce(job, tickAt, () => ran.push('again'))).toMatchObject({ ran: false });
    expect(ran).toHaveLength(1);
  }, 60_000);
});
