/**
 * The fault harness: starts an in-memory Azurite, one fault proxy per replica, N replicas of
 * bench/app/replica.ts (real processes, built by `npm run build:apps`), injects faults on a seeded
 * plan, then hands the journal to the checker. Everything listens on and talks to 127.0.0.1 only.
 *
 * Faults (always aimed at the current leader, one at a time; the next one starts once the election
 * recovered and the previous fault healed):
 *   sigkill          SIGKILL the leader (crash)                       → restarted later
 *   sigterm          SIGTERM the leader (graceful: drain, release)    → restarted later
 *   sigstop          SIGSTOP the leader for D + 1..4 s, then SIGCONT (a stalled process)
 *   partition        black-hole the leader's proxy for D + 1..4 s (cut off from storage)
 *   latency          delay the leader's proxy by 0.6..1 × renewInterval each way (a round trip
 *                    above the renew interval) for D + 1..4 s
 *   azurite-restart  stop Azurite (in memory: every container, blob and lease is gone) and start
 *                    it again on the same port after 0.5..3 s
 *   block            (opt-in, --faults block) the leader's leader-only job busy-loops for k × D
 *                    (--block-factor k, default 2): SIGUSR2 to a replica started with BLOCK_MS;
 *                    with --renewal thread the replicas renew from a worker thread
 * Killed and terminated replicas are restarted (same slot and identity, new pid) 0.5..2 s after
 * the election recovered.
 *
 * Fast-failover mode (`fastLivenessMs`, `--fast <livenessMs>`): the replicas run
 * `fastFailover: { livenessMs }` (FAST_LIVENESS_MS), block is drawn by default (busy for k × L),
 * and durations scale with L = livenessMs (plan.ts): SIGSTOPs shorter than L (the holder may keep
 * leading: recovery is then its next run of the job in the same term) and longer (L + 0.5..3 s, one
 * in four D + 1..4 s), partitions alike, latency of 0.55..0.8 × L each way for L + 0.5..3 s.
 *
 * Priorities mode (`priorities: true`, `--priorities`): slot rN gets priority (replicas − N + 1).
 * Before each fault the harness then waits (bounded by failback-or-5 s + 3 presence intervals +
 * 2R + slack, with failback on or off) until the preferred replica leads again whenever it is
 * running, so failback (`failbackAfterMs`, `--failback`) has room to act and runs with and without
 * it follow the same plan.
 *
 * Locks mode (`locks: true`, `--mode locks`): each replica also contends for one lock in a loop and
 * runs an @OnOneReplica job every second (LOCKS_MODE=1); locks-checker.ts adds its checks (no two
 * valid holders, no fencing-token regression, no doubled tick; missed ticks counted). Faults still
 * aim at the leader, so they hit the lock holder only when it leads too (counted in the report).
 *
 * Leader-task mode (`leaderTask: true`, `--mode leader-task`): each replica also runs a @LeaderTask
 * that journals a heartbeat every `taskHeartbeatMs` (100) for its whole tenure; the checker then
 * also checks that no two replicas' tasks ran at once and measures each fault's task hand-over gap.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import {
  closeSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  openSync,
  readSync,
  rmSync,
  writeFileSync,
  type WriteStream,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { azuriteConnectionString, startAzurite, type RunningAzurite } from '../../test/support/azurite.mjs';
import { checkRun, type ChaosReport } from './checker.js';
import { addLocksReport } from './locks-checker.js';
import { FaultProxy } from './fault-proxy.js';
import { createPrng } from './prng.js';
import { FaultPlan } from './plan.js';
import { driftAllowanceMs, MIN_LIVENESS_MS } from '../../lib/core/fast-failover.js';
import { renderTimeline } from './timeline.js';
import { describeFault, fastTakeoverBoundMs, faultBounds } from './bounds.js';
import {
  ALL_FAULT_KINDS,
  FAULT_KINDS,
  parseJournal,
  type ChaosTimings,
  type FaultKind,
  type FaultRecord,
  type JournalEntry,
  type OpRecord,
  type RunRecord,
} from './types.js';

export const PROJECT_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const REPLICA_SCRIPT = join(PROJECT_ROOT, 'dist/bench/app/replica.js');

export interface ChaosOptions {
  seed: number;
  /** Faults are injected during this window; the last one is then seen through to recovery. */
  durationMs: number;
  replicas?: number;
  /** Output directory (journal, logs, result.json, timeline.svg). Default bench/results/chaos-<seed>. */
  outDir?: string;
  /** Fault kinds to draw from (default: all). Each kind is drawn once per round, in seeded order. */
  faults?: readonly FaultKind[];
  leaseSeconds?: number;
  retryIntervalMs?: number;
  retryJitter?: number;
  renewIntervalMs?: number;
  jobIntervalMs?: number;
  jobDurationMs?: number;
  slackMs?: number;
  /** Leader-task mode: the replicas also run a @LeaderTask heartbeat (default false). */
  leaderTask?: boolean;
  /** Locks mode: the replicas also contend for a lock and run a per-run job (default false). */
  locks?: boolean;
  /** Heartbeat period of the leader task, ms (default 100). */
  taskHeartbeatMs?: number;
  /** Priorities mode: slot rN gets priority (replicas − N + 1), so r1 is preferred; presence stays on (default false). */
  priorities?: boolean;
  /** With priorities: failback after the better replica has been present this long, ms (default: off). */
  failbackAfterMs?: number;
  /** `block` faults: the job busy-loops for blockFactor × D (default 2). */
  blockFactor?: number;
  /** The replicas renew from a worker thread (renewalThread option). Default false. */
  renewalThread?: boolean;
  /** renewalThread.maxBlockedMs for the replicas (default: the library's, 60000). */
  maxBlockedMs?: number;
  /** Fast-failover mode: the replicas run fastFailover with this livenessMs (not with renewalThread). */
  fastLivenessMs?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** Aborts the run early (the run still cleans up and checks what it has). */
  signal?: AbortSignal;
}

