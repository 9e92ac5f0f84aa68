/**
 * npm run demo — three sample-app replicas elect a leader and fail over.
 *
 * With AZURE_STORAGE_CONNECTION_STRING set, the replicas use that account; otherwise an embedded
 * Azurite (in memory, on a free loopback port) is started. The script stops the leader gracefully
 * (SIGTERM: lease released, takeover within about one poll), later kills the new leader hard
 * (SIGKILL: the lease must expire, takeover after about one lease duration), prints the measured
 * takeover times and exits, cleaning up every process it started. Replica logs go to a temp folder.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Table from 'cli-table3';
import logUpdate from 'log-update';
import { freePort, startAzurite, type RunningAzurite } from '../../test/support/azurite.mjs';
import { ReplicaProcess, waitForLeader, type ReplicaLeaderView } from './replica-process.js';

const LEASE_SECONDS = 15;
const RETRY_INTERVAL_MS = 1_000;
const interactive = process.stdout.isTTY === true && !process.env.CI;
const startedAt = Date.now();
const events: string[] = [];
const views = new Map<string, ReplicaLeaderView | undefined>();
let azurite: RunningAzurite | undefined;
let replicas: ReplicaProcess[] = [];
let renderTimer: NodeJS.Timeout | undefined;

const elapsed = (): string => `${((Date.now() - startedAt) / 1000).toFixed(1).padStart(5)} s`;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function event(message: string): void {
  const line = `[${elapsed()}] ${message}`;
  events.push(line);
  if (!interactive) console.log(line);
}

function render(): void {
  if (!interactive) return;
  const table = new Table({ head: ['replica', 'pid', 'process', 'lease "leader"', 'lease "billing"', 'sees leader', 'term'] });
  for (const replica of replicas) {
    const view = views.get(replica.id);
    const lease = (name: string) => view?.leases.find((entry) => entry.leaseName === name);
    const main = lease('leader');
    table.push([
      replica.id,
      replica.pid ?? '-',
      replica.status,
      main ? (main.role === 'leader' ? '★ LEADER' : main.role) : '-',
      lease('billing')?.role === 'leader' ? '★ LEADER' : (lease('billing')?.role ?? '-'),
      main?.leader ?? '-',
      main?.term ?? '-',
    ]);
  }
  logUpdate(`nestjs-leader-election demo  (${elapsed()})\n${table.toString()}\n\n${events.slice(-10).join('\n')}`);
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
  };
  replicas = await Promise.all(
    ['replica-1', 'replica-2', 'replica-3'].map(async (id) => new ReplicaProcess(id, await freePort(), env, join(logDir, `${id}.log`))),
  );
  event(`starting 3 replicas (lease ${LEASE_SECONDS} s, follower poll ${RETRY_INTERVAL_MS} ms); logs in ${logDir}`);
  renderTimer = setInterval(() => void pollViews().then(render), 200);
  await Promise.all(replicas.map((replica) => replica.start()));

  const first = await waitForLeader(replicas, { timeoutMs: 30_000 });
  event(`${first.leader.id} leads (term ${first.term}); the others follow`);
  await sleep(8_000);

  // 1. Graceful stop: the leader releases its lease on SIGTERM.
  event(`SIGTERM → ${first.leader.id} (graceful stop: it releases the lease)`);
  const stopAt = Date.now();
  const stopping = first.leader.stop();
  const graceful = await waitForLeader(replicas, { timeoutMs: 30_000, exclude: first.leader, pollMs: 20 });
  const gracefulMs = Date.now() - stopAt;
  await stopping;
  event(`${graceful.leader.id} took over after ${(gracefulMs / 1000).toFixed(2)} s (term ${graceful.term})`);
  await sleep(3_000);
  event(`restarting ${first.leader.id}: it rejoins as a follower`);
  await first.leader.start();
  await sleep(8_000);

  // 2. Crash: SIGKILL, no release; the lease must expire on the server first.
  event(`SIGKILL → ${graceful.leader.id} (crash: the lease is NOT released and must expire)`);
  const killAt = Date.now();
  await graceful.leader.kill();
  const crash = await waitForLeader(replicas, { timeoutMs: 60_000, exclude: graceful.leader, pollMs: 20 });
  const crashMs = Date.now() - killAt;
  event(`${crash.leader.id} took over after ${(crashMs / 1000).toFixed(2)} s (term ${crash.term})`);
  await sleep(3_000);
  event(`restarting ${graceful.leader.id}`);
  await graceful.leader.start();
  await sleep(6_000);
  await pollViews();
  render();

  const summary = [
    '',
    'Measured takeover times (signal sent → another replica reports itself leader):',
    `  graceful stop (SIGTERM): ${(gracefulMs / 1000).toFixed(2)} s   bound ≈ retryInterval (${RETRY_INTERVAL_MS / 1000} s) + request time`,
    `  crash (SIGKILL):         ${(crashMs / 1000).toFixed(2)} s   bound ≤ lease duration + retryInterval (${LEASE_SECONDS + RETRY_INTERVAL_MS / 1000} s)`,
    `  terms: ${first.term} → ${graceful.term} → ${crash.term} (strictly increasing)`,
    `  replica logs: ${logDir}`,
  ].join('\n');
  if (interactive) logUpdate.done();
  console.log(summary);
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
