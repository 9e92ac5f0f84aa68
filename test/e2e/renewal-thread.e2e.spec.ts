import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
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
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite, type RunningAzurite } from '../support/azurite.mjs';

// Issue 11 on Azurite: a leader process whose main thread is blocked by CPU-bound work for longer
// than the lease (20 s, D = 15 s), with renewals on the renewal thread. A competitor in this process
// polls every 200 ms throughout. Needs dist/lib (npm test builds it in build:apps).

jest.setTimeout(90_000);

const connectionString = process.env.AZURITE_CONNECTION_STRING!;
const script = fileURLToPath(new URL('../support/blocking-leader.mjs', import.meta.url));
const BLOCK_MS = 20_000;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let child: ChildProcess | undefined;
let competitor: LeaderElector | undefined;
afterEach(async () => {
  child?.kill('SIGKILL');
  await competitor?.stop();
  child = undefined;
  competitor = undefined;
});

interface Line {
  leading?: boolean;
  afterBlock?: number;
  tokensMinted?: number;
  isLeader?: boolean;
  active?: boolean;
  term?: number;
}

/** Starts the blocking leader; resolves its output lines as they come. */
function startBlockingLeader(env: Record<string, string>): { next(): Promise<Line> } {
  child = spawn(process.execPath, [script], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return {
    async next() {
      const { value, done } = await lines.next();
      if (done) throw new Error('the blocking leader exited without output');
      return JSON.parse(value as string) as Line;
    },
  };
}

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

  describe('accountUrl + TokenCredential (Azurite over HTTPS with --oauth basic)', () => {
    let oauthAzurite: RunningAzurite;
    beforeAll(async () => {
      oauthAzurite = await startAzurite({ oauth: true });
    });
    afterAll(async () => {
      await oauthAzurite?.stop();
    });

    async function runWithToken(thread: boolean, blocks: number): Promise<Line[]> {
      const leader = startBlockingLeader({
        ACCOUNT_URL: oauthAzurite.accountUrl!,
        NODE_EXTRA_CA_CERTS: oauthAzurite.caFile!,
        TOKEN_LIFETIME_MS: '30000',
        CONTAINER: `e2e-token-${randomBytes(4).toString('hex')}`,
        THREAD: thread ? '1' : '0',
        MAX_BLOCKED_MS: '60000',
        BLOCK_MS: String(BLOCK_MS),
        BLOCKS: String(blocks),
        GAP_MS: '1000',
      });
      const lines = [await leader.next()];
      for (let i = 0; i < blocks; i++) lines.push(await leader.next());
      return lines;
    }

    it('tokens minted on the main thread reach the thread before they expire: two 20 s blocks (41 s, past the 30 s token life) keep the lease under one term', async () => {
      const [before, first, second] = await runWithToken(true, 2);
      expect(before).toMatchObject({ leading: true, term: 1 });
      expect(first).toMatchObject({ afterBlock: 1, isLeader: true, active: true, term: 1 });
      // The second block renews with a token minted after the first: the first one expired during it.
      expect(second).toMatchObject({ afterBlock: 2, isLeader: true, active: true, term: 1 });
      expect(second!.tokensMinted).toBeGreaterThanOrEqual(2);
    });

    it('control: the same credential with main-thread renewals loses the lease in a 20 s block', async () => {
      const [before, after] = await runWithToken(false, 1);
      expect(before).toMatchObject({ leading: true, term: 1 });
      expect(after).toMatchObject({ afterBlock: 1, isLeader: false, active: false });
    });
  });
});
