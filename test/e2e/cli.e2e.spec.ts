import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  BlobServiceClient,
  StorageSharedKeyCredential,
  generateAccountSASQueryParameters,
  type ContainerClient,
} from '@azure/storage-blob';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { LeaderElector } from '../../lib/core/leader-elector.js';
import type { LeadershipLostEvent } from '../../lib/core/leadership-events.js';
import { LeaseLostError } from '../../lib/core/lease-store.js';
import { silentLogger } from '../../lib/core/logger.js';
import { runCli } from '../../lib/cli/program.js';
import { AzureBlobLeaseStore } from '../../lib/stores/azure-blob/azure-blob-lease-store.js';
import { installPackedPackage, repoRoot, run, type RunResult } from '../support/packed-package.js';

// The operator CLI (lib/cli) as an operator runs it: a child process running the packed package's
// build (dist/lib/cli/cli.js; once through its npm bin link), against the Jest global Azurite, on a
// container of its own holding leases in different states, written by the real store. The package is
// packed once per run (shared with the other packed-package tests); a process then starts in about
// 0.3 s, where compiling the sources with tsx in every process took about 1.3 s.

const connectionString = process.env.AZURITE_CONNECTION_STRING!;
const accountKey = /AccountKey=([^;]+)/.exec(connectionString)![1]!;
const blobEndpoint = /BlobEndpoint=([^;]+)/.exec(connectionString)![1]!.replace(/\/$/, '');
const container = `cli-e2e-${randomUUID().slice(0, 8)}`;
const store = new AzureBlobLeaseStore({ connectionString, containerName: container });
const service = BlobServiceClient.fromConnectionString(connectionString);
const containerClient: ContainerClient = service.getContainerClient(container);
// break / release act on leases in a container of their own, so the listing above stays the same.
const actContainer = `${container}-act`;
const actStore = new AzureBlobLeaseStore({ connectionString, containerName: actContainer });
const actClient = service.getContainerClient(actContainer);
const signal = () => AbortSignal.timeout(15_000);
const TIMEOUT = 60_000;

/** A hostile holder name: colours, cursor movement, a bidi override, line breaks, and far too long. */
const EVIL_HOLDER = `\u001b[31mred\u001b[0m\u001b[2J\u202eevil\r\nline${'x'.repeat(400)}`;

/** The packed package's CLI entry, set in beforeAll. */
let cliEntry: string;

/** Runs the packed CLI; never rejects on a non-zero exit. */
function cli(
  args: string[],
  env: NodeJS.ProcessEnv = { AZURE_STORAGE_CONNECTION_STRING: connectionString },
): Promise<RunResult> {
  return run(process.execPath, [cliEntry, ...args], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    timeoutMs: 50_000,
  });
}

const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

/** Acquires through the real store (metadata and term as the module writes them), then makes the lease infinite (same id) so it stays leased however long the tests take. */
async function hold(
  leaseName: string,
  leaseId: string,
  identity: string,
  extra: { recoveredTerm?: number } = {},
  on = store,
): Promise<number> {
  const result = await on.acquire({ leaseName, leaseId, identity, durationSeconds: 15, ...extra }, signal());
  if (!result.acquired) throw new Error(`could not acquire ${leaseName}`);
  await on.container.getBlobClient(leaseName).getBlobLeaseClient(leaseId).acquireLease(-1);
  return result.term;
}

async function leaseState(leaseName: string, client = containerClient): Promise<string | undefined> {
  return (await client.getBlobClient(leaseName).getProperties()).leaseState;
}

function rowOf(table: string, lease: string): string {
  const line = table.split('\n').find((l) => l.startsWith(`│ ${lease} `));
  if (!line) throw new Error(`no row for ${lease} in:\n${table}`);
  return line;
}

