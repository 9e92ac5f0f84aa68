// Storage requests per hour per replica, by role, at default timings — counted at the HTTP level —
// and the same for a lock-per-run design at 1 run per second.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { BlobServiceClient, type BlobLeaseClient } from '@azure/storage-blob';
import { connectionStringFor } from '../support/azurite-connection.js';
import { JournalReader } from '../support/journal.js';
import { sleep } from '../support/processes.js';
import { CountingProxy, diffCounts, type RequestCounts } from '../support/proxy.js';
import { fmt } from '../support/report.js';
import { anyExited, type Suite, type SuiteContext } from './context.js';

const HOUR = 3_600_000;

interface ReplicaCount {
  replica: string;
  role: 'leader' | 'follower';
  requests: RequestCounts;
  perHour: number;
  perHourByKind: Record<string, number>;
}

interface ElectionRequests {
  presence: boolean;
  windowMs: number;
  replicas: ReplicaCount[];
  roleChanges: number;
}

/** The operations the presence table shows in their own columns (the rest go to "other"). */
const OPERATIONS = [
  'Get Properties',
  'Renew Lease',
  'Set Metadata',
  'List Blobs',
  'Put Blob',
  'Delete Blob',
] as const;

async function electionRequests(
  ctx: SuiteContext,
  port: number,
  presence: boolean,
): Promise<ElectionRequests> {
  const tag = presence ? 'presence-on' : 'presence-off';
  const journalPath = join(ctx.runDir, 'journals', `requests-${tag}.jsonl`);
  const journal = new JournalReader(journalPath);
  const ids = presence ? ['r1', 'r2', 'r3'] : ['p1', 'p2', 'p3'];
  const proxies = await Promise.all(ids.map(() => new CountingProxy(port).start()));
  try {
    const processes = ids.map((id, i) =>
      ctx.spawnApp(`requests-${tag}-${id}`, 'bench/perf/app/perf-replica.js', {
        AZURE_STORAGE_CONNECTION_STRING: connectionStringFor(proxies[i]!.port),
        JOURNAL: journalPath,
        INSTANCE_ID: id,
        CONTAINER_NAME: `bench-requests-${tag}`,
        JOB_INTERVAL_MS: '1000',
        PRESENCE: presence ? '1' : '0',
      }),
    );
    await journal.waitFor(
      (entries) => (entries.filter((e) => e.event === 'boot').length === 3 ? true : undefined),
      60_000,
      'three replicas',
      anyExited(processes),
    );
    await sleep(15_000); // past start-up (container/blob creation, first acquire)
    journal.poll();
    const rolesBefore = journal.entries.filter((e) => e.event === 'role').length;
    const before = proxies.map((proxy) => proxy.snapshot());
    const t0 = Date.now();
    ctx.log(
      `requests: presence ${presence ? 'on' : 'off'}, counting for ${fmt(ctx.settings.requestsWindowMs / 60_000, 1)} min`,
    );
    await sleep(ctx.settings.requestsWindowMs);
    const windowMs = Date.now() - t0;
    const counts = proxies.map((proxy, i) => diffCounts(proxy.snapshot(), before[i]!));
    const crashed = anyExited(processes)();
    if (crashed) throw new Error(crashed);
    journal.poll();
    const roleChanges = journal.entries.filter((e) => e.event === 'role').length - rolesBefore;
    const replicas = counts.map((requests, i): ReplicaCount => {
      const scale = HOUR / windowMs;
      return {
        replica: ids[i]!,
        role: (requests.byKind['Renew Lease'] ?? 0) > 0 ? 'leader' : 'follower',
        requests,
        perHour: requests.total * scale,
        perHourByKind: Object.fromEntries(
          Object.entries(requests.byKind).map(([kind, n]) => [kind, n * scale]),
        ),
      };
    });
    // Stop the replicas before the next configuration counts (their records would otherwise linger).
    await Promise.all(processes.map((tracked) => tracked.stop(5_000)));
    return { presence, windowMs, replicas, roleChanges };
  } finally {
    await Promise.all(proxies.map((proxy) => proxy.stop()));
  }
}

