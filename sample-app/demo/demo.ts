/**
 * npm run demo — three sample-app replicas elect a leader and fail over.
 *
 * With AZURE_STORAGE_CONNECTION_STRING set, the replicas use that account; otherwise an embedded
 * Azurite (in memory, on a free loopback port) is started. The script stops the leader gracefully
 * (SIGTERM: lease released, takeover within about one poll), later kills the new leader hard
 * (SIGKILL: the lease must expire, takeover after about one lease duration; with --fast-failover a
 * follower breaks it once the holder's heartbeats stop, after about livenessMs), prints the measured
 * takeover times and exits, cleaning up every process it started. Replica logs go to a temp folder.
 *
 * Each replica also runs the sample app's single-reader consumer (a @LeaderTask): the demo watches
 * the replicas' "consumer started/stopped" lines as they arrive, shows where the consumer runs, and
 * measures its hand-over gap (old consumer stopped → new consumer started) at both failovers.
 *
 * The replicas have priorities (replica-3 = 3 is preferred, replica-1 = 1 least): the best one wins
 * the first election after its election delay, the next best takes over a graceful stop, a restarted
 * best one stays a follower (no failback by default), and the table shows the members of the lease
 * (presence records: priority, role, last refresh). The demo lists the records itself, on demand: a
 * replica's members() answers from a listing up to one presence interval old, so a replica restarted
 * seconds ago could show its previous record's age and read as dead.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Table from 'cli-table3';
import logUpdate from 'log-update';
import { AzureBlobLeaseStore, type PresenceRecord } from 'nestjs-leader-election';
import { freePort, startAzurite, type RunningAzurite } from '../../test/support/azurite.mjs';
import { ReplicaProcess, waitForLeader, type ReplicaLeaderView } from './replica-process.js';

const LEASE_SECONDS = 15;
const RETRY_INTERVAL_MS = 1_000;
/** `--fast-failover`: replicas run fastFailover { livenessMs: 3000 } (docs/fast-failover.md). */
const FAST_FAILOVER_LIVENESS_MS = process.argv.includes('--fast-failover') ? 3_000 : undefined;
const PRIORITIES: Record<string, number> = { 'replica-1': 1, 'replica-2': 2, 'replica-3': 3 };
/** The library's default election delay with a priority: presence interval (10 s) + retryIntervalMs. */
const ELECTION_DELAY_MS = 10_000 + RETRY_INTERVAL_MS;
const interactive = process.stdout.isTTY === true && !process.env.CI;
const startedAt = Date.now();
const events: string[] = [];
const views = new Map<string, ReplicaLeaderView | undefined>();
let azurite: RunningAzurite | undefined;
let replicas: ReplicaProcess[] = [];
let renderTimer: NodeJS.Timeout | undefined;
/** Presence records of lease "leader", listed by the demo itself (ages on the storage service's clock). */
let presenceStore: AzureBlobLeaseStore | undefined;
let presence: { records: PresenceRecord[]; listedAt: number } | undefined;
const PRESENCE_LIST_EVERY_MS = 1_000;
let listing: Promise<void> | undefined;

/** A consumer start or stop, timed when the replica's line reached the demo (one clock for all). */
interface ConsumerEvent {
  replica: string;
  kind: 'started' | 'stopped' | 'killed';
  term: number;
  at: number;
  detail?: string;
}
const consumerEvents: ConsumerEvent[] = [];
/** Replicas whose consumer is running, by their own lines; a second one at once would be a violation. */
const consumersRunning = new Map<string, number>();
const consumerOverlaps: string[] = [];
const CONSUMER_LINE = /consumer (started|stopped) \(term (\d+)(?:, (.*))?\)\s*$/;

function watchConsumer(replica: ReplicaProcess): void {
  replica.onLine = (line) => {
    const match = CONSUMER_LINE.exec(line);
    if (!match) return;
    const kind = match[1] as 'started' | 'stopped';
    const term = Number(match[2]);
    consumerEvents.push({ replica: replica.id, kind, term, at: Date.now(), detail: match[3] });
    if (kind === 'started') {
      for (const [other, otherTerm] of consumersRunning) {
        if (other !== replica.id)
          consumerOverlaps.push(
            `${replica.id} (term ${term}) started while ${other} (term ${otherTerm}) still ran`,
          );
      }
      consumersRunning.set(replica.id, term);
      event(`  ${replica.id}: consumer started (term ${term})`);
    } else {
      consumersRunning.delete(replica.id);
      event(`  ${replica.id}: consumer stopped (term ${term}, ${match[3] ?? '?'})`);
    }
  };
}