beforeAll(async () => {
  const { nodeModules } = await installPackedPackage();
  cliEntry = join(nodeModules, 'nestjs-leader-election', 'dist', 'lib', 'cli', 'cli.js');
  // orders/daily: three acquisitions (term 3), the last one carrying a recovered term; held now.
  await store.acquire(
    { leaseName: 'orders/daily', leaseId: id(1), identity: 'web-1', durationSeconds: 15 },
    signal(),
  );
  await store.release('orders/daily', id(1), signal());
  await store.acquire(
    { leaseName: 'orders/daily', leaseId: id(2), identity: 'web-2', durationSeconds: 15 },
    signal(),
  );
  await store.release('orders/daily', id(2), signal());
  await hold('orders/daily', id(3), 'web-3', { recoveredTerm: 2 });
  // One presence record for orders/daily: counted as a member, never listed as a lease.
  await store.announce(
    'orders/daily',
    { identity: 'web-3', priority: 0, canLead: true, startedAt: Date.now() },
    signal(),
  );
  // billing: taken once and released (available, last holder worker-0).
  await store.acquire(
    { leaseName: 'billing', leaseId: id(4), identity: 'worker-0', durationSeconds: 15 },
    signal(),
  );
  await store.release('billing', id(4), signal());
  // reports: broken by someone.
  await hold('reports', id(5), 'worker-1');
  await containerClient.getBlobClient('reports').getBlobLeaseClient().breakLease(0);
  // evil: a holder name no terminal should receive as is. The store refuses to record such an
  // identity, so a tampering writer is simulated: take the lease, then rewrite the metadata under it.
  await hold('evil', id(6), 'placeholder');
  const evil = containerClient.getBlobClient('evil');
  const evilMetadata = (await evil.getProperties()).metadata ?? {};
  await evil.setMetadata(
    { ...evilMetadata, leader: encodeURIComponent(EVIL_HOLDER) },
    { conditions: { leaseId: id(6) } },
  );
}, 300_000); // packing the package (once per run) included

afterAll(async () => {
  await containerClient.deleteIfExists();
  await actClient.deleteIfExists();
});

