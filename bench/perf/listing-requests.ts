/**
 * Issue 23: storage requests per hour per replica with many leases, per-lease polls ("before")
 * against the shared listing ("after"), in one run on one Azurite. Three replicas in this process,
 * each with its own AzureBlobLeaseStore behind its own counting proxy (so counts are per replica, at
 * the HTTP level); each replica leads about a third of the leases and follows the rest. D = 15 s,
 * R = 2 s (±20 %), presence off (its requests are per lease and not changed by the listing).
 *
 *   flock /tmp/nle-heavy.lock npx tsx bench/perf/listing-requests.ts [--leases 1,10,100,1000]
 *     [--window-s 60] [--warmup-s 15] [--out bench/results/listing.json]
 *
 * "before" runs with listingFromLeases 1 000 000 (never list), "after" with listingFromLeases 1
 * (always list, to show the listing's cost even where the default rule, 13, would not list).
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { cpuUsage, memoryUsage } from 'node:process';
import { randomBytes } from 'node:crypto';
import { LeaderElector } from '../../lib/core/leader-elector.js';
import { silentLogger } from '../../lib/core/logger.js';
import { AzureBlobLeaseStore } from '../../lib/stores/azure-blob/azure-blob-lease-store.js';
import { startAzurite } from '../../test/support/azurite.mjs';
import { connectionStringFor } from './support/azurite-connection.js';
import { CountingProxy, diffCounts } from './support/proxy.js';

const REPLICAS = 3;
/** Sample prices per 10 000 operations, hot tier (docs/azure-storage-facts.md; re-check your region). */
const PRICE_OTHER = 0.0044 / 10_000;
const PRICE_LIST = 0.055 / 10_000;
const HOURS_PER_MONTH = 720;

const { values } = parseArgs({
  options: {
    leases: { type: 'string', default: '1,10,100,1000' },
    'window-s': { type: 'string', default: '60' },
    'warmup-s': { type: 'string', default: '15' },
    'before-max': { type: 'string', default: '100' },
    out: { type: 'string', default: 'bench/results/listing-requests.json' },
  },
});
const leaseCounts = values.leases!.split(',').map(Number);
const windowMs = Number(values['window-s']) * 1000;
const warmupMs = Number(values['warmup-s']) * 1000;
const beforeMax = Number(values['before-max']);

interface ReplicaResult {
  replica: number;
  led: number;
  followed: number;
  perHour: Record<string, number>;
  totalPerHour: number;
  dollarsPerMonth: number;
}

