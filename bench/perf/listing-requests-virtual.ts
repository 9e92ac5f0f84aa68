/**
 * Issue 23, virtual-time companion of listing-requests.ts: the store calls the library makes per
 * replica, counted on a manual clock with the in-memory store (no Azurite, no real time: exact,
 * repeatable, and cheap enough for 1 000 leases with per-lease polls). Store calls are turned into
 * Azure requests as the Azure store makes them: observe = 1 Get Blob Properties, a listing =
 * ⌈leases / 5 000⌉ List Blobs, renew = 1 Renew Lease, acquire = Acquire Lease + Get Blob Properties
 * + Set Blob Metadata, release = 1 Release Lease.
 *
 *   npx tsx bench/perf/listing-requests-virtual.ts [--leases 1,10,100,1000] [--window-s 120]
 */
import { parseArgs } from 'node:util';
import { LeaderElector } from '../../lib/core/leader-elector.js';
import type {
  AcquireRequest,
  AcquireResult,
  LeaseObservation,
  LeaseStore,
  ReleaseOptions,
} from '../../lib/core/lease-store.js';
import { silentLogger } from '../../lib/core/logger.js';
import { MemoryLeaseStore } from '../../lib/stores/memory/memory-lease-store.js';
import { ManualClock } from '../../lib/testing/manual-clock.js';

const REPLICAS = 3;
const PRICE_OTHER = 0.0044 / 10_000;
const PRICE_LIST = 0.055 / 10_000;
const HOURS_PER_MONTH = 720;

const { values } = parseArgs({
  options: {
    leases: { type: 'string', default: '1,10,100,1000' },
    'window-s': { type: 'string', default: '120' },
    'warmup-s': { type: 'string', default: '20' },
  },
});

type Kind =
  'Get Properties' | 'List Blobs' | 'Renew Lease' | 'Acquire Lease' | 'Set Metadata' | 'Release Lease';

class CountingStore implements LeaseStore {
  readonly description = 'counting view of the memory store';
  readonly counts: Record<string, number> = {};
  counting = false;

  constructor(
    private readonly backend: MemoryLeaseStore,
    readonly listingFromLeases: number,
  ) {}

  private add(kind: Kind, n = 1): void {
    if (this.counting) this.counts[kind] = (this.counts[kind] ?? 0) + n;
  }

  observe(leaseName: string, signal: AbortSignal): Promise<LeaseObservation> {
    this.add('Get Properties');
    return this.backend.observe(leaseName, signal);
  }

  acquire(request: AcquireRequest, signal: AbortSignal): Promise<AcquireResult> {
    this.add('Acquire Lease');
    return this.backend.acquire(request, signal).then((result) => {
      if (result.acquired) {
        this.add('Get Properties');
        this.add('Set Metadata');
      }
      return result;
    });
  }

  renew(leaseName: string, leaseId: string, signal: AbortSignal): Promise<void> {
    this.add('Renew Lease');
    return this.backend.renew(leaseName, leaseId, signal);
  }

  release(leaseName: string, leaseId: string, signal: AbortSignal, options?: ReleaseOptions): Promise<void> {
    this.add('Release Lease');
    return this.backend.release(leaseName, leaseId, signal, options);
  }

  async listLeases(names: readonly string[], signal: AbortSignal): Promise<Map<string, LeaseObservation>> {
    this.add('List Blobs', Math.max(1, Math.ceil(names.length / 5000)));
    const listed = new Map<string, LeaseObservation>();
    for (const name of names) listed.set(name, await this.backend.observe(name, signal));
    return listed;
  }
}

async function run(leases: number, listing: boolean, windowMs: number, warmupMs: number) {
  const clock = new ManualClock();
  const backend = new MemoryLeaseStore(clock);
  const names = Array.from({ length: leases }, (_, i) => `tenant-${i}`);
  const stores = Array.from({ length: REPLICAS }, () => new CountingStore(backend, listing ? 1 : 1_000_000));
  const electors = stores.map((store, r) =>
    names.map(
      (leaseName) =>
        new LeaderElector(
          store,
          { leaseName, identity: `r${r}`, presence: false },
          { clock, logger: silentLogger },
        ),
    ),
  );
  // Replica r first takes the leases i ≡ r (mod 3), then everyone joins.
  const first = electors.flatMap((replica, r) => replica.filter((_, i) => i % REPLICAS === r));
  const firstStarted = Promise.all(first.map((elector) => elector.start()));
  await clock.advance(3000);
  await firstStarted;
  const rest = electors.flatMap((replica, r) => replica.filter((_, i) => i % REPLICAS !== r));
  const restStarted = Promise.all(rest.map((elector) => elector.start()));
  await clock.advance(3000);
  await restStarted;
  await clock.advance(warmupMs);
  for (const store of stores) store.counting = true;
  await clock.advance(windowMs);
  for (const store of stores) store.counting = false;
  const replicas = stores.map((store, r) => {
    const perHour: Record<string, number> = {};
    let dollars = 0;
    for (const [kind, count] of Object.entries(store.counts)) {
      perHour[kind] = Math.round((count * 3_600_000) / windowMs);
      dollars += perHour[kind] * HOURS_PER_MONTH * (kind === 'List Blobs' ? PRICE_LIST : PRICE_OTHER);
    }
    const led = electors[r]!.filter((elector) => elector.isLeader()).length;
    const total = Object.values(perHour).reduce((a, b) => a + b, 0);
    return {
      replica: r,
      led,
      followed: leases - led,
      perHour,
      total,
      dollarsPerMonth: Math.round(dollars * 100) / 100,
    };
  });
  const stopping = Promise.all(electors.flat().map((elector) => elector.stop()));
  await clock.advance(30_000);
  await stopping;
  return replicas;
}

async function main(): Promise<void> {
  const windowMs = Number(values['window-s']) * 1000;
  const warmupMs = Number(values['warmup-s']) * 1000;
  for (const leases of values.leases!.split(',').map(Number)) {
    for (const listing of [false, true]) {
      const started = Date.now();
      const replicas = await run(leases, listing, windowMs, warmupMs);
      console.log(
        `${listing ? 'after (listing)' : 'before (per lease)'} ${leases} leases (${Date.now() - started} ms wall): ` +
          replicas
            .map(
              (r) =>
                `r${r.replica} led ${r.led} total ${r.total}/h $${r.dollarsPerMonth}/mo ${JSON.stringify(r.perHour)}`,
            )
            .join(' | '),
      );
    }
  }
}

void main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