describe('status', () => {
  it(
    'prints every lease as a table: state, holder (or last holder), term, acquired at, recovered-from term',
    async () => {
      const result = await cli(['status', '--container', container]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`container "${container}" on ${blobEndpoint}: 4 leases, 2 held`);
      expect(rowOf(result.stdout, 'orders/daily')).toMatch(
        /│ orders\/daily +│ leased +│ web-3 +│ 3 +│ \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(\d+s ago\) +│ 2 +│ 1 +│$/,
      );
      expect(rowOf(result.stdout, 'billing')).toMatch(
        /│ billing +│ available +│ none \(last: worker-0\) +│ 1 +│ .*Z \(.*\) +│ +│ +│$/,
      );
      expect(rowOf(result.stdout, 'reports')).toMatch(
        /│ reports +│ broken +│ none \(last: worker-1\) +│ 1 +│/,
      );
      expect(rowOf(result.stdout, 'evil')).toMatch(/│ evil +│ leased +│ redevilline/);
      // Sorted by lease name.
      const order = ['billing', 'evil', 'orders/daily', 'reports'].map((lease) =>
        result.stdout.indexOf(`│ ${lease} `),
      );
      expect([...order].sort((a, b) => a - b)).toEqual(order);
    },
    TIMEOUT,
  );

  it(
    '--json prints a stable array: sorted by lease, fixed keys, null when absent',
    async () => {
      const result = await cli(['status', '--json', '--container', container]);
      expect(result.code).toBe(0);
      const rows = JSON.parse(result.stdout) as Record<string, unknown>[];
      expect(rows.map((row) => row.lease)).toEqual(['billing', 'evil', 'orders/daily', 'reports']);
      for (const row of rows) {
        expect(Object.keys(row)).toEqual([
          'lease',
          'state',
          'held',
          'holder',
          'term',
          'acquiredAt',
          'recoveredTerm',
          'members',
        ]);
        expect(row.acquiredAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      }
      const byLease = Object.fromEntries(rows.map((row) => [row.lease, row]));
      expect(byLease['orders/daily']).toMatchObject({
        state: 'leased',
        held: true,
        holder: 'web-3',
        term: 3,
        recoveredTerm: 2,
        members: 1,
      });
      expect(byLease.billing).toMatchObject({
        state: 'available',
        held: false,
        holder: 'worker-0',
        term: 1,
        recoveredTerm: null,
      });
      expect(byLease.reports).toMatchObject({
        state: 'broken',
        held: false,
        holder: 'worker-1',
        term: 1,
        recoveredTerm: null,
      });
    },
    TIMEOUT,
  );

  it(
    'sanitises foreign metadata: no escape or control characters, no bidi override, at most 256 characters',
    async () => {
      const json = await cli(['status', '--json', '--container', container]);
      const table = await cli(['status', '--container', container]);
      for (const output of [json.stdout, table.stdout]) {
        expect(output).not.toContain('\u001b');
        expect(output).not.toContain('\u202e');
        expect(output).not.toContain('\r');
      }
      const evil = (JSON.parse(json.stdout) as { lease: string; holder: string }[]).find(
        (row) => row.lease === 'evil',
      )!;
      expect(evil.holder.startsWith('redevilline')).toBe(true);
      expect(Array.from(evil.holder)).toHaveLength(256);
      expect(evil.holder.endsWith('…')).toBe(true);
    },
    TIMEOUT,
  );

  it(
    'lists lease blobs whose names contain "/" and blobs without metadata, and an empty container',
    async () => {
      const other = service.getContainerClient(`${container}-x`);
      await other.create();
      try {
        const empty = await cli(['status', '--container', `${container}-x`]);
        expect(empty.code).toBe(0);
        expect(empty.stdout).toBe(`container "${container}-x" on ${blobEndpoint}: 0 leases, 0 held\n`);
        await other.getBlockBlobClient('a/b/c').upload('', 0);
        const result = await cli(['status', '--json', '--container', `${container}-x`]);
        expect(JSON.parse(result.stdout)).toEqual([
          {
            lease: 'a/b/c',
            state: 'available',
            held: false,
            holder: null,
            term: null,
            acquiredAt: null,
            recoveredTerm: null,
            members: null,
          },
        ]);
      } finally {
        await other.deleteIfExists();
      }
    },
    TIMEOUT,
  );

  it(
    'exits 3 when the container does not exist',
    async () => {
      const result = await cli(['status', '--container', `${container}-missing`]);
      expect(result.code).toBe(3);
      expect(result.stderr).toContain(`container "${container}-missing"`);
      expect(result.stderr).toContain('does not exist');
    },
    TIMEOUT,
  );
});

describe('watch', () => {
  it(
    '--count N refreshes N times, then exits 0 (table frames in a pipe, one JSON array per line with --json)',
    async () => {
      const table = await cli(['watch', '--count', '2', '--interval', '0.1', '--container', container]);
      expect(table.code).toBe(0);
      expect(table.stdout.match(/^Every 0\.1s, .*\(\d\/2\), Ctrl-C to stop$/gm)).toHaveLength(2);
      expect(table.stdout.match(/: 4 leases, 2 held$/gm)).toHaveLength(2);
      expect(table.stdout).not.toContain('\u001b'); // no redraw codes when stdout is not a terminal

      const json = await cli([
        'watch',
        '--json',
        '--count',
        '3',
        '--interval',
        '0.1',
        '--container',
        container,
      ]);
      expect(json.code).toBe(0);
      const lines = json.stdout.trim().split('\n');
      expect(lines).toHaveLength(3);
      for (const line of lines) expect((JSON.parse(line) as unknown[]).length).toBe(4);
    },
    TIMEOUT,
  );

  it(
    'ends with exit code 0 on Ctrl-C (SIGINT)',
    async () => {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          join('lib', 'cli', 'cli.ts'),
          'watch',
          '--interval',
          '0.2',
          '--container',
          container,
        ],
        {
          cwd: repoRoot,
          env: {
            PATH: process.env.PATH,
            HOME: process.env.HOME,
            AZURE_STORAGE_CONNECTION_STRING: connectionString,
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      const exited = once(child, 'exit');
      let stdout = '';
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          if (stdout.includes('4 leases')) resolve();
        });
        child.once('exit', (code) =>
          reject(new Error(`watch exited (${code}) before its first frame: ${stdout}`)),
        );
      });
      child.kill('SIGINT');
      const [code, signalName] = await exited;
      expect(signalName).toBeNull();
      expect(code).toBe(0);
    },
    TIMEOUT,
  );

  it(
    'on a terminal, redraws each refresh in place over the previous one (counting wrapped lines)',
    async () => {
      const watchOnTerminal = async (columns: number) => {
        const written: string[] = [];
        const code = await runCli(['watch', '--count', '3', '--interval', '0.1', '--container', container], {
          stdout: { isTTY: true, columns, rows: 50, write: (text: string) => written.push(text) },
          stderr: { write: (text: string) => written.push(`stderr: ${text}`) },
          env: { AZURE_STORAGE_CONNECTION_STRING: connectionString },
          stop: new AbortController().signal,
        });
        expect(code).toBe(0);
        expect(written).toHaveLength(3);
        expect(written[0]!.startsWith('Every 0.1s')).toBe(true);
        return written;
      };
      // Header, summary, and the table: top border, head, 4 leases, bottom border.
      const wide = await watchOnTerminal(1000);
      expect(wide[0]!.split('\n')).toHaveLength(9 + 1);
      const startsWith = (frame: string, prefix: string) =>
        expect(frame.slice(0, prefix.length)).toBe(prefix);
      for (const frame of wide.slice(1)) startsWith(frame, '\u001b[9F\u001b[0JEvery 0.1s');
      // The 256-character holder makes every table line 300–600 characters wide: two rows each on 300 columns.
      const narrow = await watchOnTerminal(300);
      for (const frame of narrow.slice(1)) startsWith(frame, '\u001b[16F\u001b[0JEvery 0.1s');
    },
    TIMEOUT,
  );

  it(
    'rejects a bad --interval or --count with exit code 2',
    async () => {
      for (const args of [
        ['--interval', '0'],
        ['--interval', 'soon'],
        ['--count', '0'],
        ['--count', '1.5'],
      ]) {
        const result = await cli(['watch', ...args, '--container', container]);
        expect(result.code).toBe(2);
        expect(result.stderr).toMatch(/--(interval|count) takes/);
      }
    },
    TIMEOUT,
  );
});

