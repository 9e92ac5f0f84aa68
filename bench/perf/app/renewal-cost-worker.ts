/**
 * Benchmark worker: what the renewal thread (the renewalThread option) costs. One process holds
 * LEASES leases (no other candidate, so it leads them all) through LeaderElectionService at default
 * timings on real Azurite, with or without the renewal thread, and measures over an idle-leadership
 * window: process CPU time (process.cpuUsage(): every thread of the process, the worker's included),
 * and memory after a full GC (RSS: both isolates; heapUsed: the main isolate only), plus the OS
 * thread count. The orchestrator (suites/renewal-cost.ts) compares a run with and without the thread.
 *
 * Env: AZURE_STORAGE_CONNECTION_STRING, RESULT_FILE, LEASES (default 1), RENEWAL_THREAD ('1' = on),
 *      WARMUP_MS (default 10000), DURATION_MS (default 60000), CONTAINER_NAME.
 * Run with --expose-gc (a full GC before each memory reading).
 */
import 'reflect-metadata';
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { LeaderElectionModule, LeaderElectionService } from 'nestjs-leader-election';
import { envNumber, envString } from '../support/azurite-connection.js';

const connectionString = envString('AZURE_STORAGE_CONNECTION_STRING');
const resultFile = envString('RESULT_FILE');
const leaseCount = envNumber('LEASES', 1);
const renewalThread = process.env.RENEWAL_THREAD === '1';
const warmupMs = envNumber('WARMUP_MS', 10_000);
const durationMs = envNumber('DURATION_MS', 60_000);
const containerName = process.env.CONTAINER_NAME || 'bench-renewal-cost';
const names = Array.from({ length: leaseCount }, (_, i) => `cost-${String(i).padStart(3, '0')}`);

function memoryAfterGc(): { rssMB: number; heapUsedMB: number; externalMB: number; threads: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  gc();
  gc();
  const usage = process.memoryUsage();
  const threads = Number(/Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN);
  const mb = (bytes: number): number => Math.round((bytes / 2 ** 20) * 100) / 100;
  return { rssMB: mb(usage.rss), heapUsedMB: mb(usage.heapUsed), externalMB: mb(usage.external), threads };
}

@Module({
  imports: [
    LeaderElectionModule.forRoot({
      connectionString,
      containerName,
      identity: `cost-${process.pid}`,
      leaseName: names[0]!,
      startupTimeoutMs: 60_000,
      ...(renewalThread ? { renewalThread: true } : {}),
    }),
  ],
})
class CostModule {}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(CostModule, { logger: ['warn', 'error'] });
  const election = app.get(LeaderElectionService);
  await election.start(names);
  const t0 = Date.now();
  while (names.some((name) => !election.isLeader(name))) {
    if (Date.now() - t0 > 60_000)
      throw new Error(
        `leads only ${names.filter((name) => election.isLeader(name)).length}/${leaseCount} leases after 60 s`,
      );
    await sleep(100);
  }
  await sleep(warmupMs);
  const memoryBefore = memoryAfterGc();
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  await sleep(durationMs);
  const cpu = process.cpuUsage(cpu0);
  const wallMs = performance.now() - wall0;
  const leadingAtEnd = names.filter((name) => election.isLeader(name)).length;
  const memoryAfter = memoryAfterGc();
  const { leaseDurationMs, renewIntervalMs } = election.electorFor(names[0]).options;
  writeFileSync(
    resultFile,
    JSON.stringify({
      leases: leaseCount,
      renewalThread,
      leadingAtEnd,
      renewIntervalMs,
      leaseDurationMs,
      wallMs: Math.round(wallMs),
      cpuUserMs: Math.round(cpu.user / 1000),
      cpuSystemMs: Math.round(cpu.system / 1000),
      cpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / wallMs) * 100 * 1000) / 1000,
      memoryBefore,
      memoryAfter,
    }),
  );
  await app.close();
  process.exit(0);
}

main().catch((error: unknown) => {
  console.error('renewal-cost worker failed:', error);
  process.exit(1);
});