export interface ChaosRunResult {
  outDir: string;
  record: RunRecord;
  report: ChaosReport;
  files: { journal: string; result: string; timeline: string };
}

export const DEFAULTS = {
  replicas: 3,
  leaseSeconds: 15,
  retryIntervalMs: 300,
  retryJitter: 0.2,
  safetyMarginMs: 1000,
  jobIntervalMs: 150,
  jobDurationMs: 100,
  slackMs: 2000,
  taskHeartbeatMs: 100,
  blockFactor: 2,
  maxBlockedMs: 60_000,
} as const;

/** The fault kinds a run draws from when none are given: fast-failover mode adds `block`. */
export function defaultFaultKinds(options: Pick<ChaosOptions, 'faults' | 'fastLivenessMs'>): FaultKind[] {
  if (options.faults) return [...options.faults];
  return options.fastLivenessMs !== undefined ? [...FAULT_KINDS, 'block'] : [...FAULT_KINDS];
}

/**
 * Fast-failover mode: livenessMs checked as the library checks it at boot (so a bad value is named
 * here, not in three replica logs), with the heartbeat interval and drift the library derives.
 */
export function resolveFastTimings(
  options: ChaosOptions,
  leaseMs: number,
  retryIntervalMs: number,
): ChaosTimings['fastFailover'] {
  const livenessMs = options.fastLivenessMs;
  if (livenessMs === undefined) return undefined;
  if (options.renewalThread)
    throw new RangeError(
      'fast failover (--fast) cannot be combined with the renewal thread (--renewal thread): the library refuses renewalThread with fastFailover',
    );
  const safetyMarginMs = DEFAULTS.safetyMarginMs;
  const lowest = Math.max(MIN_LIVENESS_MS, safetyMarginMs + 300);
  if (!Number.isInteger(livenessMs) || livenessMs < lowest || livenessMs >= leaseMs)
    throw new RangeError(
      `--fast (livenessMs) must be a whole number of ms from ${lowest} to below the lease duration (${leaseMs} ms), got ${livenessMs}`,
    );
  if (retryIntervalMs > livenessMs / 2)
    throw new RangeError(
      `--retry ${retryIntervalMs} ms is above livenessMs / 2 (${livenessMs / 2} ms): fast failover needs followers polling at least twice per livenessMs`,
    );
  return {
    livenessMs,
    heartbeatIntervalMs: Math.floor((livenessMs - safetyMarginMs) / 3),
    driftMs: driftAllowanceMs(livenessMs),
  };
}