describe('break and release', () => {
  it(
    'break states the consequence and refuses without --yes (exit 2, lease untouched)',
    async () => {
      const result = await cli(['break', 'orders/daily', '--container', container]);
      expect(result.code).toBe(2);
      expect(result.stdout).toContain('Breaking lease "orders/daily" (held by "web-3", term 3)');
      expect(result.stdout).toContain('another replica may acquire the lease and lead at once');
      expect(result.stdout).toContain('keeps believing it leads');
      expect(result.stdout).toContain('D - safetyMargin');
      expect(result.stdout).toContain('fence their writes with the term');
      expect(result.stderr).toContain('Refused: nothing was changed. Run again with --yes');
      expect(await leaseState('orders/daily')).toBe('leased');
    },
    TIMEOUT,
  );

  it(
    'release states the consequence and refuses without --yes (exit 2, lease untouched)',
    async () => {
      const result = await cli(['release', 'orders/daily', '--container', container]);
      expect(result.code).toBe(2);
      expect(result.stdout).toContain('Releasing lease "orders/daily" (held by "web-3", term 3)');
      expect(result.stdout).toContain('no overlap');
      expect(result.stderr).toContain('Refused: nothing was changed. Run again with --yes');
      expect(await leaseState('orders/daily')).toBe('leased');
    },
    TIMEOUT,
  );

  it(
    'break --yes ends the lease at once: the holder cannot renew, another candidate acquires with a higher term',
    async () => {
      const term = await hold('break-me', id(10), 'stuck-pod', {}, actStore);
      const result = await cli(['break', 'break-me', '--yes', '--container', actContainer]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('Lease "break-me" is broken: any replica may acquire it now.');
      expect(await leaseState('break-me', actClient)).toBe('broken');
      await expect(actStore.renew('break-me', id(10), signal())).rejects.toBeInstanceOf(LeaseLostError);
      const next = await actStore.acquire(
        { leaseName: 'break-me', leaseId: id(11), identity: 'fresh-pod', durationSeconds: 15 },
        signal(),
      );
      expect(next).toMatchObject({ acquired: true, term: term + 1 });
      await actStore.release('break-me', id(11), signal());
    },
    TIMEOUT,
  );

  it(
    'release --yes breaks gently: breaking, the holder cannot renew, and nobody else can acquire before the lease runs out',
    async () => {
      await hold('release-me', id(20), 'old-pod', {}, actStore);
      const result = await cli(['release', 'release-me', '--yes', '--container', actContainer]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(
        /Lease "release-me" is breaking: it ends in \d+ s, then any replica may acquire it\./,
      );
      expect(await leaseState('release-me', actClient)).toBe('breaking');
      await expect(actStore.renew('release-me', id(20), signal())).rejects.toBeInstanceOf(LeaseLostError);
      const other = await actStore.acquire(
        { leaseName: 'release-me', leaseId: id(21), identity: 'eager-pod', durationSeconds: 15 },
        signal(),
      );
      expect(other.acquired).toBe(false);
      // A second release has nothing left to do.
      const again = await cli(['release', 'release-me', '--yes', '--container', actContainer]);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain('already breaking');
    },
    TIMEOUT,
  );

  it(
    'a lease that is not held: nothing to do, exit 0',
    async () => {
      const result = await cli(['break', 'billing', '--yes', '--container', container]);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('is not held (available): nothing to break.');
      expect(await leaseState('billing')).toBe('available');
    },
    TIMEOUT,
  );

  it(
    'a missing lease exits 3; an invalid lease name exits 2',
    async () => {
      for (const command of ['break', 'release']) {
        const missing = await cli([command, 'no/such/lease', '--yes', '--container', container]);
        expect(missing.code).toBe(3);
        expect(missing.stderr).toContain('Lease "no/such/lease" not found');
        const invalid = await cli([command, '../escape', '--yes', '--container', container]);
        expect(invalid.code).toBe(2);
        expect(invalid.stderr).toContain('Invalid <lease>');
      }
    },
    TIMEOUT,
  );
});

describe('break and release under running electors', () => {
  const electors: LeaderElector[] = [];
  afterEach(async () => {
    await Promise.all(electors.splice(0).map((elector) => elector.stop()));
  });

  /** A replica: its own store, D = 15 s, renewing every second, polling every 200 ms. */
  function replica(leaseName: string, identity: string): LeaderElector {
    const own = new AzureBlobLeaseStore({ connectionString, containerName: actContainer });
    const elector = new LeaderElector(
      own,
      { leaseName, identity, renewIntervalMs: 1000, retryIntervalMs: 200 },
      { logger: silentLogger },
    );
    electors.push(elector);
    return elector;
  }

  function nextLoss(elector: LeaderElector): Promise<LeadershipLostEvent> {
    return new Promise((resolve) => {
      const subscription = elector.events$.subscribe((event) => {
        if (event.type !== 'lost') return;
        subscription.unsubscribe();
        resolve(event);
      });
    });
  }

  it(
    'break: the leader loses the lease at its next renewal, a replica leads with the next term',
    async () => {
      const lease = `running-break-${randomUUID().slice(0, 8)}`;
      const a = replica(lease, 'pod-a');
      await a.start();
      const first = await a.waitForLeadership();
      const b = replica(lease, 'pod-b');
      await b.start();
      expect(b.isLeader()).toBe(false);
      const loss = nextLoss(a);

      const result = await cli(['break', lease, '--yes', '--container', actContainer]);
      expect(result.code).toBe(0);

      // The lease is free at once: whichever replica polls first (the old holder included, once its
      // renewal has been refused) leads with the next term.
      expect((await loss).reason).toBe('lost'); // its renewal was refused: a definite loss
      const second = await Promise.race([a.waitForLeadership(), b.waitForLeadership()]);
      expect(second.term).toBe(first.term + 1);
    },
    TIMEOUT,
  );

  it(
    'release: the leader steps down at its next renewal; a replica leads only once the lease has run out, with the next term (never two at once)',
    async () => {
      const lease = `running-release-${randomUUID().slice(0, 8)}`;
      const a = replica(lease, 'pod-a');
      await a.start();
      const first = await a.waitForLeadership();
      const b = replica(lease, 'pod-b');
      await b.start();
      const loss = nextLoss(a);
      // Sample both replicas' own belief until the follower leads.
      let bothLed = 0;
      let samples = 0;
      const sampler = setInterval(() => {
        samples++;
        if (a.isLeader() && b.isLeader()) bothLed++;
      }, 5);
      try {
        const result = await cli(['release', lease, '--yes', '--container', actContainer]);
        expect(result.code).toBe(0);
        expect(await leaseState(lease, actClient)).toBe('breaking');
        expect((await loss).reason).toBe('lost');
        expect(b.isLeader()).toBe(false); // the lease is still breaking: nobody can take it yet
        // Once it has run out, either replica (the old holder included) may take it, with the next term.
        const second = await Promise.race([a.waitForLeadership(), b.waitForLeadership()]);
        expect(second.term).toBe(first.term + 1);
      } finally {
        clearInterval(sampler);
      }
      expect(samples).toBeGreaterThan(0);
      expect(bothLed).toBe(0);
    },
    TIMEOUT,
  );
});

describe('usage, help and exit codes', () => {
  it(
    '--help works for the program and every command (exit 0) and lists the exit codes',
    async () => {
      for (const args of [
        ['--help'],
        ['status', '--help'],
        ['watch', '--help'],
        ['release', '--help'],
        ['break', '--help'],
        ['help', 'break'],
      ]) {
        const result = await cli(args);
        expect(result.code).toBe(0);
        expect(result.stdout).toContain('Usage: nestjs-leader-election');
        expect(result.stdout).toContain('3  lease or container not found');
      }
    },
    TIMEOUT,
  );

  it(
    'usage errors exit 2: no command, unknown command or option, bad container, no connection, two connections',
    async () => {
      const cases: [string[], NodeJS.ProcessEnv | undefined, RegExp][] = [
        [[], undefined, /Usage: nestjs-leader-election/],
        [['stats'], undefined, /unknown command 'stats'/],
        [['status', '--jsn'], undefined, /unknown option '--jsn'/],
        [['status', '--container', 'Bad_Name'], undefined, /Invalid --container: got "Bad_Name"/],
        [['status'], {}, /No storage connection: set AZURE_STORAGE_CONNECTION_STRING/],
        [
          ['status', '--connection-string', connectionString, '--account-url', blobEndpoint],
          {},
          /either --connection-string or --account-url/,
        ],
      ];
      for (const [args, env, message] of cases) {
        const result = await cli(args, env);
        expect(result.code).toBe(2);
        expect(result.stderr).toMatch(message);
      }
    },
    TIMEOUT,
  );

  it(
    '--account-url without @azure/identity installed: exit 1 and how to install it',
    async () => {
      const result = await cli(['status', '--account-url', blobEndpoint], {});
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('npm install @azure/identity');
    },
    TIMEOUT,
  );

  it(
    'an unreachable endpoint exits 1',
    async () => {
      const unreachable = connectionString.replace(
        /BlobEndpoint=[^;]+/,
        'BlobEndpoint=http://127.0.0.1:1/devstoreaccount1',
      );
      const result = await cli(['status', '--timeout', '10'], {
        AZURE_STORAGE_CONNECTION_STRING: unreachable,
      });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        'List Blobs on container "leader-election" on http://127.0.0.1:1/devstoreaccount1 failed',
      );
    },
    TIMEOUT,
  );
});

describe('secrets', () => {
  const wrongKey = Buffer.from(`not-the-key-${randomUUID()}`).toString('base64');
  const wrongKeyConnection = connectionString.replace(accountKey, wrongKey);
  const sas = generateAccountSASQueryParameters(
    {
      expiresOn: new Date(Date.now() + 3_600_000),
      permissions: AccountSASPermissions.parse('rl'),
      resourceTypes: AccountSASResourceTypes.parse('sco').toString(),
      services: AccountSASServices.parse('b').toString(),
    },
    new StorageSharedKeyCredential('devstoreaccount1', accountKey),
  ).toString();
  const sasConnection = `BlobEndpoint=${blobEndpoint};SharedAccessSignature=${sas}`;
  const signature = decodeURIComponent(/(?:^|&)sig=([^&]+)/.exec(sas)![1]!);
  const tamperedSasConnection = sasConnection.replace(
    /sig=[^&]+/,
    `sig=${encodeURIComponent(Buffer.from(randomUUID()).toString('base64'))}`,
  );
  const tamperedSignature = decodeURIComponent(/sig=([^&;]+)/.exec(tamperedSasConnection)![1]!);

  const secrets = [
    accountKey,
    wrongKey,
    signature,
    encodeURIComponent(signature),
    tamperedSignature,
    encodeURIComponent(tamperedSignature),
  ];
  function expectNoSecret(result: RunResult): void {
    for (const secret of secrets) {
      expect(result.stdout).not.toContain(secret);
      expect(result.stderr).not.toContain(secret);
    }
  }

  it(
    'a SAS connection string works, and neither its signature nor the account key is ever printed',
    async () => {
      const ok = await cli(['status', '--container', container], {
        AZURE_STORAGE_CONNECTION_STRING: sasConnection,
      });
      expect(ok.code).toBe(0);
      expect(ok.stdout).toContain('4 leases');
      expectNoSecret(ok);
      const missing = await cli(['status', '--container', `${container}-missing`], {
        AZURE_STORAGE_CONNECTION_STRING: sasConnection,
      });
      expect(missing.code).toBe(3);
      expectNoSecret(missing);
      // Read-only SAS: Break Lease is refused by the service (exit 1), without the SAS in the message.
      await hold('sas-break', id(30), 'pod', {}, actStore);
      const forbidden = await cli(['break', 'sas-break', '--yes', '--container', actContainer], {
        AZURE_STORAGE_CONNECTION_STRING: sasConnection,
      });
      expect(forbidden.code).toBe(1);
      expect(forbidden.stderr).toMatch(/Break Lease on .* failed: HTTP 403/);
      expectNoSecret(forbidden);
    },
    TIMEOUT,
  );

  it(
    'authentication errors exit 1 and print neither the key nor the signature, from the environment or the command line',
    async () => {
      const viaEnv = await cli(['status', '--container', container], {
        AZURE_STORAGE_CONNECTION_STRING: wrongKeyConnection,
      });
      expect(viaEnv.code).toBe(1);
      expect(viaEnv.stderr).toMatch(/HTTP 403/);
      expectNoSecret(viaEnv);
      const viaFlag = await cli(
        ['status', '--container', container, '--connection-string', wrongKeyConnection],
        {},
      );
      expect(viaFlag.code).toBe(1);
      expectNoSecret(viaFlag);
      const tampered = await cli(
        ['status', '--container', container, `--connection-string=${tamperedSasConnection}`],
        {},
      );
      expect(tampered.code).toBe(1);
      expect(tampered.stderr).toMatch(/HTTP 403/);
      expectNoSecret(tampered);
    },
    TIMEOUT,
  );

  it(
    'usage errors never echo a connection string or key (commander quoting an unknown option, a malformed string, an account URL with a SAS)',
    async () => {
      // Before the command name, --connection-string=… is an unknown option of the program: commander quotes it.
      const misplaced = await cli([`--connection-string=${wrongKeyConnection}`, 'status'], {});
      expect(misplaced.code).toBe(2);
      expect(misplaced.stderr).toContain('unknown option');
      expectNoSecret(misplaced);
      const malformed = await cli(
        ['status', '--connection-string', `AccountName=devstoreaccount1;AccountKey=${wrongKey};garbage`],
        {},
      );
      expect(malformed.code).toBe(2);
      expect(malformed.stderr).toContain('Cannot use the connection string');
      expectNoSecret(malformed);
      const sasUrl = await cli(['status', '--account-url', `${blobEndpoint}?${sas}`], {});
      expect(sasUrl.code).toBe(1);
      expectNoSecret(sasUrl);
      // With a valid connection string the status output itself carries no credential either.
      const ok = await cli(['status', '--container', container]);
      expect(ok.code).toBe(0);
      expectNoSecret(ok);
    },
    TIMEOUT,
  );
});

describe('the packed package', () => {
  it('installs a working bin: npx nestjs-leader-election status --json', async () => {
    const { nodeModules } = await installPackedPackage();
    const result = await run(
      join(nodeModules, '.bin', 'nestjs-leader-election'),
      ['status', '--json', '--container', container],
      {
        cwd: join(nodeModules, '..'),
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          AZURE_STORAGE_CONNECTION_STRING: connectionString,
        },
      },
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect((JSON.parse(result.stdout) as { lease: string }[]).map((row) => row.lease)).toContain(
      'orders/daily',
    );
  }, 300_000);
});
