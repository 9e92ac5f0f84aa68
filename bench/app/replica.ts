/**
 * Replica app of the fault harness (bench/chaos) and the benchmarks (bench/perf): a minimal Nest
 * application context (no HTTP server) with ScheduleModule + LeaderElectionModule.forRoot and ONE
 * leader-only @Interval job that writes what it does into a JSON-lines journal.
 *
 * Build: `npm run build:apps`   Run: `node dist/bench/app/replica.js` (configured by env only)
 *
 * Environment (stable interface: the harness and the benchmarks depend on it)
 *   AZURE_STORAGE_CONNECTION_STRING  required. Azure Storage / Azurite connection string.
 *   JOURNAL             required. Path of the JSON-lines journal (appended to, created if missing).
 *   INSTANCE_ID         identity of this replica in the election. Default `<hostname>-<pid>`.
 *   LEASE_SECONDS       lease duration D, 15–60. Default 15.
 *   RETRY_INTERVAL_MS   follower poll interval R. Default: the library's (2000).
 *   RETRY_JITTER        poll jitter fraction. Default: the library's (0.2).
 *   RENEW_INTERVAL_MS   leader renew interval. Default: the library's (D/3).
 *   SAFETY_MARGIN_MS    safety margin. Default: the library's (1000).
 *   REQUEST_TIMEOUT_MS  store request timeout. Default: the library's (min(5000, renew)).
 *   JOB_INTERVAL_MS     @Interval period of the job. Default 150.
 *   JOB_DURATION_MS     how long one run takes. Default 50. 0 = returns at once.
 *   JOB_BLOCKING        "1": the run busy-waits JOB_DURATION_MS (blocks the event loop, as a
 *                       CPU-bound job would); otherwise it awaits a timer. Default "0".
 *   CONTAINER_NAME      blob container. Default "leader-election".
 *   LEASE_NAME          lease (blob) name. Default "leader".
 *   SHUTDOWN_TIMEOUT_MS longest drain of running jobs at shutdown. Default: the library's (10000).
 *   TASK_HEARTBEAT_MS   > 0: also run a @LeaderTask that journals a heartbeat every TASK_HEARTBEAT_MS
 *                       for as long as the tenure lasts, stopping on its signal (the harness's
 *                       leader-task mode uses 100). Default 0: no leader task.
 *   LOG_LEVELS          Nest log levels, comma-separated. Default "log,warn,error" (stdout/stderr).
 *   PRIORITY            this replica's priority (higher is preferred). Default: none (no preference).
 *   CAN_LEAD            "0": an observer that never leads. Default: can lead.
 *   PRESENCE            "0": presence records off. Default: the library's (on).
 *   PRESENCE_INTERVAL_MS presence refresh interval. Default: the library's (10000).
 *   ELECTION_DELAY_MS   with PRIORITY: wait after start before taking a free lease. Default: the library's.
 *   PREFERENCE_WINDOW_MS free lease left to better priorities, per tier. Default: the library's.
 *   FAILBACK_AFTER_MS   failback on: hand over to a better replica present this long. Default: off.
 *   BLOCK_MS            > 0: on SIGUSR2, the next run of the job busy-loops BLOCK_MS before its
 *                       fenced write (the harness's `block` fault: a CPU-bound leader job). SIGUSR2
 *                       is then left out of the shutdown signals. Default 0: SIGUSR2 untouched.
 *   RENEWAL_THREAD      "1": the renewalThread option (renewals from a worker thread). Default off.
 *   MAX_BLOCKED_MS      renewalThread.maxBlockedMs. Default: the library's (60000).
 *   FAST_LIVENESS_MS    > 0: the fastFailover option with this livenessMs. Default: off.
 *   LOCKS_MODE          "1": also contend for one lock in a loop (LockService.tryWithLock, holds of
 *                       0.5–3 s, one in ten 16–20 s so renewals happen) and run an @OnOneReplica job
 *                       every second (the harness's locks mode). Default off.
 *   EXIT_WITH_PARENT    "1": exit (SIGKILL-like, no release) once the parent process is gone, so
 *                       an orchestrator that dies without cleaning up leaves no replica behind.
 *
 * Journal lines (one JSON object per line, appended with appendFileSync; each line < 4 KB, so an
 * O_APPEND write keeps lines from different processes whole). Times `at`/`start`/`end` are wall
 * clock (Date.now(), ms since epoch: comparable across processes on one machine); `hr*` fields are
 * process.hrtime in ms (monotonic, meaningful only within one pid).
 *   {event:'boot',  replica, pid, at, config}                      app context initialised
 *   {event:'role',  replica, pid, at, hr, role, term, leader}      every change of role/leader/term
 *                                                                  (LeaderElectionService.state$())
 *   {event:'run',   replica, pid, term, start, end, hrStart, hrEnd, leaseLeftAtStartMs, activeAtEnd}
 *        one completed run of the job. leaseLeftAtStartMs: monotonic ms the replica believed its
 *        lease still valid when the run began (start + leaseLeftAtStartMs = end of the validity it
 *        knew of); activeAtEnd: leadership of that term still valid when the run ended.
 *   {event:'write', replica, pid, term, at}                        the run's "fenced write" of its
 *        term to the shared resource, made at the end of the run (after its work). A checker
 *        replays these in `at` order through a fenced register that rejects older terms.
 *   {event:'exit',  replica, pid, at, signal?}                     orderly shutdown finished
 * With TASK_HEARTBEAT_MS > 0 (one @LeaderTask run per tenure):
 *   {event:'task-start', replica, pid, term, at}                  the run began (its tenure's term)
 *   {event:'task', replica, pid, term, at, seq, active, leaseLeftMs}
 *        one heartbeat. active: leadership.isActive() when it was written (false = written after the
 *        tenure ended: a process resumed after a pause, before the loop saw its signal);
 *        leaseLeftMs: monotonic ms the replica still believed its lease valid (0 when not active).
 *   {event:'task-stop', replica, pid, term, at, reason}           the run returned (signal reason)
 * With BLOCK_MS > 0, around the busy loop of a blocked run (which then writes and journals as usual):
 *   {event:'block-start', replica, pid, term, at, leaseLeftMs}
 *   {event:'block-end',   replica, pid, term, at, blockedMs, activeAtEnd}
 * With LOCKS_MODE=1 (`valid`: lock.isValid() when the line was written, re-checked on the clock):
 *   {event:'lock-beat',  replica, pid, name, term, at, valid}     every 100 ms while holding the lock
 *   {event:'lock-write', replica, pid, name, term, at, valid}     the hold's fenced write, at its end
 *   {event:'lock-hold',  replica, pid, name, term, start, end, ended}  one hold, when fn returned
 *   {event:'tick',       replica, pid, job, tickAt, term, at, valid}   an @OnOneReplica tick run here
 * A run is journaled when it ends; a run cut short by SIGKILL leaves no line.
 */
