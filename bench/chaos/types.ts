/** Shapes shared by the fault harness (harness.ts), the checker and the timeline. */

export const FAULT_KINDS = [
  'sigkill',
  'sigterm',
  'sigstop',
  'partition',
  'latency',
  'azurite-restart',
] as const;
/**
 * Fault kinds drawn only when asked for (--faults): `block` makes the leader's leader-only job
 * busy-loop for k × D (SIGUSR2 to a replica started with BLOCK_MS), the CPU-bound job of issue 11.
 */
export const OPT_IN_FAULT_KINDS = ['block'] as const;
export const ALL_FAULT_KINDS = [...FAULT_KINDS, ...OPT_IN_FAULT_KINDS] as const;
export type FaultKind = (typeof ALL_FAULT_KINDS)[number];

/** Election timings the replicas run with, and what the checker derives its bounds from. */
export interface ChaosTimings {
  leaseSeconds: number;
  leaseMs: number;
  retryIntervalMs: number;
  retryJitter: number;
  renewIntervalMs: number;
  safetyMarginMs: number;
  requestTimeoutMs: number;
  jobIntervalMs: number;
  jobDurationMs: number;
  /** Added to every bound: process scheduling, request latency on a loaded 2-core box. */
  slackMs: number;
  /** Leader-task mode: each replica's @LeaderTask journals a heartbeat this often. Absent or 0: off. */
  taskHeartbeatMs?: number;
  /**
   * Priorities mode (`--priorities`): each slot's priority (r1 highest; restarts keep it), the
   * library's preference window and presence interval they imply, and failback (absent: off).
   */
  priorities?: Record<string, number>;
  preferenceWindowMs?: number;
  presenceIntervalMs?: number;
  failbackAfterMs?: number;
  /** `block` faults: how long the blocked job busy-loops (k × D), ms. */
  blockMs?: number;
  /** The replicas renew from a worker thread (renewalThread option); absent: main-thread renewals. */
  renewalThread?: { maxBlockedMs: number };
  /** Locks mode: the replicas also contend for a lock and run a per-run job (bench/chaos/locks-checker.ts). */
  locks?: boolean;
  /**
   * Fast-failover mode (`--fast <livenessMs>`): the replicas run `fastFailover: { livenessMs }`, fault
   * durations scale with livenessMs, and takeovers are held to the fast bound (bounds.ts).
   * heartbeatIntervalMs and driftMs are the library's defaults for that livenessMs.
   */
  fastFailover?: { livenessMs: number; heartbeatIntervalMs: number; driftMs: number };
}

/**
 * Fast-failover mode: which side of livenessMs a SIGSTOP or partition falls on. `short`: a SIGSTOP
 * shorter than livenessMs (no takeover needed); `long`: livenessMs + 0.5..3 s; `lease`: D + 1..4 s.
 */
export type FaultVariant = 'short' | 'long' | 'lease';

/** One injected fault. Times are wall-clock ms (Date.now()), like the journal's. */
export interface FaultRecord {
  id: number;
  kind: FaultKind;
  /** When the fault began. */
  at: number;
  /** When it was healed (SIGCONT, proxy back to pass, Azurite listening again); absent for kills. */
  healedAt?: number;
  /** Replica slot and process hit (the leader at `at`); absent for azurite-restart. */
  slot?: string;
  pid?: number;
  /** Leader and term at the moment of the fault. */
  leaderSlot?: string;
  leaderPid?: number;
  termAtFault?: number;
  params: Record<string, number>;
  /** Fast-failover mode: the length class of a sigstop, partition or latency fault. */
  variant?: FaultVariant;
  /** The run was interrupted (Ctrl-C) before this fault's recovery was seen through. */
  interrupted?: boolean;
}

/** What the harness did to processes and the network, for the checker and the timeline. */
export interface OpRecord {
  at: number;
  op:
    | 'spawn'
    | 'exit'
    | 'sigkill'
    | 'sigterm'
    | 'sigstop'
    | 'sigcont'
    | 'proxy'
    | 'azurite-stop'
    | 'azurite-start'
    | 'block';
  slot?: string;
  pid?: number;
  detail?: string;
}

export interface RunRecord {
  seed: number;
  replicas: number;
  durationMs: number;
  timings: ChaosTimings;
  startedAt: number;
  endedAt: number;
  faults: FaultRecord[];
  ops: OpRecord[];
  slots: string[];
}

/** Journal lines written by bench/app/replica.ts. */
export interface JournalBase {
  replica: string;
  pid: number;
}
export interface RunEntry extends JournalBase {
  event: 'run';
  term: number;
  start: number;
  end: number;
  hrStart: number;
  hrEnd: number;
  leaseLeftAtStartMs: number;
  activeAtEnd: boolean;
}
export interface WriteEntry extends JournalBase {
  event: 'write';
  term: number;
  at: number;
}
export interface RoleEntry extends JournalBase {
  event: 'role';
  at: number;
  role: 'idle' | 'follower' | 'leader' | 'stopped';
  term: number | null;
  leader: string | null;
}
export interface BootEntry extends JournalBase {
  event: 'boot';
  at: number;
}
export interface ExitEntry extends JournalBase {
  event: 'exit';
  at: number;
  signal: string | null;
}
/** Leader-task mode: one heartbeat of a @LeaderTask run (see bench/app/replica.ts). */
export interface TaskEntry extends JournalBase {
  event: 'task';
  term: number;
  at: number;
  seq: number;
  /** leadership.isActive() when written: false = written after the tenure ended. */
  active: boolean;
  /** Lease validity the replica still believed in when writing (0 when not active). */
  leaseLeftMs: number;
}
export interface TaskStartEntry extends JournalBase {
  event: 'task-start';
  term: number;
  at: number;
}
export interface TaskStopEntry extends JournalBase {
  event: 'task-stop';
  term: number;
  at: number;
  reason: string;
}
/** `block` fault: the leader-only job busy-looped for blockMs (journaled before and after the loop). */
export interface BlockStartEntry extends JournalBase {
  event: 'block-start';
  term: number;
  at: number;
  leaseLeftMs: number;
}
export interface BlockEndEntry extends JournalBase {
  event: 'block-end';
  term: number;
  at: number;
  blockedMs: number;
  /** leadership.isActive() right after the loop, before the event loop ran again. */
  activeAtEnd: boolean;
}
export type JournalEntry =
  | RunEntry
  | WriteEntry
  | RoleEntry
  | BootEntry
  | ExitEntry
  | TaskEntry
  | TaskStartEntry
  | TaskStopEntry
  | BlockStartEntry
  | BlockEndEntry;

export function parseJournal(text: string): JournalEntry[] {
  const entries: JournalEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      entries.push(JSON.parse(line) as JournalEntry);
    } catch {
      // A line cut by SIGKILL mid-write: ignore it (appendFileSync makes this very unlikely).
    }
  }
  return entries;
}