/** A SIGKILL ends the victim's consumer with the process: no line is written, so record it here. */
function consumerKilled(replica: ReplicaProcess, at: number): void {
  const term = consumersRunning.get(replica.id);
  if (term === undefined) return;
  consumersRunning.delete(replica.id);
  consumerEvents.push({ replica: replica.id, kind: 'killed', term, at });
  event(`  ${replica.id}: consumer killed with its process (term ${term})`);
}

async function consumerStart(
  replica: ReplicaProcess,
  after: number,
  timeoutMs: number,
): Promise<ConsumerEvent | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = consumerEvents.find(
      (entry) => entry.replica === replica.id && entry.kind === 'started' && entry.at >= after,
    );
    if (found || Date.now() > deadline) return found;
    await sleep(10);
  }
}

const elapsed = (): string => `${((Date.now() - startedAt) / 1000).toFixed(1).padStart(5)} s`;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function event(message: string): void {
  const line = `[${elapsed()}] ${message}`;
  events.push(line);
  if (!interactive) console.log(line);
}

function render(): void {
  if (!interactive) return;
  const table = new Table({
    head: [
      'replica',
      'pid',
      'process',
      'priority',
      'lease "leader"',
      'lease "billing"',
      'sees leader',
      'term',
      'consumer',
      'presence: refreshed',
    ],
  });
  const members = new Map((presence?.records ?? []).map((record) => [record.identity, record]));
  for (const replica of replicas) {
    const view = views.get(replica.id);
    const lease = (name: string) => view?.leases.find((entry) => entry.leaseName === name);
    const main = lease('leader');
    table.push([
      replica.id,
      replica.pid ?? '-',
      replica.status,
      PRIORITIES[replica.id] ?? '-',
      main ? (main.role === 'leader' ? '★ LEADER' : main.role) : '-',
      lease('billing')?.role === 'leader' ? '★ LEADER' : (lease('billing')?.role ?? '-'),
      main?.leader ?? '-',
      main?.term ?? '-',
      view?.consumer?.running ? `▶ term ${view.consumer.term}` : '-',
      members.has(replica.id) ? `${(members.get(replica.id)!.ageMs / 1000).toFixed(0)} s ago` : 'no record',
    ]);
  }
  logUpdate(
    `nestjs-leader-election demo  (${elapsed()})\n${table.toString()}\n\n${events.slice(-10).join('\n')}`,
  );
}

/** Lists the presence records of lease "leader" now (one List Blobs), unless a listing is fresh. */
async function listPresence(maxAgeMs = PRESENCE_LIST_EVERY_MS): Promise<PresenceRecord[] | undefined> {
  if (!presenceStore) return undefined;
  if (!presence || Date.now() - presence.listedAt > maxAgeMs) {
    listing ??= presenceStore
      .list('leader', AbortSignal.timeout(5_000))
      .then((records) => void (presence = { records, listedAt: Date.now() }))
      .catch(() => undefined)
      .finally(() => (listing = undefined));
    await listing;
  }
  return presence?.records;
}

/** One line: the members of lease "leader", best first, listed now; roles as the replicas report them. */
async function membersLine(): Promise<string> {
  await pollViews();
  const records = await listPresence(0);
  if (!records) return 'members: could not list the presence records';
  const leader = [...views.values()]
    .flatMap((view) => view?.leases ?? [])
    .find((lease) => lease.leaseName === 'leader' && lease.role === 'leader')?.leader;
  const live = records
    .filter((record) => record.ageMs <= 30_000) // the default presence.staleAfterMs
    .sort((a, b) => Number(b.canLead) - Number(a.canLead) || b.priority - a.priority);
  return `members of "leader", best first (listed now): ${live.map((m) => `${m.identity} (priority ${m.priority}, ${m.identity === leader ? 'leader' : 'follower'}, refreshed ${(m.ageMs / 1000).toFixed(0)} s ago)`).join(', ')}`;
}

async function pollViews(): Promise<void> {
  await Promise.all(replicas.map(async (replica) => views.set(replica.id, await replica.view(500))));
}

async function cleanup(): Promise<void> {
  if (renderTimer) clearInterval(renderTimer);
  await Promise.allSettled(replicas.map((replica) => replica.kill()));
  await azurite?.stop();
}