/**
 * Lock-per-run at 1 run/s with three replicas: each replica fires at every wall-clock second (as
 * cron does on synchronised clocks) and runs the job only if it can acquire the blob lease; it
 * releases right after the run. Counts requests per replica and how often the job actually ran.
 */
async function lockPerRunRequests(
  ctx: SuiteContext,
  port: number,
): Promise<{
  windowMs: number;
  periods: number;
  executions: number;
  replicas: { replica: string; requests: RequestCounts; perHour: number; runs: number }[];
}> {
  const ids = ['l1', 'l2', 'l3'];
  const proxies = await Promise.all(ids.map(() => new CountingProxy(port).start()));
  const setup = BlobServiceClient.fromConnectionString(connectionStringFor(port)).getContainerClient(
    'bench-lock-per-run',
  );
  await setup.createIfNotExists();
  await setup.getBlockBlobClient('job').upload('', 0);
  const leases: BlobLeaseClient[] = proxies.map((proxy) =>
    BlobServiceClient.fromConnectionString(connectionStringFor(proxy.port), { retryOptions: { maxTries: 1 } })
      .getContainerClient('bench-lock-per-run')
      .getBlobClient('job')
      .getBlobLeaseClient(randomUUID()),
  );
  const runs = ids.map(() => 0);
  let executions = 0;
  let periods = 0;
  const tick = async (i: number): Promise<void> => {
    try {
      await leases[i]!.acquireLease(15);
    } catch {
      return; // 409: another replica runs it this time
    }
    runs[i]!++;
    executions++;
    await leases[i]!.releaseLease().catch(() => undefined);
  };
  try {
    const before = proxies.map((proxy) => proxy.snapshot());
    const t0 = Date.now();
    while (Date.now() - t0 < ctx.settings.lockSimWindowMs) {
      await sleep(1000 - (Date.now() % 1000)); // the next wall-clock second
      periods++;
      await Promise.all(ids.map((_, i) => tick(i)));
    }
    const windowMs = Date.now() - t0;
    return {
      windowMs,
      periods,
      executions,
      replicas: proxies.map((proxy, i) => {
        const requests = diffCounts(proxy.snapshot(), before[i]!);
        return { replica: ids[i]!, requests, perHour: (requests.total * HOUR) / windowMs, runs: runs[i]! };
      }),
    };
  } finally {
    await Promise.all(proxies.map((proxy) => proxy.stop()));
  }
}