import 'reflect-metadata';
import { appendFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  Inject,
  Injectable,
  Module,
  type LogLevel,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Interval, ScheduleModule } from '@nestjs/schedule';
import type { Subscription } from 'rxjs';
import {
  LeaderElectionModule,
  LeaderElectionService,
  LeaderOnly,
  LeaderTask,
  LockManagerStoppedError,
  LockService,
  OnOneReplica,
  currentLeadership,
  currentLock,
  type LockContext,
  type LeaderElectionModuleOptions,
  type Leadership,
} from 'nestjs-leader-election';

export interface ReplicaConfig {
  connectionString: string;
  journal: string;
  instanceId: string;
  leaseSeconds: number;
  retryIntervalMs?: number;
  retryJitter?: number;
  renewIntervalMs?: number;
  safetyMarginMs?: number;
  requestTimeoutMs?: number;
  jobIntervalMs: number;
  jobDurationMs: number;
  jobBlocking: boolean;
  containerName?: string;
  leaseName?: string;
  shutdownTimeoutMs?: number;
  taskHeartbeatMs: number;
  logLevels: LogLevel[];
  priority?: number;
  canLead: boolean;
  presence: boolean;
  presenceIntervalMs?: number;
  electionDelayMs?: number;
  preferenceWindowMs?: number;
  failbackAfterMs?: number;
  blockMs: number;
  renewalThread: boolean;
  maxBlockedMs?: number;
  fastLivenessMs?: number;
  locksMode: boolean;
}