async function main(): Promise<void> {
  const logDir = mkdtempSync(join(tmpdir(), 'leader-demo-'));
  let connectionString = process.env.AZURE_STORAGE_CONNECTION_STRING;
  if (!connectionString) {
    azurite = await startAzurite();
    connectionString = azurite.connectionString;
    event(`started an embedded Azurite (in memory) on 127.0.0.1:${azurite.port}`);
  } else {
    event('using AZURE_STORAGE_CONNECTION_STRING');
  }
  const env = {
    AZURE_STORAGE_CONNECTION_STRING: connectionString,
    LEASE_CONTAINER: `demo-${startedAt}`,
    LEASE_DURATION_SECONDS: String(LEASE_SECONDS),
    RETRY_INTERVAL_MS: String(RETRY_INTERVAL_MS),
    ...(FAST_FAILOVER_LIVENESS_MS ? { FAST_FAILOVER_LIVENESS_MS: String(FAST_FAILOVER_LIVENESS_MS) } : {}),
  };
  replicas = await Promise.all(
    ['replica-1', 'replica-2', 'replica-3'].map(
      async (id) =>
        new ReplicaProcess(
          id,
          await freePort(),
          { ...env, PRIORITY: String(PRIORITIES[id]) },
          join(logDir, `${id}.log`),
        ),
    ),
  );
  const best = replicas[2]!;
  for (const replica of replicas) watchConsumer(replica);
  event(
    `starting 3 replicas (lease ${LEASE_SECONDS} s, ${FAST_FAILOVER_LIVENESS_MS ? `fast failover ${FAST_FAILOVER_LIVENESS_MS} ms, ` : ''}follower poll ${RETRY_INTERVAL_MS} ms, priorities ${replicas.map((r) => `${r.id} = ${PRIORITIES[r.id]}`).join(', ')}); logs in ${logDir}`,
  );
  presenceStore = new AzureBlobLeaseStore({ connectionString, containerName: env.LEASE_CONTAINER });
  renderTimer = setInterval(() => void Promise.all([pollViews(), listPresence()]).then(render), 200);
  const bootAt = Date.now();
  await Promise.all(replicas.map((replica) => replica.start()));
  event(
    `all up; with priorities nobody takes the free lease during the election delay (${ELECTION_DELAY_MS / 1000} s), so every replica has announced itself`,
  );

  const first = await waitForLeader(replicas, { timeoutMs: 45_000 });
  const firstAfterMs = Date.now() - bootAt;
  event(
    `${first.leader.id} (priority ${PRIORITIES[first.leader.id]}) leads (term ${first.term}) ${(firstAfterMs / 1000).toFixed(1)} s after the start; the others follow`,
  );
  event(await membersLine());
  await sleep(3_000);

  // 1. Graceful stop: the leader releases its lease on SIGTERM.
  event(`SIGTERM → ${first.leader.id} (graceful stop: it releases the lease)`);
  const stopAt = Date.now();
  const stopping = first.leader.stop();
  const graceful = await waitForLeader(replicas, { timeoutMs: 30_000, exclude: first.leader, pollMs: 20 });
  const gracefulMs = Date.now() - stopAt;
  event(`${graceful.leader.id} took over after ${(gracefulMs / 1000).toFixed(2)} s (term ${graceful.term})`);
  await stopping;
  const gracefulStop = consumerEvents.find(
    (entry) => entry.replica === first.leader.id && entry.kind === 'stopped' && entry.at >= stopAt,
  );
  const gracefulStart = await consumerStart(graceful.leader, stopAt, 3_000);
  await sleep(3_000);
  event(
    `restarting ${first.leader.id}: it rejoins as a follower (no failback by default: the leader keeps the lease)`,
  );
  await first.leader.start();
  await sleep(8_000);
  const rejoinedRole = await first.leader.role();
  event(`${first.leader.id} is ${rejoinedRole ?? '?'}; ${await membersLine()}`);

  // 2. Crash: SIGKILL, no release; the lease must expire on the server first (or, with fast failover,
  // be broken by a follower once the holder's heartbeats have been silent for livenessMs).
  event(
    `SIGKILL → ${graceful.leader.id} (crash: the lease is NOT released and ${FAST_FAILOVER_LIVENESS_MS ? `is broken after ${FAST_FAILOVER_LIVENESS_MS} ms without heartbeats` : 'must expire'})`,
  );
  const killAt = Date.now();
  await graceful.leader.kill();
  consumerKilled(graceful.leader, killAt);
  const crash = await waitForLeader(replicas, { timeoutMs: 60_000, exclude: graceful.leader, pollMs: 20 });
  const crashMs = Date.now() - killAt;
  event(`${crash.leader.id} took over after ${(crashMs / 1000).toFixed(2)} s (term ${crash.term})`);
  const crashStart = await consumerStart(crash.leader, killAt, 3_000);
  await sleep(3_000);
  event(`restarting ${graceful.leader.id}`);
  await graceful.leader.start();
  await sleep(4_000);
  const lastMembers = await membersLine();
  event(lastMembers);
  render();

  const summary = [
    '',
    'Measured takeover times (signal sent → another replica reports itself leader):',
    `  graceful stop (SIGTERM): ${(gracefulMs / 1000).toFixed(2)} s   bound ≈ retryInterval (${RETRY_INTERVAL_MS / 1000} s) + request time`,
    `  crash (SIGKILL):         ${(crashMs / 1000).toFixed(2)} s   ${FAST_FAILOVER_LIVENESS_MS ? `bound ≈ livenessMs (${FAST_FAILOVER_LIVENESS_MS / 1000} s) + header rounding (2 s) + retryInterval (${RETRY_INTERVAL_MS / 1000} s)` : `bound ≤ lease duration + retryInterval (${LEASE_SECONDS + RETRY_INTERVAL_MS / 1000} s)`}${crash.leader === best ? ' for the best live replica (no better priority to wait for)' : ' + one preference window per better priority still present'}`,
    `  terms: ${first.term} → ${graceful.term} → ${crash.term} (strictly increasing)`,
    '',
    `Priorities (${replicas.map((r) => `${r.id} = ${PRIORITIES[r.id]}`).join(', ')}; higher is preferred):`,
    `  first election:  ${first.leader.id} (priority ${PRIORITIES[first.leader.id]}) after ${(firstAfterMs / 1000).toFixed(1)} s${first.leader === best ? ' — the best one, after the election delay' : ` — NOT the best (${best.id})`}`,
    `  graceful stop:   ${graceful.leader.id} (priority ${PRIORITIES[graceful.leader.id]}) took over${first.leader === best && graceful.leader === replicas[1] ? ' — the next best' : ''}`,
    `  restarted ${first.leader.id}: ${rejoinedRole === 'follower' ? 'stayed a follower (no failback by default)' : `was ${rejoinedRole ?? '?'} 8 s after its restart`}`,
    `  crash:           ${crash.leader.id} (priority ${PRIORITIES[crash.leader.id]}) took over${crash.leader === best ? ' — the best live one' : ''}`,
    `  ${lastMembers}`,
    '',
    'Consumer (@LeaderTask) hand-over (old consumer stopped → new consumer started, as the lines arrived):',
    `  graceful stop (SIGTERM): ${handOver(gracefulStop, gracefulStart)}`,
    `  crash (SIGKILL):         ${handOver(crashKill(graceful.leader.id, killAt), crashStart)}`,
    `  consumers running at once: ${consumerOverlaps.length === 0 ? 'never more than one' : `TWO — ${consumerOverlaps.join('; ')}`} (${consumerEvents.filter((entry) => entry.kind === 'started').length} starts seen)`,
    `  replica logs: ${logDir}`,
  ].join('\n');
  if (interactive) logUpdate.done();
  console.log(summary);
}

function crashKill(replica: string, killAt: number): ConsumerEvent | undefined {
  return consumerEvents.find(
    (entry) => entry.replica === replica && entry.kind === 'killed' && entry.at >= killAt,
  );
}

function handOver(stop: ConsumerEvent | undefined, start: ConsumerEvent | undefined): string {
  if (!stop || !start) return `not measured (${!stop ? 'no stop seen' : 'no start seen'})`;
  const how = stop.kind === 'killed' ? 'killed' : `stopped (${stop.detail ?? '?'})`;
  return `${((start.at - stop.at) / 1000).toFixed(2)} s   ${stop.replica} term ${stop.term} ${how} → ${start.replica} term ${start.term} started`;
}

let exiting = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (exiting) return;
    exiting = true;
    void cleanup().finally(() => process.exit(130));
  });
}

main()
  .then(cleanup)
  .catch(async (error: unknown) => {
    if (interactive) logUpdate.done();
    console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
    await cleanup();
    process.exitCode = 1;
  });