export const requestsSuite: Suite = {
  name: 'requests',
  description:
    'storage requests per hour per replica by role (HTTP-level counts), vs lock-per-run at 1 run/s',
  async run(ctx) {
    const azurite = await ctx.azurite();
    try {
      const election = await electionRequests(ctx, azurite.port, true);
      const withoutPresence = await electionRequests(ctx, azurite.port, false);
      ctx.log('requests: lock-per-run simulation at 1 run/s');
      const lock = await lockPerRunRequests(ctx, azurite.port);
      const kinds = (byKind: Record<string, number>): string =>
        Object.entries(byKind)
          .map(([kind, n]) => `${fmt(n, 0)} ${kind}`)
          .join(', ');
      const leaders = election.replicas.filter((r) => r.role === 'leader');
      const followers = election.replicas.filter((r) => r.role === 'follower');
      const clusterElection = election.replicas.reduce((sum, r) => sum + r.perHour, 0);
      const clusterLock = lock.replicas.reduce((sum, r) => sum + r.perHour, 0);
      const byOperation = (run: ElectionRequests): (string | number)[][] => {
        const ordered = [...run.replicas].sort((a, b) =>
          a.role === b.role ? a.replica.localeCompare(b.replica) : a.role === 'leader' ? -1 : 1,
        );
        return ordered.map((r) => {
          const other = Object.entries(r.perHourByKind)
            .filter(([kind]) => !(OPERATIONS as readonly string[]).includes(kind))
            .map(([kind, n]) => `${fmt(n, 0)} ${kind}`)
            .join(', ');
          return [
            `presence ${run.presence ? 'on' : 'off'}`,
            `${r.replica} (${r.role})`,
            ...OPERATIONS.map((kind) => fmt(r.perHourByKind[kind] ?? 0, 0)),
            other || '0',
            fmt(r.perHour, 0),
          ];
        });
      };
      return {
        data: { election, withoutPresence, lockPerRun: lock },
        tables: [
          {
            title: `Storage requests per hour per replica, default timings (D = 15 s, renew every 5 s, poll every 2 s ± 20 %, presence on: refresh every 10 s), 3 replicas, counted over ${fmt(election.windowMs / 60_000, 1)} min and extrapolated`,
            head: ['replica', 'role', 'requests in window', 'requests / hour', 'by kind (per hour)'],
            rows: [
              ...leaders.map((r) => [
                r.replica,
                'leader',
                r.requests.total,
                fmt(r.perHour, 0),
                kinds(r.perHourByKind),
              ]),
              ...followers.map((r) => [
                r.replica,
                'follower',
                r.requests.total,
                fmt(r.perHour, 0),
                kinds(r.perHourByKind),
              ]),
              [
                'cluster (3 replicas)',
                '',
                election.replicas.reduce((s, r) => s + r.requests.total, 0),
                fmt(clusterElection, 0),
                'independent of how often jobs run',
              ],
            ],
            notes: [
              `Expected from the timings: leader 3 600/5 = 720 Renew Lease per hour; follower 3 600/2 = 1 800 Get Properties per hour; presence: 360 Set Metadata per replica, 360 List Blobs on the leader. Role changes during the window: ${election.roleChanges}.`,
            ],
          },
          {
            title: `Presence on vs off: storage requests per hour per replica by operation (HTTP level, counted over ${fmt(election.windowMs / 60_000, 1)} and ${fmt(withoutPresence.windowMs / 60_000, 1)} min, extrapolated; 3 replicas, no priorities, default timings)`,
            head: ['presence', 'replica (role)', ...OPERATIONS, 'other', 'total / hour'],
            rows: [...byOperation(election), ...byOperation(withoutPresence)],
            notes: [
              'Presence on: every replica writes its record (Set Metadata; a Put Blob only when the record is missing), the leader lists the records once per interval (List Blobs) and deletes orphans (Delete Blob); followers list only for members() or, with priorities, while the lease is free.',
              `Role changes during the windows: presence on ${election.roleChanges}, off ${withoutPresence.roleChanges}.`,
            ],
          },
          {
            title: `Lock-per-run at 1 run per second (3 replicas firing each wall-clock second, Acquire + Release around each run), counted over ${fmt(lock.windowMs / 1000, 0)} s`,
            head: ['replica', 'runs won', 'requests in window', 'requests / hour'],
            rows: [
              ...lock.replicas.map((r) => [r.replica, r.runs, r.requests.total, fmt(r.perHour, 0)]),
              [
                'cluster (3 replicas)',
                lock.executions,
                lock.replicas.reduce((s, r) => s + r.requests.total, 0),
                fmt(clusterLock, 0),
              ],
            ],
            notes: [
              `Job executions: ${lock.executions} in ${lock.periods} one-second periods (${fmt(lock.executions / Math.max(1, lock.periods), 2)} per period; > 1 means the lock let a run through twice).`,
              `Cluster cost ratio at 1 run/s: lock-per-run ${fmt(clusterLock, 0)} vs leader election ${fmt(clusterElection, 0)} requests/hour (× ${fmt(clusterLock / clusterElection, 1)}); lock-per-run grows with the run rate, the election does not.`,
            ],
          },
        ],
      };
    } finally {
      await azurite.stop();
    }
  },
};
