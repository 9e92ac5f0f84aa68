import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  BlobServiceClient,
  ContainerSASPermissions,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
  type ContainerClient,
} from '@azure/storage-blob';
import { LeaderElector } from '../../lib/core/leader-elector.js';
import { PermanentStoreError } from '../../lib/core/lease-store.js';
import {
  AzureBlobLeaseStore,
  MAX_TERM,
  METADATA,
} from '../../lib/stores/azure-blob/azure-blob-lease-store.js';
import { AZURITE_ACCOUNT, AZURITE_KEY, azuriteConnectionString, freePort } from '../support/azurite.mjs';
import { RecordingLogger } from '../support/recording-logger.js';

// Issue 14 items 12 (tampered terms) and 13 (foreign holder text), issue 7 item 4 (hints for
// permanent errors), against the Azurite of Jest's global setup (and one older-API Azurite).

const connectionString = process.env.AZURITE_CONNECTION_STRING!;
const port = Number(process.env.AZURITE_PORT);
const suffix = randomBytes(4).toString('hex');
const CONTAINER = `it-hardening-${suffix}`;

let container: ContainerClient;
let store: AzureBlobLeaseStore;
const live = (): AbortSignal => new AbortController().signal;
let counter = 0;
const leaseName = (label: string): string => `${label}-${++counter}-${randomUUID().slice(0, 8)}`;

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** An unleased blob with the given (tampered) metadata. */
async function tampered(metadata: Record<string, string>): Promise<string> {
  const name = leaseName('tampered');
  await container.getBlockBlobClient(name).upload('', 0, { metadata });
  return name;
}

beforeAll(async () => {
  container = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(CONTAINER);
  await container.createIfNotExists();
  store = new AzureBlobLeaseStore({ connectionString, containerName: CONTAINER });
});

afterAll(async () => {
  await container.deleteIfExists();
});

describe('tampered terms are a lost record (issue 14, item 12)', () => {
  it.each([
    ['above 2^53 (Number() would round it)', '9007199254740993'],
    ['400 digits (Number() would give Infinity)', `1${'0'.repeat(399)}`],
    ['negative', '-3'],
    ['not a number', '12abc'],
    ['MAX_SAFE_INTEGER (no room for + 1)', String(Number.MAX_SAFE_INTEGER)],
  ])(
    'a term %s is observed as 0, and acquire continues from the term the candidate saw',
    async (_label, term) => {
      const name = await tampered({ [METADATA.term]: term, [METADATA.leader]: 'x' });
      expect((await store.observe(name, live())).term).toBe(0);
      const result = await store.acquire(
        { leaseName: name, leaseId: randomUUID(), identity: 'b', durationSeconds: 15, minimumTerm: 41 },
        live(),
      );
      expect(result).toEqual({ acquired: true, term: 42, previousTerm: 0 });
      const written = (await container.getBlobClient(name).getProperties()).metadata?.[METADATA.term];
      expect(written).toBe('42');
    },
  );

  it('the largest trusted term still orders leaders', async () => {
    const name = await tampered({ [METADATA.term]: String(MAX_TERM) });
    expect((await store.observe(name, live())).term).toBe(MAX_TERM);
    const result = await store.acquire(
      { leaseName: name, leaseId: randomUUID(), identity: 'b', durationSeconds: 15 },
      live(),
    );
    expect(result).toMatchObject({ acquired: true, term: MAX_TERM + 1 });
    expect(Number.isSafeInteger(MAX_TERM + 1)).toBe(true);
  });

  it('ignores an unsafe minimumTerm from a caller instead of writing an unsafe term', async () => {
    const name = await tampered({ [METADATA.term]: '7' });
    const result = await store.acquire(
      { leaseName: name, leaseId: randomUUID(), identity: 'b', durationSeconds: 15, minimumTerm: Infinity },
      live(),
    );
    expect(result).toMatchObject({ acquired: true, term: 8 });
  });

  it('a follower that saw a term treats a tampered term as record loss (waits, warns) instead of adopting it', async () => {
    const name = leaseName('elector');
    const leader = new LeaderElector(
      store,
      { leaseName: name, identity: 'a', retryIntervalMs: 50, retryJitter: 0 },
      { logger: new RecordingLogger() },
    );
    const logger = new RecordingLogger();
    const follower = new LeaderElector(
      store,
      { leaseName: name, identity: 'b', retryIntervalMs: 50, retryJitter: 0 },
      { logger },
    );
    try {
      await leader.start();
      expect(leader.isLeader()).toBe(true);
      await follower.start();
      await until(() => follower.state.term === 1, 5_000);
      // Someone with write access rewrites the term under the holder's lease.
      const blob = container.getBlobClient(name);
      const metadata = (await blob.getProperties()).metadata ?? {};
      await blob.setMetadata(
        { ...metadata, [METADATA.term]: `1${'0'.repeat(399)}` },
        { conditions: { leaseId: leader.leaseId } },
      );
      await until(() => logger.text().includes('was lost'), 5_000);
      expect(logger.text()).toMatch(
        /lease record of ".*" was lost \(noticed by a follower poll, term 0 now; term 1 recorded before\)/,
      );
      expect(follower.state.term).toBe(1);
      expect(Number.isSafeInteger(follower.state.term)).toBe(true);
      expect(follower.isLeader()).toBe(false);
    } finally {
      await follower.stop();
      await leader.stop();
    }
  }, 20_000);
});