export function resolveTimings(options: ChaosOptions): ChaosTimings {
  const leaseSeconds = options.leaseSeconds ?? DEFAULTS.leaseSeconds;
  const leaseMs = leaseSeconds * 1000;
  const renewIntervalMs = options.renewIntervalMs ?? Math.floor(leaseMs / 3);
  const fastFailover = resolveFastTimings(
    options,
    leaseMs,
    options.retryIntervalMs ?? DEFAULTS.retryIntervalMs,
  );
  // Block faults last k × D, or k × livenessMs with fast failover (busy longer than livenessMs).
  const blockUnitMs = fastFailover?.livenessMs ?? leaseMs;
  return {
    leaseSeconds,
    leaseMs,
    retryIntervalMs: options.retryIntervalMs ?? DEFAULTS.retryIntervalMs,
    retryJitter: options.retryJitter ?? DEFAULTS.retryJitter,
    renewIntervalMs,
    safetyMarginMs: DEFAULTS.safetyMarginMs,
    requestTimeoutMs: Math.min(5000, renewIntervalMs), // the library's default
    jobIntervalMs: options.jobIntervalMs ?? DEFAULTS.jobIntervalMs,
    jobDurationMs: options.jobDurationMs ?? DEFAULTS.jobDurationMs,
    slackMs: options.slackMs ?? DEFAULTS.slackMs,
    ...(options.leaderTask ? { taskHeartbeatMs: options.taskHeartbeatMs ?? DEFAULTS.taskHeartbeatMs } : {}),
    ...(options.priorities ? priorityTimings(options, renewIntervalMs) : {}),
    ...(defaultFaultKinds(options).includes('block')
      ? { blockMs: Math.round((options.blockFactor ?? DEFAULTS.blockFactor) * blockUnitMs) }
      : {}),
    ...(options.renewalThread
      ? { renewalThread: { maxBlockedMs: options.maxBlockedMs ?? DEFAULTS.maxBlockedMs } }
      : {}),
    ...(options.locks ? { locks: true } : {}),
    ...(fastFailover ? { fastFailover } : {}),
  };
}

/** Priorities mode: r1 = replicas, r2 = replicas − 1, …; the library's default preference window and presence interval. */
function priorityTimings(
  options: ChaosOptions,
  renewIntervalMs: number,
): Pick<ChaosTimings, 'priorities' | 'preferenceWindowMs' | 'presenceIntervalMs' | 'failbackAfterMs'> {
  const count = options.replicas ?? DEFAULTS.replicas;
  const retryIntervalMs = options.retryIntervalMs ?? DEFAULTS.retryIntervalMs;
  const requestTimeoutMs = Math.min(5000, renewIntervalMs);
  return {
    priorities: Object.fromEntries(Array.from({ length: count }, (_, i) => [`r${i + 1}`, count - i])),
    preferenceWindowMs: 2 * retryIntervalMs + requestTimeoutMs, // the library's default
    presenceIntervalMs: 10_000, // the library's default
    ...(options.failbackAfterMs !== undefined ? { failbackAfterMs: options.failbackAfterMs } : {}),
  };
}

/** A delay that never keeps the process alive by itself (for races against exits). */
function unrefDelay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

// ------------------------------------------------------------------------------------ journal tail

class JournalTail {
  readonly entries: JournalEntry[] = [];
  private offset = 0;
  private partial = '';
  private readonly buffer = Buffer.alloc(1 << 16);

  constructor(private readonly path: string) {}

