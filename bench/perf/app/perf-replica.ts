/**
 * Benchmark replica (bench/perf): a Nest application context with ScheduleModule and
 * LeaderElectionModule, a short leader-only @Interval job that journals its runs, and a CPU-bound
 * leader-only job that blocks the event loop for STALL_MS once, when the process receives SIGUSR2.
 * Used by the event-loop-stall and requests-per-hour benchmarks. (The takeover benchmarks use the
 * fault harness's replica, bench/app/replica.ts.)
 *
 * Build: `npm run build:apps`   Run: `node dist/bench/perf/app/perf-replica.js` (configured by env)
 *
 * Env: AZURE_STORAGE_CONNECTION_STRING (required), JOURNAL (required, JSON-lines path),
 *      INSTANCE_ID, LEASE_SECONDS (default 15), RETRY_INTERVAL_MS, CONTAINER_NAME,
 *      JOB_INTERVAL_MS (default 100), STALL_MS (block length on SIGUSR2, default 0 = never),
 *      PRESENCE ("0": presence records off; default on, the library's default),
 *      PRIORITY (this replica's priority; default none).
 *      RENEWAL_THREAD ('1' = renewalThread option, default main-thread renewals),
 *      MAX_BLOCKED_MS (renewalThread.maxBlockedMs, default the library's),
 *      EXIT_ON_BLOCKED_DEADLINE ('1' = renewalThread.exitOnBlockedDeadline).
 *
 * Journal lines ({replica, pid, event, …}; `at`/`start`/`end` are Date.now(), comparable across
 * processes on one machine):
 *   boot, role {role, term, leader}, run {term, start, end},
 *   stall-start {term, remainingLeaseMs}, stall-end {term, blockedMs, isLeader, isActive,
 *   signalAborted, remainingLeaseMs}, stall-after {phase: 'immediate'|'timeout-100ms', isLeader,
 *   isActive, signalAborted}, exit.
 */
import 'reflect-metadata';
import { appendFileSync } from 'node:fs';
import { Injectable, Module, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Interval, ScheduleModule } from '@nestjs/schedule';
import {
  LeaderElectionModule,
  LeaderElectionService,
  LeaderOnly,
  currentLeadership,
} from 'nestjs-leader-election';
import { envNumber, envString } from '../support/azurite-connection.js';

const connectionString = envString('AZURE_STORAGE_CONNECTION_STRING');
const journalPath = envString('JOURNAL');
const instanceId = envString('INSTANCE_ID', `replica-${process.pid}`);
const leaseSeconds = envNumber('LEASE_SECONDS', 15);
const retryIntervalMs = process.env.RETRY_INTERVAL_MS ? envNumber('RETRY_INTERVAL_MS') : undefined;
const containerName = process.env.CONTAINER_NAME || undefined;
const jobIntervalMs = envNumber('JOB_INTERVAL_MS', 100);
const stallMs = envNumber('STALL_MS', 0);
const presence = process.env.PRESENCE !== '0';
const priority = process.env.PRIORITY ? envNumber('PRIORITY') : undefined;
const renewalThread = process.env.RENEWAL_THREAD === '1';
const maxBlockedMs = process.env.MAX_BLOCKED_MS ? envNumber('MAX_BLOCKED_MS') : undefined;
const exitOnBlockedDeadline = process.env.EXIT_ON_BLOCKED_DEADLINE === '1';

function journal(entry: Record<string, unknown>): void {
  appendFileSync(journalPath, `${JSON.stringify({ replica: instanceId, pid: process.pid, ...entry })}\n`);
}

const hrMs = (): number => Number(process.hrtime.bigint()) / 1e6;
let stallRequested = false;
process.on('SIGUSR2', () => {
  stallRequested = true;
});

@Injectable()
class PerfJobs implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(private readonly election: LeaderElectionService) {}

  onApplicationBootstrap(): void {
    this.election.state$().subscribe((state) => {
      journal({
        event: 'role',
        at: Date.now(),
        role: state.role,
        term: state.term ?? null,
        leader: state.leader ?? null,
      });
    });
    journal({ event: 'boot', at: Date.now() });
  }

  onApplicationShutdown(signal?: string): void {
    journal({ event: 'exit', at: Date.now(), signal: signal ?? null });
  }

  @Interval(jobIntervalMs)
  @LeaderOnly()
  tick(): void {
    const start = Date.now();
    journal({ event: 'run', term: currentLeadership()!.term, start, end: Date.now() });
  }

  /** The CPU-bound job: blocks the event loop for STALL_MS once after SIGUSR2. */
  @Interval(50)
  @LeaderOnly()
  cpuBound(): void {
    if (!stallRequested || stallMs <= 0) return;
    stallRequested = false;
    const leadership = currentLeadership()!;
    const elector = this.election.electorFor(leadership.leaseName);
    journal({
      event: 'stall-start',
      at: Date.now(),
      term: leadership.term,
      remainingLeaseMs: Math.round(elector.remainingLeaseMs()),
    });
    const t0 = hrMs();
    while (hrMs() - t0 < stallMs) {
      // busy: a CPU-bound computation that never yields
    }
    const observe = (): Record<string, unknown> => ({
      at: Date.now(),
      term: leadership.term,
      isLeader: this.election.isLeader(leadership.leaseName),
      isActive: leadership.isActive(),
      signalAborted: leadership.signal.aborted,
      remainingLeaseMs: Math.round(elector.remainingLeaseMs()),
    });
    // What the job itself sees right after its computation, before the event loop gets a turn.
    journal({ event: 'stall-end', blockedMs: Math.round(hrMs() - t0), ...observe() });
    setImmediate(() => journal({ event: 'stall-after', phase: 'immediate', ...observe() }));
    setTimeout(() => journal({ event: 'stall-after', phase: 'timeout-100ms', ...observe() }), 100);
  }
}

@Module({
  imports: [
    ScheduleModule.forRoot(),
    LeaderElectionModule.forRoot({
      connectionString,
      identity: instanceId,
      leaseDurationSeconds: leaseSeconds,
      ...(retryIntervalMs !== undefined ? { retryIntervalMs } : {}),
      ...(containerName ? { containerName } : {}),
      ...(presence ? {} : { presence: false }),
      ...(priority !== undefined ? { priority } : {}),
      ...(renewalThread
        ? {
            renewalThread:
              maxBlockedMs !== undefined || exitOnBlockedDeadline
                ? { ...(maxBlockedMs !== undefined ? { maxBlockedMs } : {}), exitOnBlockedDeadline }
                : true,
          }
        : {}),
    }),
  ],
  providers: [PerfJobs],
})
class PerfReplicaModule {}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(PerfReplicaModule, {
    logger: ['log', 'warn', 'error'],
  });
  // Only these two: Nest's default list includes SIGUSR2, which here triggers the stall.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
}

main().catch((error: unknown) => {
  console.error('perf replica failed to start:', error);
  process.exit(1);
});