interface RunResult {
  mode: 'before (per lease)' | 'after (listing)';
  leases: number;
  replicas: ReplicaResult[];
  /** Lease-samples (each lease once a second) without exactly one leader, and with two or more. */
  samplesWithoutOneLeaderEach: number;
  samplesWithTwoLeaders: number;
  samples: number;
  leadershipsLost: number;
  renewLatencyMs: { p50: number; p99: number; max: number };
  cpuPercentOfOneCore: number;
  rssMB: number;
  heapUsedMB: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function priceOf(kind: string): number {
  return kind === 'List Blobs' || kind === 'Create Container' || kind === 'Put Blob'
    ? PRICE_LIST
    : PRICE_OTHER;
}

async function run(azuritePort: number, leases: number, listing: boolean): Promise<RunResult> {
  const containerName = `bench-listing-${leases}-${listing ? 'a' : 'b'}-${randomBytes(3).toString('hex')}`;
  const proxies = await Promise.all(
    Array.from({ length: REPLICAS }, () => new CountingProxy(azuritePort).start()),
  );
  const names = Array.from({ length: leases }, (_, i) => `tenant-${String(i).padStart(4, '0')}`);
  const electors = proxies.map((proxy, r) => {
    const store = new AzureBlobLeaseStore({
      connectionString: connectionStringFor(proxy.port),
      containerName,
      listingFromLeases: listing ? 1 : 1_000_000,
    });
    return names.map(
      (leaseName) =>
        new LeaderElector(store, { leaseName, identity: `r${r}`, presence: false }, { logger: silentLogger }),
    );
  });
  let lost = 0;
  const renewLatencies: number[] = [];
  let measuring = false;
  for (const replica of electors)
    for (const elector of replica) {
      elector.events$.subscribe((event) => {
        if (measuring && event.type === 'lost') lost += 1;
      });
      elector.requests$.subscribe((request) => {
        if (measuring && request.operation === 'renew') renewLatencies.push(request.durationMs);
      });
    }
  // Spread leadership: replica r first takes the leases i ≡ r (mod 3), then everyone joins. In
  // batches of 50 electors (all at once, 3 000 first acquires with blob creation swamp one Azurite).
  const startInBatches = async (all: LeaderElector[]): Promise<void> => {
    for (let i = 0; i < all.length; i += 50) {
      await Promise.all(all.slice(i, i + 50).map((elector) => elector.start()));
      if (all.length > 50) await sleep(100);
    }
  };
  await startInBatches(electors.flatMap((replica, r) => replica.filter((_, i) => i % REPLICAS === r)));
  await sleep(1000);
  await startInBatches(electors.flatMap((replica, r) => replica.filter((_, i) => i % REPLICAS !== r)));
  await sleep(warmupMs);

  const before = proxies.map((proxy) => proxy.snapshot());
  measuring = true;
  const cpu0 = cpuUsage();
  const started = Date.now();
  let samples = 0;
  let bad = 0;
  let two = 0;
  while (Date.now() - started < windowMs) {
    await sleep(1000);
    samples += 1;
    for (let i = 0; i < leases; i++) {
      const leaders = electors.filter((replica) => replica[i]!.isLeader()).length;
      if (leaders !== 1) bad += 1;
      if (leaders > 1) two += 1;
    }
  }
  const elapsed = Date.now() - started;
  const cpu = cpuUsage(cpu0);
  measuring = false;
  const memory = memoryUsage();
  const after = proxies.map((proxy) => proxy.snapshot());
  const replicas = proxies.map((_, r): ReplicaResult => {
    const counts = diffCounts(after[r]!, before[r]!);
    const perHour: Record<string, number> = {};
    let dollars = 0;
    for (const [kind, count] of Object.entries(counts.byKind)) {
      perHour[kind] = Math.round((count * 3_600_000) / elapsed);
      dollars += perHour[kind] * HOURS_PER_MONTH * priceOf(kind);
    }
    const led = electors[r]!.filter((elector) => elector.isLeader()).length;
    return {
      replica: r,
      led,
      followed: leases - led,
      perHour,
      totalPerHour: Object.values(perHour).reduce((a, b) => a + b, 0),
      dollarsPerMonth: Math.round(dollars * 100) / 100,
    };
  });
  await Promise.all(electors.flat().map((elector) => elector.stop()));
  for (const proxy of proxies) await proxy.stop();
  renewLatencies.sort((a, b) => a - b);
  return {
    mode: listing ? 'after (listing)' : 'before (per lease)',
    leases,
    replicas,
    samplesWithoutOneLeaderEach: bad,
    samplesWithTwoLeaders: two,
    samples: samples * leases,
    leadershipsLost: lost,
    renewLatencyMs: {
      p50: Math.round(percentile(renewLatencies, 50) * 10) / 10,
      p99: Math.round(percentile(renewLatencies, 99) * 10) / 10,
      max: Math.round((renewLatencies.at(-1) ?? NaN) * 10) / 10,
    },
    cpuPercentOfOneCore: Math.round(((cpu.user + cpu.system) / 1000 / elapsed) * 1000) / 10,
    rssMB: Math.round(memory.rss / 1e6),
    heapUsedMB: Math.round(memory.heapUsed / 1e6),
  };
}

async function main(): Promise<void> {
  const azurite = await startAzurite();
  const results: RunResult[] = [];
  try {
    for (const leases of leaseCounts) {
      for (const listing of [false, true]) {
        if (!listing && leases > beforeMax) continue; // per-lease polls at this scale saturate Azurite here
        const result = await run(azurite.port, leases, listing);
        results.push(result);
        console.log(
          `${result.mode} ${leases} leases: ` +
            result.replicas
              .map(
                (r) =>
                  `r${r.replica} led ${r.led} ${r.totalPerHour}/h $${r.dollarsPerMonth}/mo ${JSON.stringify(r.perHour)}`,
              )
              .join(' | ') +
            ` | lost ${result.leadershipsLost}, bad samples ${result.samplesWithoutOneLeaderEach}/${result.samples} ` +
            `(two leaders: ${result.samplesWithTwoLeaders}), ` +
            `renew p50/p99 ${result.renewLatencyMs.p50}/${result.renewLatencyMs.p99} ms, cpu ${result.cpuPercentOfOneCore} %, rss ${result.rssMB} MB`,
        );
      }
    }
  } finally {
    await azurite.stop();
  }
  mkdirSync(dirname(values.out!), { recursive: true });
  writeFileSync(
    values.out!,
    JSON.stringify({ at: new Date().toISOString(), windowMs, warmupMs, results }, null, 2),
  );
}

void main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