  poll(): void {
    if (!existsSync(this.path)) return;
    const fd = openSync(this.path, 'r');
    try {
      for (;;) {
        const read = readSync(fd, this.buffer, 0, this.buffer.length, this.offset);
        if (read <= 0) break;
        this.offset += read;
        const text = this.partial + this.buffer.subarray(0, read).toString('utf8');
        const cut = text.lastIndexOf('\n');
        if (cut < 0) {
          this.partial = text;
          continue;
        }
        this.partial = text.slice(cut + 1);
        this.entries.push(...parseJournal(text.slice(0, cut)));
      }
    } finally {
      closeSync(fd);
    }
  }
}

// ------------------------------------------------------------------------------------ processes

interface Replica {
  slot: string;
  child: ChildProcess;
  pid: number;
  exited: Promise<void>;
  alive: boolean;
  stopped: boolean;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosRunResult> {
  const log = options.log ?? (() => undefined);
  const timings = resolveTimings(options);
  const replicaCount = options.replicas ?? DEFAULTS.replicas;
  if (!Number.isInteger(replicaCount) || replicaCount < 2)
    throw new RangeError(`replicas must be an integer ≥ 2, got ${replicaCount}`);
  if (!existsSync(REPLICA_SCRIPT))
    throw new Error(`${REPLICA_SCRIPT} is missing: run "npm run build:apps" first`);
  const kinds = defaultFaultKinds(options);
  for (const kind of kinds)
    if (!ALL_FAULT_KINDS.includes(kind))
      throw new RangeError(`unknown fault kind "${kind}" (known: ${ALL_FAULT_KINDS.join(', ')})`);
  if (kinds.length === 0) throw new RangeError('no fault kinds selected');

  const outDir = resolve(options.outDir ?? join(PROJECT_ROOT, 'bench/results', `chaos-${options.seed}`));
  mkdirSync(outDir, { recursive: true });
  const journalPath = join(outDir, 'journal.jsonl');
  rmSync(journalPath, { force: true });
  for (const name of ['result.json', 'run.json', 'timeline.svg']) rmSync(join(outDir, name), { force: true });

  const plan = new FaultPlan(createPrng(options.seed), kinds, timings);
  const tail = new JournalTail(journalPath);
  const slots = Array.from({ length: replicaCount }, (_, i) => `r${i + 1}`);
  const ops: OpRecord[] = [];
  const faults: FaultRecord[] = [];
  const replicas = new Map<string, Replica>();
  const everyChild = new Set<ChildProcess>();
  const logs = new Map<string, WriteStream>();
  const proxies = new Map<string, FaultProxy>();
  const containerName = `chaos-${options.seed}`
    .replace(/[^a-z0-9-]/g, '')
    .slice(0, 63)
    .padEnd(3, '0');
  let azurite: RunningAzurite | undefined;
  const startedAt = Date.now();
  const op = (entry: Omit<OpRecord, 'at'>): void => {
    ops.push({ at: Date.now(), ...entry });
  };
  const elapsed = (): string => `${((Date.now() - startedAt) / 1000).toFixed(1).padStart(6)} s`;
  const say = (line: string): void => log(`[${elapsed()}] ${line}`);
  const aborted = (): boolean => options.signal?.aborted ?? false;

  // Children die with us even if we are killed: SIGKILL them synchronously on exit.
  const killAll = (): void => {
    for (const child of everyChild) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  process.once('exit', killAll);

  const startReplica = (slot: string): Replica => {
    const proxy = proxies.get(slot)!;
    let out = logs.get(slot);
    if (!out) logs.set(slot, (out = createWriteStream(join(outDir, `replica-${slot}.log`), { flags: 'w' })));
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      NO_COLOR: '1',
      AZURE_STORAGE_CONNECTION_STRING: azuriteConnectionString(proxy.port),
      JOURNAL: journalPath,
      INSTANCE_ID: slot,
      LEASE_SECONDS: String(timings.leaseSeconds),
      RETRY_INTERVAL_MS: String(timings.retryIntervalMs),
      RETRY_JITTER: String(timings.retryJitter),
      RENEW_INTERVAL_MS: String(timings.renewIntervalMs),
      JOB_INTERVAL_MS: String(timings.jobIntervalMs),
      JOB_DURATION_MS: String(timings.jobDurationMs),
      CONTAINER_NAME: containerName,
      LEASE_NAME: 'chaos',
      LOG_LEVELS: 'log,warn,error',
      EXIT_WITH_PARENT: '1',
      TASK_HEARTBEAT_MS: String(timings.taskHeartbeatMs ?? 0),
      ...(timings.locks ? { LOCKS_MODE: '1' } : {}),
      ...(timings.priorities ? { PRIORITY: String(timings.priorities[slot]) } : {}),
      ...(timings.failbackAfterMs !== undefined
        ? { FAILBACK_AFTER_MS: String(timings.failbackAfterMs) }
        : {}),
      ...(timings.blockMs ? { BLOCK_MS: String(timings.blockMs) } : {}),
      ...(timings.renewalThread
        ? { RENEWAL_THREAD: '1', MAX_BLOCKED_MS: String(timings.renewalThread.maxBlockedMs) }
        : {}),
      ...(timings.fastFailover ? { FAST_LIVENESS_MS: String(timings.fastFailover.livenessMs) } : {}),
    };
    const child = spawn(process.execPath, ['--enable-source-maps', REPLICA_SCRIPT], {
      cwd: PROJECT_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    everyChild.add(child);
    child.stdout!.pipe(out, { end: false });
    child.stderr!.pipe(out, { end: false });
    const replica: Replica = {
      slot,
      child,
      pid: child.pid ?? -1,
      alive: true,
      stopped: false,
      exited: once(child, 'exit').then(([code, signal]) => {
        replica.alive = false;
        everyChild.delete(child);
        op({ op: 'exit', slot, pid: replica.pid, detail: signal ? String(signal) : `code ${String(code)}` });
      }),
    };
    replicas.set(slot, replica);
    op({ op: 'spawn', slot, pid: replica.pid });
    return replica;
  };

  const waitFor = async (condition: () => boolean, timeoutMs: number): Promise<boolean> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      tail.poll();
      if (condition()) return true;
      if (Date.now() >= deadline || aborted()) return false;
      await sleep(50);
    }
  };

  const booted = (replica: Replica): boolean =>
    tail.entries.some((entry) => entry.event === 'boot' && entry.pid === replica.pid);

  /** The live, running process that last announced leadership and has not announced losing it. */
  const currentLeader = (): { replica: Replica; term: number; since: number } | undefined => {
    const last = new Map<number, { role: string; term: number; at: number }>();
    for (const entry of tail.entries) {
      if (entry.event === 'role')
        last.set(entry.pid, { role: entry.role, term: entry.term ?? 0, at: entry.at });
    }
    let best: { replica: Replica; term: number; since: number } | undefined;
    for (const replica of replicas.values()) {
      const state = last.get(replica.pid);
      if (!replica.alive || replica.stopped || state?.role !== 'leader') continue;
      if (!best || state.at > best.since) best = { replica, term: state.term, since: state.at };
    }
    return best;
  };

  const leaderSince = (after: number): { pid: number; at: number } | undefined => {
    for (const entry of tail.entries) {
      if (entry.event === 'role' && entry.role === 'leader' && entry.at >= after)
        return { pid: entry.pid, at: entry.at };
    }
    return undefined;
  };
  const runsSince = (pid: number, after: number): boolean =>
    tail.entries.some((entry) => entry.event === 'run' && entry.pid === pid && entry.start >= after);
  const runsInTermSince = (pid: number, term: number, after: number): boolean =>
    tail.entries.some(
      (entry) => entry.event === 'run' && entry.pid === pid && entry.term === term && entry.start >= after,
    );
  /** `block` fault: the end of pid's block that began after `after`. */
  const blockEnd = (pid: number, after: number): number | undefined => {
    for (const entry of tail.entries)
      if (entry.event === 'block-end' && entry.pid === pid && entry.at >= after) return entry.at;
    return undefined;
  };

  const restartAzurite = async (port: number, downMs: number): Promise<{ downAt: number; upAt: number }> => {
    await azurite?.stop();
    const downAt = Date.now();
    op({ op: 'azurite-stop', detail: `port ${port}` });
    await sleep(downMs);
    for (let attempt = 1; ; attempt++) {
      try {
        azurite = await startAzurite({ port });
        break;
      } catch (error) {
        if (attempt >= 5) throw error;
        await sleep(200);
      }
    }
    const upAt = Date.now();
    op({ op: 'azurite-start', detail: `port ${port}` });
    return { downAt, upAt };
  };

  const bounds = faultBounds(timings);
  let failure: unknown;
  try {
    azurite = await startAzurite();
    const azuritePort = azurite.port;
    op({ op: 'azurite-start', detail: `port ${azuritePort}` });
    for (const slot of slots) proxies.set(slot, await FaultProxy.start({ targetPort: azuritePort }));
    say(
      `Azurite on 127.0.0.1:${azuritePort}; proxies ${slots.map((slot) => `${slot}→:${proxies.get(slot)!.port}`).join(', ')}`,
    );
    say(
      `timings: D=${timings.leaseSeconds}s renew=${timings.renewIntervalMs}ms retry=${timings.retryIntervalMs}ms±${timings.retryJitter * 100}% job every ${timings.jobIntervalMs}ms for ${timings.jobDurationMs}ms${timings.taskHeartbeatMs ? `; leader task heartbeat every ${timings.taskHeartbeatMs}ms` : ''}${timings.fastFailover ? `; fast failover livenessMs=${timings.fastFailover.livenessMs}ms heartbeat every ${timings.fastFailover.heartbeatIntervalMs}ms, takeover bound ${fastTakeoverBoundMs(timings)}ms` : ''}`,
    );
    if (timings.priorities) {
      say(
        `priorities: ${Object.entries(timings.priorities)
          .map(([slot, priority]) => `${slot}=${priority}`)
          .join(
            ' ',
          )}; preference window ${timings.preferenceWindowMs}ms; failback ${timings.failbackAfterMs !== undefined ? `after ${timings.failbackAfterMs}ms` : 'off'}`,
      );
    }

    for (const slot of slots) startReplica(slot);
    if (!(await waitFor(() => [...replicas.values()].every(booted), 60_000)))
      throw new Error('replicas did not boot within 60 s (see the replica logs in the output folder)');
    if (
      !(await waitFor(
        () => currentLeader() !== undefined,
        30_000 + (timings.priorities ? timings.presenceIntervalMs! + timings.retryIntervalMs : 0),
      ))
    ) {
      throw new Error('no leader was elected within 30 s of boot (plus the election delay with priorities)');
    }
    say(
      `${replicaCount} replicas up; leader ${currentLeader()!.replica.slot} (term ${currentLeader()!.term})`,
    );

    let id = 0;
    const preferredSlot = timings.priorities
      ? Object.entries(timings.priorities).sort((a, b) => b[1] - a[1])[0]![0]
      : undefined;
    // Failback needs the better replica seen in one leader listing and still there afterStableMs
    // later (listings every presence interval), and that replica's own refresh after it returns.
    const preferenceSettleMs = timings.priorities
      ? (timings.failbackAfterMs ?? 5000) +
        3 * timings.presenceIntervalMs! +
        2 * timings.retryIntervalMs +
        timings.slackMs
      : 0;
    while (Date.now() - startedAt < options.durationMs && !aborted()) {
      // Priorities mode: before the next fault, wait (bounded, the same bound with failback on or
      // off, so runs of one seed stay comparable) until the preferred replica leads again when it
      // is running: with failback on that is the failback, with it off the wait runs out.
      if (preferredSlot) {
        const preferred = replicas.get(preferredSlot);
        if (preferred?.alive && !preferred.stopped && currentLeader()?.replica.slot !== preferredSlot) {
          const waitFrom = Date.now();
          const back = await waitFor(
            () => currentLeader()?.replica.slot === preferredSlot,
            preferenceSettleMs,
          );
          say(
            back
              ? `  ${preferredSlot} leads again after ${((Date.now() - waitFrom) / 1000).toFixed(2)} s more`
              : `  ${preferredSlot} did not lead again within ${(preferenceSettleMs / 1000).toFixed(1)} s (failback ${timings.failbackAfterMs !== undefined ? 'on' : 'off'})`,
          );
        }
      }
      await sleep(plan.gapMs(), undefined, { signal: options.signal }).catch(() => undefined);
      if (Date.now() - startedAt >= options.durationMs || aborted()) break;
      const { kind, variant, holdMs, delayMs, downMs, restartDelayMs } = plan.next();

      if (!(await waitFor(() => currentLeader() !== undefined, timings.leaseMs * 2 + 10_000))) {
        say('no leader to aim at; skipping a fault');
        continue;
      }
      const leader = currentLeader()!;
      const target = leader.replica;
      const proxy = proxies.get(target.slot)!;
      const fault: FaultRecord = {
        id: ++id,
        kind,
        at: Date.now(),
        leaderSlot: target.slot,
        leaderPid: target.pid,
        termAtFault: leader.term,
        params: {},
        ...(variant ? { variant } : {}),
      };
      if (kind !== 'azurite-restart') {
        fault.slot = target.slot;
        fault.pid = target.pid;
      }
      faults.push(fault);
      let heal: Promise<void> = Promise.resolve();
      switch (kind) {
        case 'sigkill':
          op({ op: 'sigkill', slot: target.slot, pid: target.pid });
          target.child.kill('SIGKILL');
          break;
        case 'sigterm':
          op({ op: 'sigterm', slot: target.slot, pid: target.pid });
          target.child.kill('SIGTERM');
          break;
        case 'sigstop':
          fault.params.stopMs = holdMs;
          op({ op: 'sigstop', slot: target.slot, pid: target.pid });
          target.child.kill('SIGSTOP');
          target.stopped = true;
          heal = sleep(holdMs, undefined, { signal: options.signal })
            .catch(() => undefined)
            .then(() => {
              // Record before signalling: the resumed process may write to the journal at once.
              fault.healedAt = Date.now();
              op({ op: 'sigcont', slot: target.slot, pid: target.pid });
              if (target.alive) target.child.kill('SIGCONT');
              target.stopped = false;
            });
          break;
        case 'partition':
        case 'latency':
          if (kind === 'partition') {
            fault.params.partitionMs = holdMs;
            proxy.setMode({ kind: 'blackhole' });
          } else {
            fault.params.latencyMs = holdMs;
            fault.params.delayMs = delayMs;
            proxy.setMode({ kind: 'delay', ms: delayMs });
          }
          op({
            op: 'proxy',
            slot: target.slot,
            pid: target.pid,
            detail: kind === 'partition' ? 'blackhole' : `delay ${delayMs} ms`,
          });
          heal = sleep(holdMs, undefined, { signal: options.signal })
            .catch(() => undefined)
            .then(() => {
              fault.healedAt = Date.now();
              op({ op: 'proxy', slot: target.slot, pid: target.pid, detail: 'pass' });
              proxy.setMode({ kind: 'pass' });
            });
          break;
        case 'block': {
          const blockMs = timings.blockMs ?? 0;
          fault.params.blockMs = blockMs;
          op({ op: 'block', slot: target.slot, pid: target.pid, detail: `${blockMs} ms` });
          target.child.kill('SIGUSR2');
          heal = waitFor(
            () => blockEnd(target.pid, fault.at) !== undefined || !target.alive,
            blockMs + 30_000,
          ).then(() => {
            fault.healedAt = blockEnd(target.pid, fault.at) ?? Date.now();
          });
          break;
        }
        case 'azurite-restart': {
          fault.params.downMs = downMs;
          const restart = restartAzurite(azuritePort, downMs).then(({ downAt, upAt }) => {
            fault.at = downAt; // the store is gone from the moment it stopped
            fault.params.downMs = upAt - downAt;
            fault.healedAt = upAt;
          });
          fault.at = Date.now();
          heal = restart;
          await restart;
          break;
        }
      }
      say(
        `fault #${fault.id} ${describeFault(fault)} on leader ${target.slot} (pid ${target.pid}, term ${leader.term})`,
      );

      // Recovery: a leader elected after the fault that runs the job.
      const bound = bounds(fault);
      // A blocked leader that kept its lease recovers by running the job again after its block; a
      // leader SIGSTOPped for less than livenessMs, by running it again in its term after SIGCONT.
      const resumed = (): number | undefined => {
        if (kind === 'sigstop' && variant === 'short') {
          const contAt = fault.healedAt;
          return contAt !== undefined && runsInTermSince(target.pid, leader.term, contAt)
            ? contAt
            : undefined;
        }
        if (kind !== 'block') return undefined;
        const end = blockEnd(target.pid, fault.at);
        return end !== undefined && runsSince(target.pid, end) ? end : undefined;
      };
      const recovered = await waitFor(() => {
        const next = leaderSince(fault.at);
        return (next !== undefined && runsSince(next.pid, next.at)) || resumed() !== undefined;
      }, bound + 15_000);
      await heal;
      if (!recovered && aborted()) fault.interrupted = true;
      const next = leaderSince(fault.at);
      const keptAt = next ? undefined : resumed();
      if (recovered && keptAt !== undefined) {
        say(
          `  ${target.slot} kept the lease through the ${kind === 'block' ? 'block' : 'stop'}: ran the job again ${((keptAt - fault.at) / 1000).toFixed(2)} s after the fault`,
        );
      } else if (recovered && next) {
        const slot = [...replicas.values()].find((replica) => replica.pid === next.pid)?.slot ?? '?';
        say(
          `  new leader ${slot} ${((next.at - fault.at) / 1000).toFixed(2)} s after the fault (bound ${(bound / 1000).toFixed(1)} s)`,
        );
      } else {
        say(`  NO new leader running the job within ${((bound + 15_000) / 1000).toFixed(0)} s`);
      }

      if (kind === 'sigkill' || kind === 'sigterm') {
        await Promise.race([target.exited, unrefDelay(20_000)]);
        if (target.alive) {
          target.child.kill('SIGKILL');
          await target.exited;
        }
        await sleep(restartDelayMs);
        proxy.setMode({ kind: 'pass' });
        const fresh = startReplica(target.slot);
        await waitFor(() => booted(fresh), 60_000);
        say(`  restarted ${target.slot} (pid ${fresh.pid})`);
      }
    }
    say('fault window over; settling');
    await sleep(1500);
  } catch (error) {
    failure = error;
  } finally {
    // Orderly shutdown: resume anything stopped, SIGTERM everyone, SIGKILL stragglers.
    for (const proxy of proxies.values()) proxy.setMode({ kind: 'pass' });
    const live = [...replicas.values()].filter((replica) => replica.alive);
    for (const replica of live) {
      if (replica.stopped) replica.child.kill('SIGCONT');
      replica.child.kill('SIGTERM');
      op({ op: 'sigterm', slot: replica.slot, pid: replica.pid, detail: 'end of run' });
    }
    await Promise.race([Promise.all(live.map((replica) => replica.exited)), unrefDelay(20_000)]);
    killAll();
    await Promise.all(live.map((replica) => replica.exited));
    await azurite?.stop().catch(() => undefined);
    for (const proxy of proxies.values()) await proxy.close().catch(() => undefined);
    for (const out of logs.values()) out.end();
    process.removeListener('exit', killAll);
  }
  if (failure) throw failure;

  tail.poll();
  const record: RunRecord = {
    seed: options.seed,
    replicas: replicaCount,
    durationMs: options.durationMs,
    timings,
    startedAt,
    endedAt: Date.now(),
    faults,
    ops,
    slots,
  };
  const report = addLocksReport(checkRun(record, tail.entries), record, tail.entries);
  const files = {
    journal: journalPath,
    result: join(outDir, 'result.json'),
    timeline: join(outDir, 'timeline.svg'),
  };
  writeFileSync(join(outDir, 'run.json'), `${JSON.stringify(record, null, 2)}\n`);
  writeFileSync(files.result, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(files.timeline, renderTimeline(record, tail.entries, report));
  return { outDir, record, report, files };
}