describe('foreign holder text is sanitised and capped (issue 14, item 13)', () => {
  it('strips newlines, ANSI escapes and other controls, and caps at 256 characters', async () => {
    const evil = `mallory\u001b[2J\u001b[31m\nERROR forged log line\r\u0007${'x'.repeat(2000)}`;
    const name = await tampered({ [METADATA.leader]: encodeURIComponent(evil), [METADATA.term]: '3' });
    const observation = await store.observe(name, live());
    expect(observation.holder).toBeDefined();
    expect(observation.holder!.length).toBeLessThanOrEqual(256);
    expect(observation.holder!.startsWith('malloryERROR forged log line')).toBe(true);
    expect(
      [...observation.holder!].some((char) => char.charCodeAt(0) < 0x20 || char.charCodeAt(0) === 0x7f),
    ).toBe(false);
  });

  it('an undecodable holder is shown raw but still sanitised; an empty one as unknown', async () => {
    const name = await tampered({ [METADATA.leader]: '%E0%A4%A' });
    expect((await store.observe(name, live())).holder).toBe('%E0%A4%A');
    const blank = await tampered({ [METADATA.leader]: encodeURIComponent('\u001b[0m\n') });
    expect((await store.observe(blank, live())).holder).toBeUndefined();
  });

  it('our own identity round-trips unchanged', async () => {
    const name = leaseName('own');
    const identity = 'pod-7f9c 東京 😀 (a/b)';
    await store.acquire({ leaseName: name, leaseId: randomUUID(), identity, durationSeconds: 15 }, live());
    expect((await store.observe(name, live())).holder).toBe(identity);
  });
});

describe('permanent errors name their likely cause (issue 7, item 4)', () => {
  async function failure(action: () => Promise<unknown>): Promise<PermanentStoreError> {
    const error = await action().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PermanentStoreError);
    return error as PermanentStoreError;
  }

  it('a wrong account key: the hint names the key (Azure says AuthenticationFailed, Azurite AuthorizationFailure)', async () => {
    const wrongKey = Buffer.from('not-the-right-key-at-all-not-the-right-key-at-all').toString('base64');
    const badStore = new AzureBlobLeaseStore({
      connectionString: azuriteConnectionString(port, '127.0.0.1', wrongKey),
      containerName: CONTAINER,
    });
    const error = await failure(() => badStore.observe(leaseName('key'), live()));
    expect(['AuthenticationFailed', 'AuthorizationFailure']).toContain(error.code);
    expect(error.message).toMatch(/likely cause: a wrong or rotated account key/);
    expect(error.message).not.toContain(wrongKey);
  });

  it('a SAS lacking the write permission: AuthorizationPermissionMismatch, hint names the permission', async () => {
    const name = leaseName('sas');
    await container.getBlockBlobClient(name).upload('', 0);
    const sas = generateBlobSASQueryParameters(
      {
        containerName: CONTAINER,
        permissions: ContainerSASPermissions.parse('r'),
        expiresOn: new Date(Date.now() + 3_600_000),
      },
      new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
    ).toString();
    const sasStore = new AzureBlobLeaseStore({
      connectionString: `BlobEndpoint=http://127.0.0.1:${port}/${AZURITE_ACCOUNT};SharedAccessSignature=${sas}`,
      containerName: CONTAINER,
    });
    const error = await failure(() =>
      sasStore.acquire(
        { leaseName: name, leaseId: randomUUID(), identity: 'a', durationSeconds: 15 },
        live(),
      ),
    );
    expect(error.code).toBe('AuthorizationPermissionMismatch');
    expect(error.message).toMatch(/likely cause: the SAS or the role lacks a permission/);
    expect(error.message).not.toContain(sas);
  });

  describe('an emulator older than the SDK (Azurite without --skipApiVersionCheck)', () => {
    let child: ChildProcess | undefined;
    let oldPort = 0;

    beforeAll(async () => {
      oldPort = await freePort();
      const main = createRequire(import.meta.url).resolve('azurite/dist/src/blob/main.js');
      child = spawn(
        process.execPath,
        [
          main,
          '--inMemoryPersistence',
          '--blobHost',
          '127.0.0.1',
          '--blobPort',
          String(oldPort),
          '--loose',
          '--disableProductStyleUrl',
          '--disableTelemetry',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'], cwd: tmpdir() },
      );
      let output = '';
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`Azurite did not start:\n${output}`)), 30_000);
        const onData = (chunk: Buffer): void => {
          output += chunk.toString();
          if (/successfully listen/i.test(output)) {
            clearTimeout(timer);
            child!.stdout?.resume();
            child!.stderr?.resume();
            resolve();
          }
        };
        child!.stdout?.on('data', onData);
        child!.stderr?.on('data', onData);
        child!.once('exit', (code) => reject(new Error(`Azurite exited with ${code}:\n${output}`)));
      });
    }, 40_000);

    afterAll(async () => {
      if (child && child.exitCode === null) {
        const exited = new Promise((resolve) => child!.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
    });

    it('the poll fails with InvalidHeaderValue, and the message says to update Azurite or use --skipApiVersionCheck', async () => {
      const oldStore = new AzureBlobLeaseStore({
        connectionString: azuriteConnectionString(oldPort),
        containerName: CONTAINER,
      });
      const error = await failure(() => oldStore.observe(leaseName('old'), live()));
      expect(error.statusCode).toBe(400);
      expect(error.code).toBe('InvalidHeaderValue');
      expect(error.message).toMatch(
        /emulator is older than @azure\/storage-blob .*update Azurite, or start it with --skipApiVersionCheck/,
      );
    });
  });
});