function numberEnv(name: string, fallback?: number): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value))
    throw new Error(`replica: environment variable ${name} must be a number, got ${JSON.stringify(raw)}`);
  return value;
}

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`replica: environment variable ${name} is required`);
  return value;
}

export function readConfig(): ReplicaConfig {
  return {
    connectionString: requiredEnv('AZURE_STORAGE_CONNECTION_STRING'),
    journal: requiredEnv('JOURNAL'),
    instanceId: process.env.INSTANCE_ID || `${hostname()}-${process.pid}`,
    leaseSeconds: numberEnv('LEASE_SECONDS', 15)!,
    retryIntervalMs: numberEnv('RETRY_INTERVAL_MS'),
    retryJitter: numberEnv('RETRY_JITTER'),
    renewIntervalMs: numberEnv('RENEW_INTERVAL_MS'),
    safetyMarginMs: numberEnv('SAFETY_MARGIN_MS'),
    requestTimeoutMs: numberEnv('REQUEST_TIMEOUT_MS'),
    jobIntervalMs: numberEnv('JOB_INTERVAL_MS', 150)!,
    jobDurationMs: numberEnv('JOB_DURATION_MS', 50)!,
    jobBlocking: process.env.JOB_BLOCKING === '1',
    containerName: process.env.CONTAINER_NAME || undefined,
    leaseName: process.env.LEASE_NAME || undefined,
    shutdownTimeoutMs: numberEnv('SHUTDOWN_TIMEOUT_MS'),
    taskHeartbeatMs: numberEnv('TASK_HEARTBEAT_MS', 0)!,
    priority: numberEnv('PRIORITY'),
    canLead: process.env.CAN_LEAD !== '0',
    presence: process.env.PRESENCE !== '0',
    presenceIntervalMs: numberEnv('PRESENCE_INTERVAL_MS'),
    electionDelayMs: numberEnv('ELECTION_DELAY_MS'),
    preferenceWindowMs: numberEnv('PREFERENCE_WINDOW_MS'),
    failbackAfterMs: numberEnv('FAILBACK_AFTER_MS'),
    blockMs: numberEnv('BLOCK_MS', 0)!,
    renewalThread: process.env.RENEWAL_THREAD === '1',
    maxBlockedMs: numberEnv('MAX_BLOCKED_MS'),
    fastLivenessMs: numberEnv('FAST_LIVENESS_MS'),
    locksMode: process.env.LOCKS_MODE === '1',
    logLevels: (process.env.LOG_LEVELS ?? 'log,warn,error')
      .split(',')
      .map((level) => level.trim())
      .filter(Boolean) as LogLevel[],
  };
}

// Read at load time: @Interval needs its period when the class is declared.
const config = readConfig();
const REPLICA_CONFIG = Symbol('REPLICA_CONFIG');

const hrMs = (): number => Number(process.hrtime.bigint()) / 1e6;

// `block` fault: SIGUSR2 asks the next run of the leader-only job to busy-loop for BLOCK_MS.
let blockRequested = false;
if (config.blockMs > 0) {
  process.on('SIGUSR2', () => {
    blockRequested = true;
  });
}

function journal(entry: Record<string, unknown>): void {
  appendFileSync(
    config.journal,
    `${JSON.stringify({ replica: config.instanceId, pid: process.pid, ...entry })}\n`,
  );
}

@Injectable()
class ChaosJob implements OnApplicationBootstrap, OnApplicationShutdown {
  private subscription?: Subscription;

  constructor(
    private readonly election: LeaderElectionService,
    @Inject(REPLICA_CONFIG) private readonly cfg: ReplicaConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.subscription = this.election.state$().subscribe((state) => {
      journal({
        event: 'role',
        at: Date.now(),
        hr: hrMs(),
        role: state.role,
        term: state.term ?? null,
        leader: state.leader ?? null,
      });
    });
    journal({
      event: 'boot',
      at: Date.now(),
      config: { ...this.cfg, connectionString: undefined, journal: undefined },
    });
    console.log(`replica ${this.cfg.instanceId} ready (pid ${process.pid})`);
  }

