/**
 * One replica of bench/perf/many-leases.ts (issue 23): LEASES elections in this process on one
 * AzureBlobLeaseStore (through the orchestrator's counting proxy at PORT), all started at once as an
 * app with that many `@LeaderOnly('name')` methods would. Reports to the orchestrator over IPC:
 * leadership begun / ended per lease (wall-clock ms; an end is capped at the deadline the elector
 * itself uses: last successful acquire/renew send + D − safety margin), renew latencies, and CPU and
 * memory every few seconds. SIGTERM stops every election (releasing its leases) and exits.
 *
 * Env: PORT, CONTAINER, REPLICA, LEASES, LISTING_FROM (listingFromLeases), RETRY_INTERVAL_MS.
 */
import { cpuUsage, memoryUsage } from 'node:process';
import { LeaderElector } from '../../lib/core/leader-elector.js';
import { silentLogger } from '../../lib/core/logger.js';
import { AzureBlobLeaseStore } from '../../lib/stores/azure-blob/azure-blob-lease-store.js';
import { connectionStringFor, envNumber, envString } from './support/azurite-connection.js';

const port = envNumber('PORT');
const containerName = envString('CONTAINER');
const replica = envNumber('REPLICA');
const leaseCount = envNumber('LEASES', 1000);
const listingFromLeases = envNumber('LISTING_FROM', 13);
const retryIntervalMs = envNumber('RETRY_INTERVAL_MS', 2000);
/** D − safety margin at default timings: how long after a send the elector trusts the lease. */
const VALIDITY_MS = 14_000;

export type ReplicaMessage =
  | { t: 'baseline'; rss: number; heapUsed: number }
  | { t: 'started'; at: number; startMs: number }
  | { t: 'a'; i: number; term: number; at: number }
  | { t: 'l'; i: number; at: number; reason: string }
  | { t: 'stats'; at: number; cpuMs: number; rss: number; heapUsed: number; renewMs: number[] }
  | { t: 'memory'; rss: number; heapUsed: number }
  | { t: 'stopped'; at: number };

const send = (message: ReplicaMessage): void => {
  process.send?.(message);
};
const gcMemory = (): NodeJS.MemoryUsage => {
  (globalThis as { gc?: () => void }).gc?.();
  return memoryUsage();
};

async function main(): Promise<void> {
  const store = new AzureBlobLeaseStore({
    connectionString: connectionStringFor(port),
    containerName,
    listingFromLeases,
  });
  const baseline = gcMemory();
  send({ t: 'baseline', rss: baseline.rss, heapUsed: baseline.heapUsed });
  const names = Array.from({ length: leaseCount }, (_, i) => `tenant-${String(i).padStart(4, '0')}`);
  const validUntil = new Array<number>(leaseCount).fill(0);
  let renewMs: number[] = [];
  const electors = names.map((leaseName, i) => {
    const elector = new LeaderElector(
      store,
      { leaseName, identity: `r${replica}`, presence: false, retryIntervalMs },
      { logger: silentLogger },
    );
    elector.requests$.subscribe((request) => {
      if (request.outcome !== 'ok') return;
      const sentAt = Date.now() - request.durationMs;
      if (request.operation === 'renew') {
        renewMs.push(Math.round(request.durationMs * 10) / 10);
        validUntil[i] = sentAt + VALIDITY_MS;
      } else if (request.operation === 'acquire' && request.acquired) validUntil[i] = sentAt + VALIDITY_MS;
    });
    elector.events$.subscribe((event) => {
      const now = Date.now();
      if (event.type === 'acquired') send({ t: 'a', i, term: event.term, at: now });
      else if (event.type === 'lost')
        send({ t: 'l', i, at: Math.min(now, validUntil[i] || now), reason: event.reason });
    });
    return elector;
  });

  let cpu0 = cpuUsage();
  const stats = setInterval(() => {
    const cpu = cpuUsage(cpu0);
    cpu0 = cpuUsage();
    const memory = memoryUsage();
    send({
      t: 'stats',
      at: Date.now(),
      cpuMs: (cpu.user + cpu.system) / 1000,
      rss: memory.rss,
      heapUsed: memory.heapUsed,
      renewMs,
    });
    renewMs = [];
  }, 5000);

  let stopping = false;
  process.on('SIGTERM', () => {
    if (stopping) return;
    stopping = true;
    void Promise.all(electors.map((elector) => elector.stop())).then(() => {
      clearInterval(stats);
      send({ t: 'stopped', at: Date.now() });
      setTimeout(() => process.exit(0), 200);
    });
  });
  // The orchestrator asks for a memory reading after a full GC.
  process.on('message', (message: { t?: string }) => {
    if (message?.t !== 'gc') return;
    const memory = gcMemory();
    send({ t: 'memory', rss: memory.rss, heapUsed: memory.heapUsed });
  });

  const startedAt = Date.now();
  await Promise.all(electors.map((elector) => elector.start()));
  send({ t: 'started', at: Date.now(), startMs: Date.now() - startedAt });
}

main().catch((error: unknown) => {
  console.error(`replica ${replica} failed:`, error);
  process.exit(1);
});
