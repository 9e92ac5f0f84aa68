import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  generateAccountSASQueryParameters,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { LeaderElector } from '../../lib/core/leader-elector.js';
import { silentLogger } from '../../lib/core/logger.js';
import { AzureBlobLeaseStore } from '../../lib/stores/azure-blob/azure-blob-lease-store.js';
import { AZURITE_ACCOUNT, AZURITE_KEY } from '../support/azurite.mjs';
import {
  BLOCK_MS,
  killBlockingLeaders,
  startBlockingLeader,
  type BlockingLeaderLine as Line,
} from './blocking-leader-process.js';

// Issue 11 on Azurite: a leader process whose main thread is blocked by CPU-bound work for longer
// than the lease (20 s, D = 15 s), with renewals on the renewal thread. A competitor in this process
// polls every 200 ms throughout. Needs dist/lib (npm test builds it in build:apps). The
// TokenCredential cases are in renewal-thread-token.e2e.spec.ts.

jest.setTimeout(90_000);

const connectionString = process.env.AZURITE_CONNECTION_STRING!;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let competitor: LeaderElector | undefined;
afterEach(async () => {
  killBlockingLeaders();
  await competitor?.stop();
  competitor = undefined;
});

/** Samples the competitor every 50 ms until `until` resolves; returns when it first led (ms after start), if it did. */
async function watchCompetitor(elector: LeaderElector, until: Promise<unknown>): Promise<number | undefined> {
  const started = Date.now();
  let firstLedAfter: number | undefined;
  let done = false;
  void until.finally(() => (done = true));
  while (!done) {
    if (elector.isLeader()) firstLedAfter ??= Date.now() - started;
    await sleep(50);
  }
  return firstLedAfter;
}

async function run(
  thread: boolean,
  maxBlockedMs: number,
  leaderConnectionString = connectionString,
): Promise<{ before: Line; after: Line; competitorLedAfter: number | undefined }> {
  const containerName = `e2e-thread-${randomBytes(4).toString('hex')}`;
  const leader = startBlockingLeader({
    CONNECTION_STRING: leaderConnectionString,
    CONTAINER: containerName,
    THREAD: thread ? '1' : '0',
    MAX_BLOCKED_MS: String(maxBlockedMs),
    BLOCK_MS: String(BLOCK_MS),
  });
  const before = await leader.next();
  const store = new AzureBlobLeaseStore({ connectionString, containerName });
  competitor = new LeaderElector(
    store,
    {
      leaseName: 'blocked-job',
      identity: 'competitor',
      retryIntervalMs: 200,
      retryJitter: 0,
      presence: false,
    },
    { logger: silentLogger },
  );
  await competitor.start();
  const afterBlock = leader.next();
  const competitorLedAfter = await watchCompetitor(competitor, afterBlock);
  return { before, after: await afterBlock, competitorLedAfter };
}

describe('renewal off the main thread (Azurite, separate process)', () => {
  it('a main thread blocked for 20 s (more than the 15 s lease) keeps the lease: no other replica leads during the block, and the job is still leader after it', async () => {
    const { before, after, competitorLedAfter } = await run(true, 60_000);
    expect(before).toMatchObject({ leading: true, term: 1 });
    expect(competitorLedAfter).toBeUndefined();
    expect(after).toMatchObject({ afterBlock: 1, isLeader: true, active: true, term: 1 });
  });

  it('past maxBlockedMs the renewal thread stops: the lease expires, another replica leads during the block, and the blocked job is not leader after it', async () => {
    const { after, competitorLedAfter } = await run(true, 1_500);
    expect(competitorLedAfter).toBeDefined();
    expect(competitorLedAfter!).toBeLessThan(BLOCK_MS);
    expect(after).toMatchObject({ afterBlock: 1, isLeader: false, active: false });
  });
});

describe('renewal off the main thread: each way to reach storage', () => {
  it('a SAS connection string crosses into the thread as it is: a 20 s block keeps the lease, nobody else leads', async () => {
    const blobEndpoint = /BlobEndpoint=([^;]+)/.exec(connectionString)![1]!;
    const sas = generateAccountSASQueryParameters(
      {
        expiresOn: new Date(Date.now() + 3_600_000),
        permissions: AccountSASPermissions.parse('rwdlacu'),
        resourceTypes: AccountSASResourceTypes.parse('sco').toString(),
        services: AccountSASServices.parse('b').toString(),
      },
      new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
    ).toString();
    const { after, competitorLedAfter } = await run(
      true,
      60_000,
      `BlobEndpoint=${blobEndpoint};SharedAccessSignature=${sas}`,
    );
    expect(competitorLedAfter).toBeUndefined();
    expect(after).toMatchObject({ afterBlock: 1, isLeader: true, active: true, term: 1 });
  });
});