  @Interval(config.jobIntervalMs)
  @LeaderOnly()
  async run(): Promise<void> {
    const leadership = currentLeadership()!;
    const start = Date.now();
    const hrStart = hrMs();
    const leaseLeftAtStartMs = Math.round(this.election.electorFor(leadership.leaseName).remainingLeaseMs());
    if (blockRequested) {
      blockRequested = false;
      journal({
        event: 'block-start',
        term: leadership.term,
        at: Date.now(),
        leaseLeftMs: leaseLeftAtStartMs,
      });
      const t0 = hrMs();
      while (hrMs() - t0 < this.cfg.blockMs) {
        // busy: a CPU-bound computation that never yields
      }
      journal({
        event: 'block-end',
        term: leadership.term,
        at: Date.now(),
        blockedMs: Math.round(hrMs() - t0),
        activeAtEnd: leadership.isActive(),
      });
    }
    if (this.cfg.jobDurationMs > 0) {
      if (this.cfg.jobBlocking) {
        while (hrMs() - hrStart < this.cfg.jobDurationMs) {
          // busy-wait: a CPU-bound job that blocks the event loop
        }
      } else {
        await sleep(this.cfg.jobDurationMs);
      }
    }
    // The fenced write: the result of the run goes to the shared resource, tagged with the term.
    const end = Date.now();
    journal({ event: 'write', term: leadership.term, at: end });
    journal({
      event: 'run',
      term: leadership.term,
      start,
      end,
      hrStart,
      hrEnd: hrMs(),
      leaseLeftAtStartMs,
      activeAtEnd: leadership.isActive(),
    });
  }

  onApplicationShutdown(signal?: string): void {
    // Only now: the election stops in the module-destroy phase, and its final role changes
    // (follower, stopped) belong in the journal.
    this.subscription?.unsubscribe();
    journal({ event: 'exit', at: Date.now(), signal: signal ?? null });
  }
}

/** The leader-task mode's long-running task: one run per tenure, a heartbeat every TASK_HEARTBEAT_MS. */
@Injectable()
class ChaosTask {
  constructor(
    private readonly election: LeaderElectionService,
    @Inject(REPLICA_CONFIG) private readonly cfg: ReplicaConfig,
  ) {}

  @LeaderTask()
  async heartbeat(leadership: Leadership): Promise<void> {
    const { term, signal } = leadership;
    const elector = this.election.electorFor(leadership.leaseName);
    journal({ event: 'task-start', term, at: Date.now() });
    let seq = 0;
    try {
      while (!signal.aborted) {
        const at = Date.now();
        const active = leadership.isActive();
        const leaseLeftMs = active ? Math.round(elector.remainingLeaseMs()) : 0;
        journal({ event: 'task', term, at, seq: seq++, active, leaseLeftMs });
        await sleep(this.cfg.taskHeartbeatMs, undefined, { signal }).catch(() => undefined);
      }
    } finally {
      const reason: unknown = signal.reason;
      journal({
        event: 'task-stop',
        term,
        at: Date.now(),
        reason: reason instanceof Error ? reason.message : String(reason),
      });
    }
  }
}

/** Locks mode: every replica contends for one lock in a loop and runs a per-run job every second. */
@Injectable()
class ChaosLocks implements OnApplicationBootstrap, OnApplicationShutdown {
  static readonly LOCK = 'chaos-lock';
  private stopping = false;

  constructor(private readonly locks: LockService) {}

  onApplicationBootstrap(): void {
    void this.contend();
  }

  onApplicationShutdown(): void {
    this.stopping = true;
  }

  @Interval(1000)
  @OnOneReplica({ job: 'chaos-tick' })
  tick(): void {
    const lock = currentLock()!;
    const tickAt = Number(lock.name.slice(lock.name.lastIndexOf('@') + 1));
    journal({
      event: 'tick',
      job: 'chaos-tick',
      tickAt,
      term: lock.term,
      at: Date.now(),
      valid: lock.isValid(),
    });
  }

  private async contend(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.locks.tryWithLock(ChaosLocks.LOCK, (lock) => this.hold(lock), { waitMs: 10_000 });
      } catch (error) {
        if (error instanceof LockManagerStoppedError) return;
        journal({ event: 'lock-error', at: Date.now(), error: String(error) });
        await sleep(500);
      }
      await sleep(Math.random() * 200);
    }
  }

  private async hold(lock: LockContext): Promise<void> {
    const { name, term, signal } = lock;
    const start = Date.now();
    const holdMs = Math.random() < 0.1 ? 16_000 + Math.random() * 4_000 : 500 + Math.random() * 2_500;
    while (!signal.aborted && Date.now() - start < holdMs) {
      journal({ event: 'lock-beat', name, term, at: Date.now(), valid: lock.isValid() });
      await sleep(100, undefined, { signal }).catch(() => undefined);
    }
    // The fenced write of the hold: a checker replays these through a register refusing older terms.
    journal({ event: 'lock-write', name, term, at: Date.now(), valid: lock.isValid() });
    const reason: unknown = signal.reason;
    journal({
      event: 'lock-hold',
      name,
      term,
      start,
      end: Date.now(),
      ended: signal.aborted ? (reason instanceof Error ? reason.message : String(reason)) : 'done',
    });
  }
}

function electionOptions(cfg: ReplicaConfig): LeaderElectionModuleOptions {
  const options: LeaderElectionModuleOptions = {
    connectionString: cfg.connectionString,
    identity: cfg.instanceId,
    leaseDurationSeconds: cfg.leaseSeconds,
  };
  if (cfg.retryIntervalMs !== undefined) options.retryIntervalMs = cfg.retryIntervalMs;
  if (cfg.retryJitter !== undefined) options.retryJitter = cfg.retryJitter;
  if (cfg.renewIntervalMs !== undefined) options.renewIntervalMs = cfg.renewIntervalMs;
  if (cfg.safetyMarginMs !== undefined) options.safetyMarginMs = cfg.safetyMarginMs;
  if (cfg.requestTimeoutMs !== undefined) options.requestTimeoutMs = cfg.requestTimeoutMs;
  if (cfg.containerName !== undefined) options.containerName = cfg.containerName;
  if (cfg.leaseName !== undefined) options.leaseName = cfg.leaseName;
  if (cfg.shutdownTimeoutMs !== undefined) options.shutdownTimeoutMs = cfg.shutdownTimeoutMs;
  if (cfg.priority !== undefined) options.priority = cfg.priority;
  if (!cfg.canLead) options.canLead = false;
  if (!cfg.presence) options.presence = false;
  else if (cfg.presenceIntervalMs !== undefined) options.presence = { intervalMs: cfg.presenceIntervalMs };
  if (cfg.electionDelayMs !== undefined) options.electionDelayMs = cfg.electionDelayMs;
  if (cfg.preferenceWindowMs !== undefined) options.preferenceWindowMs = cfg.preferenceWindowMs;
  if (cfg.failbackAfterMs !== undefined) options.failback = { afterStableMs: cfg.failbackAfterMs };
  if (cfg.renewalThread)
    options.renewalThread = cfg.maxBlockedMs !== undefined ? { maxBlockedMs: cfg.maxBlockedMs } : true;
  if (cfg.fastLivenessMs) options.fastFailover = { livenessMs: cfg.fastLivenessMs };
  return options;
}

@Module({
  imports: [ScheduleModule.forRoot(), LeaderElectionModule.forRoot(electionOptions(config))],
  providers: [
    ChaosJob,
    ...(config.taskHeartbeatMs > 0 ? [ChaosTask] : []),
    ...(config.locksMode ? [ChaosLocks] : []),
    { provide: REPLICA_CONFIG, useValue: config },
  ],
})
class ReplicaModule {}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(ReplicaModule, {
    logger: config.logLevels.length ? config.logLevels : false,
  });
  // SIGTERM / SIGINT: stop the election, drain the running job, release the lease, then exit.
  // With BLOCK_MS, SIGUSR2 is the block request: not one of the shutdown signals (Nest's default list has it).
  if (config.blockMs > 0) app.enableShutdownHooks(['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT']);
  else app.enableShutdownHooks();
  if (process.env.EXIT_WITH_PARENT === '1') {
    const parent = process.ppid;
    setInterval(() => {
      if (process.ppid !== parent) process.exit(1);
    }, 1000).unref();
  }
}

main().catch((error: unknown) => {
  console.error('replica failed to start:', error);
  process.exit(1);
});
