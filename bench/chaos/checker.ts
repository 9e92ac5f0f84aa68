/**
 * Checks a fault-harness run from its journal (bench/app/replica.ts) and its run record (faults and
 * process operations from harness.ts). Pure: no processes, no I/O except in the CLI at the bottom
 * (`tsx bench/chaos/checker.ts <out-dir>` re-checks a saved run).
 *
 * Validity window of a run: [start, validEnd], where validEnd = start + leaseLeftAtStartMs (the end
 * of the lease validity the replica knew of when the run began, converted to wall clock) or, when
 * the same tenure was still valid at the run's end (activeAtEnd), at least the run's end. By the
 * library's timing model the validity windows of different leaders never intersect: a successor
 * acquires only after the server lease expired, which is after tSend + D, while the holder believed
 * only until tSend + D − safetyMargin.
 *
 * Safety checks (exit code 1 when any fails):
 *   - overlapping runs of different processes where the overlap lies inside BOTH runs' validity
 *     windows ("valid overlaps"): must be 0. Overlaps where one run outlived its validity (a
 *     process paused mid-run, then resumed and finished) are counted apart: fencing is what
 *     handles them, and the fenced register below shows it does.
 *   - leadership conflicts: validity windows of different processes that intersect, even when no
 *     runs happened to overlap: must be 0.
 *   - runs that started with no lease time left (a tick the gate should have refused): must be 0.
 *   - terms of runs, in start order, never go backwards.
 *   - the election recovered (a new leader ran the job) after every fault.
 * Where the store itself lost the lease (Azurite restarted in memory), overlaps and conflicts whose
 * older side's tenure began before the data loss are reported separately: the lock service forgot
 * the lock, which no lease client can see until it next talks to the store. With fast failover only
 * while that tenure's belief can last: livenessMs − safetyMargin after the loss.
 * Liveness (exit code 3 when only these fail): the time from each fault to a new leader is within the
 * bound implied by the configured timings (see faultBounds in harness.ts).
 *
 * Priorities mode (timings.priorities set): info only, never a failure — how long a replica other
 * than the preferred one (the slot with the highest priority) led while the preferred one was
 * healthy: its process booted (journal) and not yet killed or exited, not SIGSTOPped, its proxy
 * passing traffic (no partition or latency fault), and Azurite up. "Led" = the latest replica that
 * announced leadership and has not announced losing it (nor died). With failback off this is
 * expected after every failover away from the preferred replica; with failback on it should be
 * about afterStableMs plus a presence interval per return of the preferred replica.
 *
 * Leader-task mode (journal has 'task' heartbeats of a @LeaderTask, one run per tenure):
 *   - a heartbeat written while its tenure was active has the validity window [at, at + leaseLeftMs]
 *     (clamped by the replica's own step-down, as for runs). No replica may write a valid heartbeat
 *     inside another replica's window ("interleaved heartbeats"): must be 0 (store losses apart).
 *   - heartbeats written after their tenure ended (isActive() false: a process resumed after a
 *     pause, before its loop saw the aborted signal) are info, like runs that outlived their lease:
 *     they are what fencing is for. Counted apart: those written after a successor's task had begun.
 *   - per fault: the gap from the old tenure's last valid heartbeat to the new leader's first, and
 *     from the new leader's promotion to its first heartbeat; a new leader whose task never ran fails.
 *
 * Fast-failover mode (timings.fastFailover, `--fast <livenessMs>`): a run's leaseLeftAtStartMs is
 * Leadership.remainingMs(), which the library caps at the last heartbeat's send + livenessMs −
 * safetyMargin, so the validity windows above end at the fast belief, not the lease deadline; a run
 * that believed longer is a safety failure (the fast belief was not used). A SIGSTOP shorter than
 * livenessMs needs no takeover: the holder's next run in its term after SIGCONT is its recovery
 * (a new tenure is fine too). The report states the takeovers of a silenced holder (SIGKILL,
 * SIGSTOP and partition longer than livenessMs) against the fast bound (bounds.ts), p50/p95/max,
 * and the faults per hour.
 *
 * `block` faults (the leader's job busy-loops for k × D; journal 'block-start' / 'block-end'):
 *   - per block: did the blocked replica keep the lease (no other leader, and it ran the job again
 *     after the block with the same term), did another replica run the job during the block, and
 *     was the blocked run's own fenced write rejected as stale.
 *   - with the renewal thread (timings.renewalThread) and a block shorter than its maxBlockedMs,
 *     another replica running the job during the block, or a stale fenced write from a blocked run,
 *     is a safety failure: the renewal thread exists to prevent exactly these.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  describeFastBound,
  describeFault,
  fastTakeoverBoundMs,
  faultBounds,
  heldToFastBound,
  longestBeliefMs,
  mayKeepLeading,
} from './bounds.js';
import { addLocksReport, formatLocksReport, type LocksReport } from './locks-checker.js';
import { renderTimeline } from './timeline.js';
import {
  ALL_FAULT_KINDS,
  parseJournal,
  type BlockEndEntry,
  type BlockStartEntry,
  type FaultKind,
  type FaultRecord,
  type JournalEntry,
  type RoleEntry,
  type RunEntry,
  type RunRecord,
  type TaskEntry,
  type TaskStopEntry,
  type WriteEntry,
} from './types.js';

export interface OverlapDetail {
  kind: 'valid' | 'store-loss' | 'stale';
  a: { replica: string; pid: number; term: number; start: number; end: number };
  b: { replica: string; pid: number; term: number; start: number; end: number };
  overlapMs: number;
  /** For stale overlaps: the run that outlived its lease, and whether a SIGSTOP of it explains it. */
  staleRun?: 'a' | 'b';
  explainedByPause?: boolean;
}

export interface ConflictDetail {
  storeLoss: boolean;
  a: { replica: string; pid: number; term: number };
  b: { replica: string; pid: number; term: number };
  from: number;
  to: number;
}

export interface FaultOutcome {
  id: number;
  kind: FaultKind;
  description: string;
  slot?: string;
  pid?: number;
  /** Seconds since the start of the run. */
  atS: number;
  termAtFault?: number;
  boundMs: number;
  /** Fault → first leader elected after it (any replica). */
  takeoverMs?: number;
  /** Old leader stopped leading (demoted, killed, stopped, exited) → new leader. 0 when it never stopped. */
  noLeaderMs?: number;
  newLeader?: { replica: string; pid: number; term: number | null };
  /** The new leader ran the job. */
  recovered: boolean;
  /** Ctrl-C ended the run before this fault's recovery was seen: not judged. */
  interrupted: boolean;
  withinBound: boolean;
  /** Stale writes rejected by the fenced register in this fault's aftermath (until the next fault). */
  staleWritesRejected: number;
  /** Leader-task mode: the hand-over of the @LeaderTask at this fault. */
  task?: TaskHandOver;
  /** `block` faults: what happened to the blocked replica and its run. */
  block?: BlockOutcome;
  /** Fast-failover mode: a SIGSTOP shorter than livenessMs that the holder led through (no takeover). */
  keptThroughStop?: boolean;
}

/** Fast-failover mode (timings.fastFailover): the takeovers held to the fast bound, and the fault rate. */
export interface FastReport {
  livenessMs: number;
  boundMs: number;
  /** The bound's arithmetic (bounds.ts, fastTakeoverBoundMs). */
  arithmetic: string;
  /** SIGKILL, partition and SIGSTOP longer than livenessMs: fault → first leader after it. */
  takeovers: { count: number; p50Ms?: number; p95Ms?: number; maxMs?: number; overBound: number };
  /** Of those faults: the silenced holder led again itself before any follower broke its lease. */
  holderReturned: { count: number; maxMs?: number };
  /** Every takeover above, and every other fault, within its bound. */
  allWithinBound: boolean;
  /** SIGSTOPs shorter than livenessMs: led through by the holder, or a new tenure (its belief ran out). */
  shortStops: { count: number; kept: number; reElected: number };
  /** Runs that started believing in more than livenessMs − safetyMargin (the fast belief): must be 0. */
  runsBeyondFastBelief: number;
  faultsPerHour: number;
}

export interface BlockOutcome {
  blockMs: number;
  /** Measured length of the busy loop (absent: no block-end line, e.g. the process died). */
  blockedMs?: number;
  /** Block shorter than the renewal thread's maxBlockedMs (always false with main-thread renewals). */
  belowBound: boolean;
  /** No other replica led, and the blocked replica ran the job again after its block in the same term. */
  keptLease: boolean;
  /** leadership.isActive() right after the loop. */
  activeAtEnd?: boolean;
  /** First run of the job by another replica that started during the block, ms after the block began. */
  otherRanDuringBlockAfterMs?: number;
  /** Runs by other replicas that started during the block. */
  otherRunsDuringBlock: number;
  /** The blocked run's fenced write (made after the loop) was rejected: a successor had written a newer term. */
  staleWrite: boolean;
}

export interface TaskHandOver {
  /** Last heartbeat of the tenure hit by the fault written while it was active (absent: none seen). */
  oldLastValidAt?: number;
  /** The old run's own stop line (absent after SIGKILL / SIGSTOP, or when its process died). */
  oldStoppedAt?: number;
  /** First heartbeat of the new leader's tenure. */
  newFirstAt?: number;
  /** Old task's last valid heartbeat → new task's first (ms). */
  gapMs?: number;
  /** Old task's stop line → new task's first heartbeat (ms), when the old run wrote one before the new one started. */
  stopToStartMs?: number;
  /** New leader's promotion (its role line) → its task's first heartbeat (ms). */
  startAfterPromotionMs?: number;
  /**
   * A block that kept the lease (renewal thread, below maxBlockedMs) hands nothing over: the same
   * task goes on. Its first heartbeat after the block ended, same tenure (absent: it never went on).
   */
  keptResumedAt?: number;
}

export interface TaskReport {
  heartbeats: number;
  /** Tenures (pid, term) whose task wrote at least one heartbeat. */
  runs: number;
  /** Must be 0: a valid heartbeat inside another replica's validity window. */
  interleaved: number;
  /** Interleaved, but the older side's tenure began before the store lost its data. */
  interleavedStoreLoss: number;
  /** Heartbeats written after their tenure ended (isActive() false): fencing's job. */
  afterTenure: number;
  /** …of which written after another replica's task had begun a newer tenure. */
  afterSuccessor: number;
  details: {
    kind: 'valid' | 'store-loss';
    writer: { replica: string; pid: number; term: number; at: number };
    holder: { replica: string; pid: number; term: number; from: number; to: number };
  }[];
  gaps: {
    kind: FaultKind;
    faultId: number;
    gapMs?: number;
    stopToStartMs?: number;
    startAfterPromotionMs?: number;
  }[];
}

export interface PreferenceReport {
  preferredSlot: string;
  priorities: Record<string, number>;
  failbackAfterMs?: number;
  /** Time the preferred replica was healthy (see the header), ms. */
  preferredHealthyMs: number;
  /** Time some replica led, ms, and how much of it was a non-preferred one. */
  ledMs: number;
  nonPreferredLedMs: number;
  /** Time a non-preferred replica led while the preferred one was healthy, ms, and its stretches. */
  nonPreferredWhileHealthyMs: number;
  longestStretchMs: number;
  /** Each stretch: who led, from/to (wall clock ms), fromS (s since the run started), length. */
  stretches: { holder: string; from: number; to: number; fromS: number; ms: number }[];
}

export interface ChaosReport {
  seed: number;
  /** Locks mode only (locks-checker.ts). */
  locks?: LocksReport;
  ok: boolean;
  safetyOk: boolean;
  livenessOk: boolean;
  failures: string[];
  warnings: string[];
  timings: RunRecord['timings'];
  durationS: number;
  counts: {
    runs: number;
    writes: number;
    faults: number;
    faultsByKind: Partial<Record<FaultKind, number>>;
    processes: number;
  };
  overlaps: {
    /** Must be 0: both runs inside their validity windows during the overlap. */
    valid: number;
    /** Inside both windows, but one side's lease was granted before the store lost its data. */
    storeLoss: number;
    /** One run outlived its validity (paused mid-run); fencing handles these. */
    stale: number;
    staleExplainedByPause: number;
    details: OverlapDetail[];
  };
  leadershipConflicts: {
    /** Must be 0. */
    count: number;
    worstMs: number;
    /** Conflicts where one side's lease was granted before the store lost its data (Azurite restart). */
    storeLoss: number;
    storeLossWorstMs: number;
    storeLossBoundMs: number;
    details: ConflictDetail[];
  };
  runsStartedWithoutLease: number;
  /** Runs that began at SIGCONT with no lease left and were fenced off (info; see checkThenRunPause). */
  checkThenRunPauses: number;
  ticksAfterResume: number;
  pausedMidRun: number;
  terms: {
    /** Must be 0. */
    regressions: number;
    /** Runs of the old holder of a lease the store forgot, after its successor's first run. */
    storeLossRegressions: number;
    /**
     * Runs under a term another process had run under before a store data loss: a replica that never
     * saw that term (cut off when it was taken) led after the loss with it. The residual GUARANTEES
     * states ("When the store loses the lease record"); info, not a failure.
     */
    reusedAcrossLoss: number;
    details: { at: number; replica: string; term: number; previousMax: number; storeLoss: boolean }[];
    highest: number;
  };
  fencing: {
    writes: number;
    accepted: number;
    rejected: number;
    rejectedAfterPause: number;
    details: {
      at: number;
      replica: string;
      pid: number;
      term: number;
      highestSeen: number;
      afterPause: boolean;
    }[];
  };
  faults: FaultOutcome[];
  preference?: PreferenceReport;
  worstByKind: Partial<
    Record<
      FaultKind,
      {
        count: number;
        worstTakeoverMs: number;
        worstNoLeaderMs: number;
        boundMs: number;
        allWithinBound: boolean;
        allRecovered: boolean;
        worstTaskGapMs?: number;
        bestTaskGapMs?: number;
      }
    >
  >;
  /** Leader-task mode only. */
  tasks?: TaskReport;
  /** Fast-failover mode only. */
  fast?: FastReport;
  /** `block` faults only. */
  blocks?: {
    count: number;
    belowBound: number;
    keptLease: number;
    otherRanDuringBlock: number;
    staleWritesFromBlockedRuns: number;
    staleOverlapsOfBlockedRuns: number;
  };
}

const MAX_DETAILS = 25;
/** A run whose first line ran this close to its process's SIGCONT was due before the stop. */
const CHECK_THEN_RUN_MS = 50;

interface Window {
  from: number;
  to: number;
}

/**
 * The time a run's replica believed it held the lease, as seen from the run: from its start to the
 * deadline it knew of (or its end, when the tenure was still valid then), but never past the
 * replica's own step-down (`steppedDownAt`: a release on SIGTERM, a lost renewal), after which its
 * gate refuses ticks and a successor may rightly take over.
 */
function validityWindow(run: RunEntry, steppedDownAt = Infinity): Window {
  const believed = run.start + Math.max(0, run.leaseLeftAtStartMs);
  const to = run.activeAtEnd ? Math.max(believed, run.end) : believed;
  return { from: run.start, to: Math.max(run.start, Math.min(to, steppedDownAt)) };
}

function mergeWindows(windows: Window[]): Window[] {
  const sorted = [...windows].sort((x, y) => x.from - y.from);
  const merged: Window[] = [];
  for (const window of sorted) {
    const last = merged.at(-1);
    if (last && window.from <= last.to) last.to = Math.max(last.to, window.to);
    else merged.push({ ...window });
  }
  return merged;
}

export function checkRun(record: RunRecord, entries: JournalEntry[]): ChaosReport {
  const { timings } = record;
  const runs = entries
    .filter((entry): entry is RunEntry => entry.event === 'run')
    .sort((x, y) => x.start - y.start);
  const writes = entries.filter((entry): entry is WriteEntry => entry.event === 'write');
  const roles = entries
    .filter((entry): entry is RoleEntry => entry.event === 'role')
    .sort((x, y) => x.at - y.at);
  const failures: string[] = [];
  const warnings: string[] = [];

  const storeLosses = record.faults
    .filter((fault) => fault.kind === 'azurite-restart')
    .map((fault) => fault.at);
  // When each (pid, term) tenure began, from the replica's own role changes.
  const tenureStart = new Map<string, number>();
  for (const role of roles) {
    const key = `${role.pid}:${role.term}`;
    if (role.role === 'leader' && !tenureStart.has(key)) tenureStart.set(key, role.at);
  }
  const tenureOf = (pid: number, term: number, fallback: number): number =>
    tenureStart.get(`${pid}:${term}`) ?? fallback;
  // Fast failover: no heartbeat succeeds on a store that forgot the lease, so a tenure from before a
  // loss believes until loss + livenessMs − margin at most; a belief (`until`) past that is no excuse.
  const beliefAfterLossMs = timings.fastFailover ? longestBeliefMs(timings) + 1 : Infinity;
  /** True when a store data loss happened after this tenure began and at or before `at` (see above for `until`). */
  const lostByStore = (pid: number, term: number, began: number, at: number, until = at): boolean => {
    const since = tenureOf(pid, term, began);
    return storeLosses.some(
      (lossAt) => lossAt > since && lossAt <= at && until <= lossAt + beliefAfterLossMs,
    );
  };

  // When the replica running `run` stopped being leader of that term, by its own account.
  const rolesByPid = new Map<number, RoleEntry[]>();
  for (const role of roles) {
    let list = rolesByPid.get(role.pid);
    if (!list) rolesByPid.set(role.pid, (list = []));
    list.push(role);
  }
  const deaths = new Map<number, number>();
  for (const op of record.ops) {
    if (op.pid !== undefined && (op.op === 'sigkill' || op.op === 'exit'))
      deaths.set(op.pid, Math.min(deaths.get(op.pid) ?? Infinity, op.at));
  }
  for (const entry of entries)
    if (entry.event === 'exit') deaths.set(entry.pid, Math.min(deaths.get(entry.pid) ?? Infinity, entry.at));
  // Every death of a pid: the OS reuses pids (pid_max may be 32768), so a run only ends with the
  // first death at or after its start, never with an earlier process's that had the same pid.
  const deathTimes = [
    ...record.ops.filter((op) => op.op === 'sigkill' || op.op === 'exit'),
    ...entries.filter((entry) => entry.event === 'exit'),
  ];
  const diedAfter = (pid: number, at: number): number =>
    Math.min(...deathTimes.filter((death) => death.pid === pid && death.at >= at).map((death) => death.at));
  const steppedDown = (run: RunEntry): number =>
    Math.min(
      rolesByPid
        .get(run.pid)
        ?.find((role) => role.at >= run.start && (role.role !== 'leader' || role.term !== run.term))?.at ??
        Infinity,
      diedAfter(run.pid, run.start),
    );
  const windowOf = (run: RunEntry): Window => validityWindow(run, steppedDown(run));

  const stops = record.ops.filter((op) => op.op === 'sigstop');
  const conts = record.ops.filter((op) => op.op === 'sigcont');
  const pauseOf = (pid: number): Window[] =>
    stops
      .filter((stop) => stop.pid === pid)
      .map((stop) => ({
        from: stop.at,
        to: conts.find((cont) => cont.pid === pid && cont.at >= stop.at)?.at ?? record.endedAt,
      }));
  const pausedDuring = (pid: number, from: number, to: number): boolean =>
    pauseOf(pid).some((pause) => pause.from < to && pause.to > from);
  const checkThenRunPause = (run: RunEntry): boolean =>
    run.leaseLeftAtStartMs <= 0 &&
    record.faults.some(
      (fault) =>
        fault.kind === 'sigstop' &&
        fault.pid === run.pid &&
        fault.termAtFault === run.term &&
        conts.some(
          (cont) =>
            cont.pid === run.pid && cont.at >= fault.at && Math.abs(run.start - cont.at) <= CHECK_THEN_RUN_MS,
        ),
    ) &&
    writes.every(
      (write) =>
        write.pid !== run.pid ||
        write.term !== run.term ||
        write.at < run.start ||
        write.at > run.end ||
        rejectedWrites.has(`${write.pid}:${write.term}:${write.at}`),
    );

  // ---------------------------------------------------------------- overlapping runs
  const overlaps: ChaosReport['overlaps'] = {
    valid: 0,
    storeLoss: 0,
    stale: 0,
    staleExplainedByPause: 0,
    details: [],
  };
  const blockStarts = entries
    .filter((entry): entry is BlockStartEntry => entry.event === 'block-start')
    .sort((x, y) => x.at - y.at);
  const blockedRunOf = (run: RunEntry): boolean =>
    blockStarts.some((start) => run.pid === start.pid && run.start <= start.at && run.end >= start.at);
  let staleOverlapsOfBlockedRuns = 0;
  /** Stale overlaps that neither a SIGSTOP nor a block fault explains. */
  let staleUnexplained = 0;
  const describeRun = (run: RunEntry): OverlapDetail['a'] => ({
    replica: run.replica,
    pid: run.pid,
    term: run.term,
    start: run.start,
    end: run.end,
  });
  const active: RunEntry[] = [];
  for (const run of runs) {
    for (let i = active.length - 1; i >= 0; i--) if (active[i]!.end <= run.start) active.splice(i, 1);
    for (const other of active) {
      if (other.pid === run.pid) continue;
      const from = Math.max(other.start, run.start);
      const to = Math.min(other.end, run.end);
      if (to <= from) continue;
      const wa = windowOf(other);
      const wb = windowOf(run);
      const bothValid = Math.max(from, wa.from, wb.from) < Math.min(to, wa.to, wb.to);
      let detail: OverlapDetail;
      if (bothValid) {
        const validUntil = Math.min(to, wa.to, wb.to);
        const storeLoss =
          lostByStore(other.pid, other.term, other.start, from, validUntil) ||
          lostByStore(run.pid, run.term, run.start, from, validUntil);
        if (storeLoss) overlaps.storeLoss++;
        else overlaps.valid++;
        detail = {
          kind: storeLoss ? 'store-loss' : 'valid',
          a: describeRun(other),
          b: describeRun(run),
          overlapMs: to - from,
        };
      } else {
        overlaps.stale++;
        const staleRun: 'a' | 'b' = wa.to <= from ? 'a' : 'b';
        const stale = staleRun === 'a' ? other : run;
        const explainedByPause = pausedDuring(stale.pid, stale.start, stale.end);
        if (explainedByPause) overlaps.staleExplainedByPause++;
        if (blockedRunOf(stale)) staleOverlapsOfBlockedRuns++;
        else if (!explainedByPause) staleUnexplained++;
        detail = {
          kind: 'stale',
          a: describeRun(other),
          b: describeRun(run),
          overlapMs: to - from,
          staleRun,
          explainedByPause,
        };
      }
      if (overlaps.details.length < MAX_DETAILS || detail.kind === 'valid') overlaps.details.push(detail);
    }
    active.push(run);
  }
  if (overlaps.valid > 0)
    failures.push(`${overlaps.valid} overlap(s) of runs of different replicas that both held a valid lease`);
  if (staleUnexplained > 0) {
    warnings.push(
      `${staleUnexplained} overlap(s) where a run outlived its lease without a SIGSTOP or a block fault to explain it (event-loop stall?)`,
    );
  }

  // ---------------------------------------------------------------- leadership conflicts
  const tenures = new Map<string, { pid: number; replica: string; term: number; windows: Window[] }>();
  for (const run of runs) {
    if (run.leaseLeftAtStartMs <= 0) continue;
    const key = `${run.pid}:${run.term}`;
    let tenure = tenures.get(key);
    if (!tenure)
      tenures.set(key, (tenure = { pid: run.pid, replica: run.replica, term: run.term, windows: [] }));
    tenure.windows.push(windowOf(run));
  }
  const tenureList = [...tenures.values()].map((tenure) => ({
    ...tenure,
    windows: mergeWindows(tenure.windows),
  }));
  const conflicts: ChaosReport['leadershipConflicts'] = {
    count: 0,
    worstMs: 0,
    storeLoss: 0,
    storeLossWorstMs: 0,
    storeLossBoundMs: 0,
    details: [],
  };
  for (let i = 0; i < tenureList.length; i++) {
    for (let j = i + 1; j < tenureList.length; j++) {
      const x = tenureList[i]!;
      const y = tenureList[j]!;
      if (x.pid === y.pid) continue;
      for (const wx of x.windows) {
        for (const wy of y.windows) {
          const from = Math.max(wx.from, wy.from);
          const to = Math.min(wx.to, wy.to);
          if (to <= from) continue;
          const storeLoss =
            lostByStore(x.pid, x.term, wx.from, from, to) || lostByStore(y.pid, y.term, wy.from, from, to);
          if (storeLoss) {
            conflicts.storeLoss++;
            conflicts.storeLossWorstMs = Math.max(conflicts.storeLossWorstMs, to - from);
          } else {
            conflicts.count++;
            conflicts.worstMs = Math.max(conflicts.worstMs, to - from);
          }
          if (conflicts.details.length < MAX_DETAILS) {
            conflicts.details.push({
              storeLoss,
              a: { replica: x.replica, pid: x.pid, term: x.term },
              b: { replica: y.replica, pid: y.pid, term: y.term },
              from,
              to,
            });
          }
        }
      }
    }
  }
  if (conflicts.count > 0)
    failures.push(
      `${conflicts.count} leadership conflict(s): two replicas believed they held the lease at once (worst ${conflicts.worstMs} ms)`,
    );
  // After a store data loss the old holder learns of it at its next renewal: at most one renew
  // interval plus one request after the store is back. Longer means the loss went unnoticed.
  conflicts.storeLossBoundMs = timings.renewIntervalMs + timings.requestTimeoutMs + timings.slackMs;
  if (conflicts.storeLossWorstMs > conflicts.storeLossBoundMs) {
    warnings.push(
      `after a store data loss two replicas believed they led for ${conflicts.storeLossWorstMs} ms, above renewInterval + requestTimeout + slack = ${conflicts.storeLossBoundMs} ms`,
    );
  }
  if (conflicts.storeLoss > 0) {
    warnings.push(
      `${conflicts.storeLoss} leadership conflict(s) after the store lost its data (Azurite restart; worst ${conflicts.storeLossWorstMs} ms): the old holder kept its belief until its next renewal failed`,
    );
  }

  // ---------------------------------------------------------------- fenced register
  const fencing: ChaosReport['fencing'] = {
    writes: writes.length,
    accepted: 0,
    rejected: 0,
    rejectedAfterPause: 0,
    details: [],
  };
  const rejectedAt: number[] = [];
  const rejectedWrites = new Set<string>(); // `${pid}:${term}:${at}`
  let highestSeen = 0;
  const orderedWrites = writes
    .map((write, index) => ({ write, index }))
    .sort((x, y) => x.write.at - y.write.at || x.index - y.index);
  for (const { write } of orderedWrites) {
    if (write.term < highestSeen) {
      fencing.rejected++;
      rejectedAt.push(write.at);
      rejectedWrites.add(`${write.pid}:${write.term}:${write.at}`);
      const afterPause = pauseOf(write.pid).some((pause) => pause.to <= write.at);
      if (afterPause) fencing.rejectedAfterPause++;
      if (fencing.details.length < MAX_DETAILS)
        fencing.details.push({
          at: write.at,
          replica: write.replica,
          pid: write.pid,
          term: write.term,
          highestSeen,
          afterPause,
        });
    } else {
      fencing.accepted++;
      highestSeen = write.term;
    }
  }

  // ---------------------------------------------------------------- gate
  let runsStartedWithoutLease = 0;
  let checkThenRunPauses = 0;
  let ticksAfterResume = 0;
  let pausedMidRun = 0;
  for (const fault of record.faults) {
    if (fault.kind !== 'sigstop' || fault.pid === undefined) continue;
    const resumedAt = fault.healedAt ?? record.endedAt;
    pausedMidRun += runs.filter(
      (run) => run.pid === fault.pid && run.start < fault.at && run.end > resumedAt,
    ).length;
    // Only a stop longer than the longest belief surely outlived the tenure (fast failover: a
    // SIGSTOP shorter than livenessMs may be led through; its runs are judged by the checks above).
    if (resumedAt - fault.at <= longestBeliefMs(timings)) continue;
    ticksAfterResume += runs.filter(
      (run) =>
        run.pid === fault.pid &&
        run.start >= resumedAt &&
        run.term === fault.termAtFault &&
        !checkThenRunPause(run),
    ).length;
  }

  // ---------------------------------------------------------------- terms
  const terms: ChaosReport['terms'] = {
    regressions: 0,
    storeLossRegressions: 0,
    reusedAcrossLoss: 0,
    details: [],
    highest: 0,
  };
  // A term is a fencing token: another process running under a term already used is a regression too.
  const termOwners = new Map<number, { pid: number; start: number }>();
  for (const run of runs) {
    if (run.leaseLeftAtStartMs <= 0) continue;
    const owner = termOwners.get(run.term);
    if (owner === undefined) termOwners.set(run.term, { pid: run.pid, start: run.start });
    const reused = owner !== undefined && owner.pid !== run.pid;
    if (run.term < terms.highest || reused) {
      // The old holder of a lease the store forgot, still running before its next renewal fails.
      const storeLoss = lostByStore(run.pid, run.term, run.start, run.start);
      const acrossLoss =
        !storeLoss &&
        reused &&
        run.term === terms.highest &&
        storeLosses.some((lossAt) => lossAt > owner.start && lossAt <= run.start);
      if (storeLoss) terms.storeLossRegressions++;
      else if (acrossLoss) terms.reusedAcrossLoss++;
      else terms.regressions++;
      if (terms.details.length < MAX_DETAILS)
        terms.details.push({
          at: run.start,
          replica: run.replica,
          term: run.term,
          previousMax: terms.highest,
          storeLoss,
        });
    }
    terms.highest = Math.max(terms.highest, run.term);
  }
  if (terms.regressions > 0)
    failures.push(
      `${terms.regressions} run(s) with a term lower than an earlier run's, or one another process already ran under (terms went backwards)`,
    );

  // A SIGSTOP between the gate's check and the job's first line: the run starts the moment the process
  // resumes, on a tenure that ran out during the stop. No gate can refuse it, fencing must (its writes
  // all refused): docs/fast-failover.md, "Limits". Counted apart, as info; any other run without lease
  // time left, or a later tick after SIGCONT, still fails the run.
  for (const run of runs) {
    if (run.leaseLeftAtStartMs > 0) continue;
    if (checkThenRunPause(run)) checkThenRunPauses++;
    else runsStartedWithoutLease++;
  }
  if (runsStartedWithoutLease > 0)
    failures.push(`${runsStartedWithoutLease} run(s) started with no lease time left`);
  if (ticksAfterResume > 0)
    failures.push(
      `${ticksAfterResume} run(s) started after SIGCONT under the tenure that had expired during the pause`,
    );
  if (checkThenRunPauses > 0)
    warnings.push(
      `${checkThenRunPauses} run(s) started at SIGCONT with no lease time left, their writes fenced off: a stop between the gate's check and the job's first line (no gate can refuse it; fencing did)`,
    );

  // ---------------------------------------------------------------- leader tasks (leader-task mode)
  const heartbeats = entries
    .filter((entry): entry is TaskEntry => entry.event === 'task')
    .sort((x, y) => x.at - y.at);
  const taskStops = entries.filter((entry): entry is TaskStopEntry => entry.event === 'task-stop');
  const taskMode = heartbeats.length > 0 || (timings.taskHeartbeatMs ?? 0) > 0;
  let tasks: TaskReport | undefined;
  if (taskMode) {
    tasks = {
      heartbeats: heartbeats.length,
      runs: 0,
      interleaved: 0,
      interleavedStoreLoss: 0,
      afterTenure: 0,
      afterSuccessor: 0,
      details: [],
      gaps: [],
    };
    tasks.runs = new Set(heartbeats.map((beat) => `${beat.pid}:${beat.term}`)).size;
    // A valid heartbeat is a zero-length run: the same validity window (and step-down clamp) as runs.
    const asRun = (beat: TaskEntry): RunEntry => ({
      event: 'run',
      replica: beat.replica,
      pid: beat.pid,
      term: beat.term,
      start: beat.at,
      end: beat.at,
      hrStart: 0,
      hrEnd: 0,
      leaseLeftAtStartMs: beat.active ? beat.leaseLeftMs : 0,
      activeAtEnd: false,
    });
    // Per pid, the latest validity window seen so far (windows only move forward within a process).
    const holding = new Map<number, { beat: TaskEntry; window: Window }>();
    const firstValidOfTenure = new Map<string, number>();
    let newestTenureStart: { pid: number; term: number; at: number } | undefined;
    for (const beat of heartbeats) {
      if (!beat.active) {
        tasks.afterTenure++;
        // A successor's task already ran a tenure that began after this one.
        if (
          newestTenureStart &&
          newestTenureStart.pid !== beat.pid &&
          newestTenureStart.at > (firstValidOfTenure.get(`${beat.pid}:${beat.term}`) ?? -Infinity)
        )
          tasks.afterSuccessor++;
        continue;
      }
      const key = `${beat.pid}:${beat.term}`;
      if (!firstValidOfTenure.has(key)) {
        firstValidOfTenure.set(key, beat.at);
        if (!newestTenureStart || beat.at >= newestTenureStart.at)
          newestTenureStart = { pid: beat.pid, term: beat.term, at: beat.at };
      }
      for (const [pid, held] of holding) {
        if (pid === beat.pid || !(held.window.from <= beat.at && beat.at < held.window.to)) continue;
        const storeLoss =
          lostByStore(held.beat.pid, held.beat.term, held.beat.at, beat.at) ||
          lostByStore(beat.pid, beat.term, beat.at, beat.at);
        if (storeLoss) tasks.interleavedStoreLoss++;
        else tasks.interleaved++;
        if (tasks.details.length < MAX_DETAILS) {
          tasks.details.push({
            kind: storeLoss ? 'store-loss' : 'valid',
            writer: { replica: beat.replica, pid: beat.pid, term: beat.term, at: beat.at },
            holder: {
              replica: held.beat.replica,
              pid: held.beat.pid,
              term: held.beat.term,
              from: held.window.from,
              to: held.window.to,
            },
          });
        }
      }
      const window = windowOf(asRun(beat));
      const previous = holding.get(beat.pid);
      if (!previous || window.to >= previous.window.to) holding.set(beat.pid, { beat, window });
    }
    if (tasks.interleaved > 0)
      failures.push(
        `${tasks.interleaved} leader-task heartbeat(s) written inside another replica's valid lease (two tasks ran at once)`,
      );
    if (tasks.afterTenure > 0) {
      warnings.push(
        `${tasks.afterTenure} leader-task heartbeat(s) written after their tenure ended (${tasks.afterSuccessor} after a successor's task began): a paused process resumed before its loop saw the aborted signal; fencing with the term rejects such writes`,
      );
    }
  }

  // ---------------------------------------------------------------- blocked event loops (block faults)
  const blockEnds = entries
    .filter((entry): entry is BlockEndEntry => entry.event === 'block-end')
    .sort((x, y) => x.at - y.at);
  const blockOutcome = (fault: FaultRecord, newLeader: RoleEntry | undefined): BlockOutcome => {
    const blockMs = fault.params.blockMs ?? timings.blockMs ?? 0;
    const start = blockStarts.find((entry) => entry.pid === fault.leaderPid && entry.at >= fault.at);
    const end = start
      ? blockEnds.find((entry) => entry.pid === start.pid && entry.at >= start.at)
      : undefined;
    const from = start?.at ?? fault.at;
    const to = end?.at ?? Infinity;
    const others = runs.filter((run) => run.pid !== fault.leaderPid && run.start >= from && run.start < to);
    // The blocked run: the leader's run that contains the block; its fenced write is at its end.
    const blockedRun =
      start && end
        ? runs.find(
            (run) =>
              run.pid === start.pid && run.term === start.term && run.start <= start.at && run.end >= end.at,
          )
        : undefined;
    const resumed = end
      ? runs.some((run) => run.pid === end.pid && run.term === end.term && run.start > end.at)
      : false;
    return {
      blockMs,
      ...(end ? { blockedMs: end.blockedMs, activeAtEnd: end.activeAtEnd } : {}),
      belowBound: timings.renewalThread !== undefined && blockMs < timings.renewalThread.maxBlockedMs,
      keptLease:
        resumed && (newLeader === undefined || newLeader.pid === fault.leaderPid) && others.length === 0,
      ...(others.length ? { otherRanDuringBlockAfterMs: others[0]!.start - from } : {}),
      otherRunsDuringBlock: others.length,
      staleWrite: blockedRun
        ? rejectedWrites.has(`${blockedRun.pid}:${blockedRun.term}:${blockedRun.end}`)
        : false,
    };
  };

  // ---------------------------------------------------------------- faults
  const bound = faultBounds(timings);
  const firstRoleAfter = (at: number, predicate: (role: RoleEntry) => boolean): RoleEntry | undefined =>
    roles.find((role) => role.at >= at && predicate(role));
  const faultsSorted = [...record.faults].sort((x, y) => x.at - y.at);
  const outcomes: FaultOutcome[] = faultsSorted.map((fault: FaultRecord, index) => {
    const boundMs = bound(fault);
    const nextFaultAt = faultsSorted[index + 1]?.at ?? Infinity;
    let newLeader = firstRoleAfter(fault.at, (role) => role.role === 'leader');
    // A blocked (or briefly stopped) leader that kept its lease never changes role: a leader line
    // after the next fault is not this fault's.
    if (mayKeepLeading(fault) && newLeader && newLeader.at >= nextFaultAt) newLeader = undefined;
    const firstRun = newLeader
      ? runs.find((run) => run.pid === newLeader.pid && run.start >= newLeader.at)
      : undefined;
    const oldPid = fault.leaderPid;
    const ends: number[] = [];
    if (oldPid !== undefined) {
      const demoted = firstRoleAfter(fault.at, (role) => role.pid === oldPid && role.role !== 'leader');
      if (demoted) ends.push(demoted.at);
      for (const op of record.ops) {
        if (
          op.pid === oldPid &&
          op.at >= fault.at - 1 &&
          (op.op === 'sigkill' || op.op === 'sigstop' || op.op === 'exit')
        )
          ends.push(op.at);
      }
    }
    const oldEnd = ends.length ? Math.min(...ends) : undefined;
    const takeoverMs = newLeader ? newLeader.at - fault.at : undefined;
    const noLeaderMs = newLeader
      ? oldEnd === undefined
        ? 0
        : Math.max(0, newLeader.at - oldEnd)
      : undefined;
    const block = fault.kind === 'block' ? blockOutcome(fault, newLeader) : undefined;
    // Fast failover, SIGSTOP shorter than livenessMs: no new leader, and the holder ran the job
    // again in its term after SIGCONT (before the next fault).
    const keptRun =
      fault.kind === 'sigstop' && fault.variant === 'short' && newLeader === undefined
        ? runs.find(
            (run) =>
              run.pid === fault.leaderPid &&
              run.term === fault.termAtFault &&
              run.start >= (fault.healedAt ?? Infinity) &&
              run.start < nextFaultAt,
          )
        : undefined;
    const recovered = firstRun !== undefined || block?.keptLease === true || keptRun !== undefined;
    const outcome: FaultOutcome = {
      id: fault.id,
      kind: fault.kind,
      description: describeFault(fault),
      slot: fault.slot ?? fault.leaderSlot,
      pid: fault.pid ?? fault.leaderPid,
      atS: round((fault.at - record.startedAt) / 1000, 2),
      termAtFault: fault.termAtFault,
      boundMs: Math.round(boundMs),
      takeoverMs,
      noLeaderMs,
      newLeader: newLeader
        ? { replica: newLeader.replica, pid: newLeader.pid, term: newLeader.term }
        : undefined,
      recovered,
      interrupted: fault.interrupted === true && !recovered,
      withinBound: takeoverMs !== undefined && takeoverMs <= boundMs,
      staleWritesRejected: rejectedAt.filter((at) => at >= fault.at && at < nextFaultAt).length,
      ...(block ? { block } : {}),
      ...(fault.kind === 'sigstop' && fault.variant === 'short'
        ? { keptThroughStop: keptRun !== undefined }
        : {}),
    };
    if (keptRun) {
      // No takeover to time: the holder led through the stop and ran the job again.
      outcome.noLeaderMs = 0;
      outcome.withinBound = keptRun.start - fault.at <= boundMs;
    }
    if (block?.keptLease) {
      // No takeover to time: the blocked leader ran the job again once its block ended.
      const endAt =
        blockEnds.find((end) => end.pid === fault.leaderPid && end.at >= fault.at)?.at ?? Infinity;
      const resumedRun = runs.find(
        (run) => run.pid === fault.leaderPid && run.term === fault.termAtFault && run.start > endAt,
      );
      outcome.noLeaderMs = 0;
      outcome.withinBound = resumedRun !== undefined && resumedRun.start - fault.at <= boundMs;
    }
    if (block?.belowBound && block.otherRunsDuringBlock > 0) {
      failures.push(
        `fault #${fault.id} (block ${block.blockMs} ms < maxBlockedMs ${timings.renewalThread?.maxBlockedMs} ms): another replica ran the job ${block.otherRanDuringBlockAfterMs} ms into the block`,
      );
    }
    if (block?.belowBound && block.staleWrite)
      failures.push(
        `fault #${fault.id} (block below maxBlockedMs): the blocked run's fenced write was stale`,
      );
    if (tasks) {
      const hand: TaskHandOver = {};
      const old = heartbeats.filter(
        (beat) => beat.pid === fault.leaderPid && beat.term === fault.termAtFault && beat.active,
      );
      hand.oldLastValidAt = old.at(-1)?.at;
      hand.oldStoppedAt = taskStops.find(
        (stop) => stop.pid === fault.leaderPid && stop.term === fault.termAtFault,
      )?.at;
      if (block?.keptLease) {
        const endAt =
          blockEnds.find((end) => end.pid === fault.leaderPid && end.at >= fault.at)?.at ?? Infinity;
        hand.keptResumedAt = heartbeats.find(
          (beat) =>
            beat.pid === fault.leaderPid &&
            beat.term === fault.termAtFault &&
            beat.active &&
            beat.at >= endAt,
        )?.at;
        // The task's pause is the block itself: its last heartbeat before it → its first after it.
        if (hand.keptResumedAt !== undefined && hand.oldLastValidAt !== undefined) {
          const before = old.filter((beat) => beat.at < fault.at).at(-1)?.at;
          if (before !== undefined) hand.gapMs = hand.keptResumedAt - before;
        }
      } else if (newLeader) {
        hand.newFirstAt = heartbeats.find(
          (beat) => beat.pid === newLeader.pid && beat.term === newLeader.term && beat.active,
        )?.at;
        if (hand.newFirstAt !== undefined) {
          hand.startAfterPromotionMs = hand.newFirstAt - newLeader.at;
          if (hand.oldLastValidAt !== undefined) hand.gapMs = hand.newFirstAt - hand.oldLastValidAt;
          // A stop line written after the successor started (a paused process that resumed) is no hand-over.
          if (hand.oldStoppedAt !== undefined && hand.oldStoppedAt <= hand.newFirstAt)
            hand.stopToStartMs = hand.newFirstAt - hand.oldStoppedAt;
        }
      }
      outcome.task = hand;
      tasks.gaps.push({
        kind: fault.kind,
        faultId: fault.id,
        gapMs: hand.gapMs,
        stopToStartMs: hand.stopToStartMs,
        startAfterPromotionMs: hand.startAfterPromotionMs,
      });
      if (block?.keptLease) {
        if (hand.keptResumedAt === undefined)
          failures.push(
            `fault #${fault.id} (${fault.kind}, lease kept): the blocked leader's @LeaderTask did not go on after the block`,
          );
      } else if (recovered && hand.newFirstAt === undefined)
        failures.push(`fault #${fault.id} (${fault.kind}): the new leader's @LeaderTask never ran`);
    }
    if (!recovered && fault.interrupted) {
      outcome.withinBound = true; // not judged: the run was interrupted before the bound ran out
      warnings.push(
        `fault #${fault.id} (${fault.kind}): the run was interrupted before the election recovered`,
      );
    } else if (!recovered)
      failures.push(
        `fault #${fault.id} (${fault.kind}): the election did not recover (no new leader ran the job)`,
      );
    else if (!outcome.withinBound)
      warnings.push(
        `fault #${fault.id} (${fault.kind}): new leader after ${takeoverMs} ms, above the bound of ${Math.round(boundMs)} ms`,
      );
    return outcome;
  });

  const worstByKind: ChaosReport['worstByKind'] = {};
  for (const kind of ALL_FAULT_KINDS) {
    const ofKind = outcomes.filter((outcome) => outcome.kind === kind);
    if (ofKind.length === 0) continue;
    worstByKind[kind] = {
      count: ofKind.length,
      // A blocked (or briefly stopped) leader that kept its lease had no takeover (shown as — when none of the kind was taken over).
      worstTakeoverMs: Math.max(
        ...ofKind.map(
          (outcome) =>
            outcome.takeoverMs ??
            (outcome.block?.keptLease || outcome.keptThroughStop ? -Infinity : Infinity),
        ),
      ),
      worstNoLeaderMs: Math.max(...ofKind.map((outcome) => outcome.noLeaderMs ?? Infinity)),
      boundMs: Math.max(...ofKind.map((outcome) => outcome.boundMs)),
      allWithinBound: ofKind.every((outcome) => outcome.withinBound),
      allRecovered: ofKind.every((outcome) => outcome.recovered),
    };
    const gaps = ofKind
      .map((outcome) => outcome.task?.gapMs)
      .filter((gap): gap is number => gap !== undefined);
    if (gaps.length > 0) {
      worstByKind[kind]!.worstTaskGapMs = Math.max(...gaps);
      worstByKind[kind]!.bestTaskGapMs = Math.min(...gaps);
    }
  }
  if (record.faults.length === 0) warnings.push('no faults were injected (run longer)');

  const blockOutcomes = outcomes
    .map((outcome) => outcome.block)
    .filter((block): block is BlockOutcome => block !== undefined);
  const blocks: ChaosReport['blocks'] = blockOutcomes.length
    ? {
        count: blockOutcomes.length,
        belowBound: blockOutcomes.filter((block) => block.belowBound).length,
        keptLease: blockOutcomes.filter((block) => block.keptLease).length,
        otherRanDuringBlock: blockOutcomes.filter((block) => block.otherRunsDuringBlock > 0).length,
        staleWritesFromBlockedRuns: blockOutcomes.filter((block) => block.staleWrite).length,
        staleOverlapsOfBlockedRuns,
      }
    : undefined;

  const faultsByKind: Partial<Record<FaultKind, number>> = {};
  for (const fault of record.faults) faultsByKind[fault.kind] = (faultsByKind[fault.kind] ?? 0) + 1;
  const fast = timings.fastFailover ? fastReport(record, faultsSorted, outcomes, runs, failures) : undefined;
  const safetyOk = failures.length === 0;
  const livenessOk =
    outcomes.every((outcome) => outcome.withinBound) &&
    conflicts.storeLossWorstMs <= conflicts.storeLossBoundMs;
  return {
    seed: record.seed,
    ok: safetyOk && livenessOk,
    safetyOk,
    livenessOk,
    failures,
    warnings,
    timings,
    durationS: round((record.endedAt - record.startedAt) / 1000, 1),
    counts: {
      runs: runs.length,
      writes: writes.length,
      faults: record.faults.length,
      faultsByKind,
      processes: new Set(entries.map((entry) => entry.pid)).size,
    },
    overlaps,
    leadershipConflicts: conflicts,
    runsStartedWithoutLease,
    checkThenRunPauses,
    ticksAfterResume,
    pausedMidRun,
    terms,
    fencing,
    faults: outcomes,
    ...(timings.priorities ? { preference: preferenceReport(record, entries, deaths) } : {}),
    worstByKind,
    ...(tasks ? { tasks } : {}),
    ...(blocks ? { blocks } : {}),
    ...(fast ? { fast } : {}),
  };
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/**
 * Fast-failover mode: takeovers of a silenced holder against the fast bound, short SIGSTOPs, and the
 * fast belief itself: a run's leaseLeftAtStartMs is Leadership.remainingMs() when it began, which
 * fast failover caps at livenessMs − safetyMargin after the last heartbeat (so the validity windows
 * the overlap and conflict checks use end at the fast belief, not the lease deadline). A run that
 * believed longer means the journal (or the library) did not use the fast belief: a safety failure.
 */
function fastReport(
  record: RunRecord,
  faults: FaultRecord[],
  outcomes: FaultOutcome[],
  runs: RunEntry[],
  failures: string[],
): FastReport {
  const { timings } = record;
  const fast = timings.fastFailover!;
  const boundMs = fastTakeoverBoundMs(timings);
  const held = outcomes.filter((outcome, index) => heldToFastBound(faults[index]!) && !outcome.interrupted);
  // The silenced holder leading again itself (its stop or partition ended before any follower could
  // break) is a recovery, not a takeover: reported apart, so it cannot hide followers that never break.
  const returned = held.filter(
    (outcome) => outcome.pid !== undefined && outcome.newLeader?.pid === outcome.pid,
  );
  const takenOver = held.filter((outcome) => !returned.includes(outcome));
  const times = takenOver
    .map((outcome) => outcome.takeoverMs)
    .filter((ms): ms is number => ms !== undefined)
    .sort((a, b) => a - b);
  const returnTimes = returned
    .map((outcome) => outcome.takeoverMs)
    .filter((ms): ms is number => ms !== undefined)
    .sort((a, b) => a - b);
  const overBound = held.filter(
    (outcome) => outcome.takeoverMs === undefined || outcome.takeoverMs > boundMs,
  );
  const short = outcomes.filter((outcome) => outcome.keptThroughStop !== undefined);
  const beliefMs = longestBeliefMs(timings);
  const beyond = runs.filter((run) => run.leaseLeftAtStartMs > beliefMs + 1);
  if (beyond.length > 0)
    failures.push(
      `${beyond.length} run(s) started believing in more than livenessMs − safetyMargin = ${beliefMs} ms (worst ${Math.max(...beyond.map((run) => run.leaseLeftAtStartMs))} ms): the fast belief was not used`,
    );
  const hours = (record.endedAt - record.startedAt) / 3_600_000;
  return {
    livenessMs: fast.livenessMs,
    boundMs,
    arithmetic: describeFastBound(timings),
    takeovers: {
      count: times.length,
      p50Ms: percentile(times, 50),
      p95Ms: percentile(times, 95),
      maxMs: times.at(-1),
      overBound: overBound.length,
    },
    holderReturned: { count: returned.length, maxMs: returnTimes.at(-1) },
    allWithinBound: overBound.length === 0 && outcomes.every((outcome) => outcome.withinBound),
    shortStops: {
      count: short.length,
      kept: short.filter((outcome) => outcome.keptThroughStop).length,
      reElected: short.filter((outcome) => !outcome.keptThroughStop && outcome.newLeader !== undefined)
        .length,
    },
    runsBeyondFastBelief: beyond.length,
    faultsPerHour: hours > 0 ? round(faults.length / hours, 1) : 0,
  };
}

/** Intervals [from, to) of `windows` minus `holes` (both lists of disjoint or overlapping windows). */
function subtractWindows(windows: Window[], holes: Window[]): Window[] {
  let result = mergeWindows(windows);
  for (const hole of holes) {
    const next: Window[] = [];
    for (const w of result) {
      if (hole.to <= w.from || hole.from >= w.to) next.push(w);
      else {
        if (hole.from > w.from) next.push({ from: w.from, to: hole.from });
        if (hole.to < w.to) next.push({ from: hole.to, to: w.to });
      }
    }
    result = next;
  }
  return result;
}

const totalMs = (windows: Window[]): number =>
  windows.reduce((sum, w) => sum + Math.max(0, w.to - w.from), 0);

/** Priorities mode: who led when, against when the preferred replica was healthy (see the header). */
export function preferenceReport(
  record: RunRecord,
  entries: JournalEntry[],
  deaths: Map<number, number>,
): PreferenceReport {
  const priorities = record.timings.priorities ?? {};
  const preferredSlot =
    Object.entries(priorities).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]?.[0] ??
    record.slots[0]!;
  const end = record.endedAt;
  const slotOfPid = new Map<number, string>();
  for (const op of record.ops)
    if (op.pid !== undefined && op.slot !== undefined) slotOfPid.set(op.pid, op.slot);
  for (const entry of entries) if (!slotOfPid.has(entry.pid)) slotOfPid.set(entry.pid, entry.replica);

  // Healthy: booted … died, minus pauses, proxy faults and Azurite downtime.
  const alive: Window[] = [];
  for (const entry of entries) {
    if (entry.event === 'boot' && slotOfPid.get(entry.pid) === preferredSlot)
      alive.push({ from: entry.at, to: Math.min(end, deaths.get(entry.pid) ?? end) });
  }
  const holes: Window[] = [];
  const openHole = new Map<string, number>();
  for (const op of [...record.ops].sort((a, b) => a.at - b.at)) {
    const key =
      op.op === 'azurite-stop' || op.op === 'azurite-start'
        ? 'azurite'
        : `${op.op === 'sigstop' || op.op === 'sigcont' ? 'stop' : 'proxy'}:${op.slot ?? ''}`;
    const mine = op.slot === preferredSlot;
    const begins =
      op.op === 'azurite-stop' ||
      (mine && (op.op === 'sigstop' || (op.op === 'proxy' && op.detail !== 'pass')));
    const ends =
      op.op === 'azurite-start' ||
      (mine && (op.op === 'sigcont' || (op.op === 'proxy' && op.detail === 'pass')));
    if (begins && !openHole.has(key)) openHole.set(key, op.at);
    else if (ends && openHole.has(key)) {
      holes.push({ from: openHole.get(key)!, to: op.at });
      openHole.delete(key);
    }
  }
  for (const from of openHole.values()) holes.push({ from, to: end });
  const healthy = subtractWindows(alive, holes);

  // Who led: a sweep over role changes and deaths; the latest open leadership wins.
  const points = new Set<number>([record.startedAt, end]);
  const roles = entries
    .filter((entry): entry is RoleEntry => entry.event === 'role')
    .sort((a, b) => a.at - b.at);
  for (const role of roles) points.add(role.at);
  for (const at of deaths.values()) if (at <= end) points.add(at);
  const times = [...points].filter((t) => t >= record.startedAt && t <= end).sort((a, b) => a - b);
  const open = new Map<number, number>(); // pid → since
  let r = 0;
  const segments: { holder: string; from: number; to: number }[] = [];
  for (let i = 0; i < times.length - 1; i++) {
    const t = times[i]!;
    for (; r < roles.length && roles[r]!.at <= t; r++) {
      const role = roles[r]!;
      if (role.role === 'leader') {
        if (!open.has(role.pid)) open.set(role.pid, role.at);
      } else open.delete(role.pid);
    }
    for (const pid of [...open.keys()]) if ((deaths.get(pid) ?? Infinity) <= t) open.delete(pid);
    let holder: number | undefined;
    for (const [pid, since] of open) if (holder === undefined || since > open.get(holder)!) holder = pid;
    if (holder === undefined) continue;
    const slot = slotOfPid.get(holder) ?? '?';
    const last = segments.at(-1);
    if (last && last.holder === slot && last.to === t) last.to = times[i + 1]!;
    else segments.push({ holder: slot, from: t, to: times[i + 1]! });
  }
  const nonPreferred = segments.filter((segment) => segment.holder !== preferredSlot);
  const stretches: PreferenceReport['stretches'] = [];
  for (const segment of nonPreferred) {
    for (const w of healthy) {
      const from = Math.max(segment.from, w.from);
      const to = Math.min(segment.to, w.to);
      if (to > from)
        stretches.push({
          holder: segment.holder,
          from,
          to,
          fromS: round((from - record.startedAt) / 1000, 1),
          ms: to - from,
        });
    }
  }
  // Adjacent stretches (a leader change among non-preferred replicas) count as one.
  const merged: PreferenceReport['stretches'] = [];
  for (const stretch of stretches.sort((a, b) => a.from - b.from)) {
    const last = merged.at(-1);
    if (last && last.to === stretch.from) {
      last.to = stretch.to;
      last.ms = last.to - last.from;
      if (!last.holder.split('+').includes(stretch.holder)) last.holder += `+${stretch.holder}`;
    } else merged.push({ ...stretch });
  }
  return {
    preferredSlot,
    priorities,
    ...(record.timings.failbackAfterMs !== undefined
      ? { failbackAfterMs: record.timings.failbackAfterMs }
      : {}),
    preferredHealthyMs: totalMs(healthy),
    ledMs: totalMs(segments),
    nonPreferredLedMs: totalMs(nonPreferred),
    nonPreferredWhileHealthyMs: merged.reduce((sum, s) => sum + s.ms, 0),
    longestStretchMs: Math.max(0, ...merged.map((s) => s.ms)),
    stretches: merged,
  };
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

const seconds = (ms: number | undefined): string =>
  ms === undefined || !Number.isFinite(ms) ? '—' : `${(ms / 1000).toFixed(2)} s`;

/** The terminal summary. */
export function formatReport(
  report: ChaosReport,
  files?: { result: string; timeline: string; journal: string },
): string {
  const t = report.timings;
  const lines: string[] = [];
  lines.push('');
  lines.push(
    `Chaos run, seed ${report.seed}: ${report.durationS} s, ${report.counts.faults} fault(s), ${report.counts.runs} runs, ${report.counts.processes} replica processes`,
  );
  lines.push(
    `Timings: D=${t.leaseSeconds} s, renew ${t.renewIntervalMs} ms, retry R=${t.retryIntervalMs} ms ±${Math.round(t.retryJitter * 100)} %, safety margin ${t.safetyMarginMs} ms, slack ${t.slackMs} ms` +
      `${t.renewalThread ? `; renewal thread (maxBlockedMs ${t.renewalThread.maxBlockedMs} ms)` : ''}${t.blockMs ? `; blocks of ${t.blockMs} ms` : ''}` +
      `${t.fastFailover ? `; fast failover livenessMs ${t.fastFailover.livenessMs} ms, heartbeat every ${t.fastFailover.heartbeatIntervalMs} ms` : ''}`,
  );
  if (report.fast)
    lines.push(
      `Mode: fast failover (livenessMs ${report.fast.livenessMs} ms), ${report.fast.faultsPerHour} faults/hour`,
    );
  lines.push('');
  lines.push('Faults');
  lines.push(
    '  #   at (s)  fault                                            target       takeover  no leader    bound  result',
  );
  for (const outcome of report.faults) {
    const result = outcome.interrupted
      ? 'interrupted'
      : !outcome.recovered
        ? 'NOT RECOVERED'
        : outcome.withinBound
          ? 'ok'
          : 'OVER BOUND';
    lines.push(
      `  ${String(outcome.id).padEnd(3)} ${outcome.atS.toFixed(1).padStart(6)}  ${outcome.description.padEnd(48)} ${`${outcome.slot ?? ''} t${outcome.termAtFault ?? '?'}`.padEnd(12)} ${seconds(outcome.takeoverMs).padStart(8)} ${seconds(outcome.noLeaderMs).padStart(10)} ${seconds(outcome.boundMs).padStart(8)}  ${result}${outcome.staleWritesRejected ? `, ${outcome.staleWritesRejected} stale write(s) rejected` : ''}${outcome.task ? `, task gap ${seconds(outcome.task.gapMs)}` : ''}`,
    );
  }
  lines.push('');
  lines.push(
    'Worst time to a new leader, per fault kind (from the fault; "no leader" from the old leader stopping)',
  );
  for (const [kind, worst] of Object.entries(report.worstByKind)) {
    lines.push(
      `  ${kind.padEnd(16)} ×${worst.count}  takeover ${seconds(worst.worstTakeoverMs).padStart(8)}  no leader ${seconds(worst.worstNoLeaderMs).padStart(8)}  bound ${seconds(worst.boundMs).padStart(8)}  ${worst.allWithinBound ? 'within bound' : 'OVER BOUND'}`,
    );
  }
  if (report.tasks) {
    const tasks = report.tasks;
    lines.push('');
    lines.push(
      `Leader task hand-over (old task's last valid heartbeat → new task's first; heartbeat every ${t.taskHeartbeatMs ?? '?'} ms), per fault kind`,
    );
    for (const [kind, worst] of Object.entries(report.worstByKind)) {
      const ofKind = tasks.gaps.filter((gap) => gap.kind === kind);
      const stopToStart = ofKind
        .map((gap) => gap.stopToStartMs)
        .filter((ms): ms is number => ms !== undefined);
      const startLatency = ofKind
        .map((gap) => gap.startAfterPromotionMs)
        .filter((ms): ms is number => ms !== undefined);
      lines.push(
        `  ${kind.padEnd(16)} ×${worst.count}  gap ${seconds(worst.bestTaskGapMs).padStart(8)} – ${seconds(worst.worstTaskGapMs).padStart(8)}` +
          (kind === 'block' && report.blocks && report.blocks.keptLease === report.blocks.count
            ? '  lease kept: the same task went on after each block (gap = the block)'
            : `  old task's stop line → new start ${stopToStart.length ? `${seconds(Math.min(...stopToStart))} – ${seconds(Math.max(...stopToStart))}` : '— (no stop line before the new start: killed or paused)'}`) +
          `  promotion → first heartbeat ≤ ${startLatency.length ? `${Math.max(...startLatency)} ms` : '—'}`,
      );
    }
  }
  lines.push('');
  lines.push('Safety');
  const mark = (ok: boolean): string => (ok ? 'ok  ' : 'FAIL');
  lines.push(
    `  ${mark(report.overlaps.valid === 0)} overlapping runs, both inside a valid lease: ${report.overlaps.valid}`,
  );
  lines.push(
    `  ${mark(report.leadershipConflicts.count === 0)} leadership conflicts (validity windows of two replicas intersect): ${report.leadershipConflicts.count}`,
  );
  lines.push(
    `  ${mark(report.runsStartedWithoutLease === 0)} runs started with no lease time left: ${report.runsStartedWithoutLease} (and ${report.checkThenRunPauses} at SIGCONT, fenced off: a stop between the gate's check and the job); new ticks after SIGCONT on an expired tenure: ${report.ticksAfterResume}`,
  );
  lines.push(
    `  ${mark(report.terms.regressions === 0)} term regressions: ${report.terms.regressions} (highest term ${report.terms.highest})`,
  );
  const judged = report.faults.filter((outcome) => !outcome.interrupted);
  lines.push(
    `  ${mark(judged.every((outcome) => outcome.recovered))} recovered after every fault: ${judged.filter((outcome) => outcome.recovered).length}/${judged.length}${judged.length < report.faults.length ? ' (the interrupted one not counted)' : ''}`,
  );
  if (report.tasks) {
    lines.push(
      `  ${mark(report.tasks.interleaved === 0)} leader-task heartbeats written inside another replica's valid lease (two tasks at once): ${report.tasks.interleaved} (${report.tasks.heartbeats} heartbeats, ${report.tasks.runs} task runs)`,
    );
  }
  if (report.fast) {
    const f = report.fast;
    lines.push(
      `  ${mark(f.runsBeyondFastBelief === 0)} runs that believed in more than livenessMs − safety margin (${longestBeliefMs(report.timings)} ms, the fast belief): ${f.runsBeyondFastBelief}`,
    );
    lines.push(
      `  info SIGSTOPs shorter than livenessMs: ${f.shortStops.count}; the holder led through ${f.shortStops.kept}, a new tenure after ${f.shortStops.reElected} (belief ran out during the stop)`,
    );
  }
  lines.push(
    `  info overlapping run pairs where one run outlived its lease (paused mid-run): ${report.overlaps.stale} (${report.overlaps.staleExplainedByPause} explained by SIGSTOP; ${report.pausedMidRun} run(s) paused mid-flight)`,
  );
  lines.push(
    `  info after store data loss (Azurite restart): ${report.overlaps.storeLoss} overlapping run pair(s), ${report.leadershipConflicts.storeLoss} conflict(s) lasting at most ${report.leadershipConflicts.storeLossWorstMs} ms (bound ${report.leadershipConflicts.storeLossBoundMs} ms), ${report.terms.storeLossRegressions} run(s) of the old holder after its successor's, ${report.terms.reusedAcrossLoss} run(s) under a term another process had used before the loss (a replica that never saw it: the residual in GUARANTEES)`,
  );
  if (report.tasks) {
    lines.push(
      `  info leader-task heartbeats written after their tenure ended (resumed after a pause; fencing's job): ${report.tasks.afterTenure} (${report.tasks.afterSuccessor} after a successor's task began); after store data loss: ${report.tasks.interleavedStoreLoss}`,
    );
  }
  if (report.preference) {
    const p = report.preference;
    lines.push(
      `  info priorities ${Object.entries(p.priorities)
        .map(([slot, priority]) => `${slot}=${priority}`)
        .join(
          ' ',
        )}, failback ${p.failbackAfterMs !== undefined ? `after ${seconds(p.failbackAfterMs)}` : 'off'}: ` +
        `a non-preferred replica led ${seconds(p.nonPreferredWhileHealthyMs)} while ${p.preferredSlot} was healthy (${p.stretches.length} stretch(es), longest ${seconds(p.longestStretchMs)}); ` +
        `${p.preferredSlot} healthy ${seconds(p.preferredHealthyMs)}, someone led ${seconds(p.ledMs)}, of which non-preferred ${seconds(p.nonPreferredLedMs)}`,
    );
    if (p.stretches.length)
      lines.push(
        `       stretches: ${p.stretches.map((s) => `${s.holder} from ${s.fromS.toFixed(1)} s for ${seconds(s.ms)}`).join('; ')}`,
      );
  }
  if (report.blocks) {
    const b = report.blocks;
    const rt = report.timings.renewalThread;
    lines.push(
      `  ${b.belowBound > 0 ? mark(b.otherRanDuringBlock === 0 && b.staleWritesFromBlockedRuns === 0) : 'info'} blocked event loops (${rt ? `renewal thread, maxBlockedMs ${rt.maxBlockedMs} ms` : 'main-thread renewals'}): ${b.count} block(s) of ${((report.timings.blockMs ?? 0) / 1000).toFixed(1)} s, ${b.belowBound} below the bound; kept the lease ${b.keptLease}/${b.count}; another replica ran the job during a block: ${b.otherRanDuringBlock}; stale fenced writes from blocked runs: ${b.staleWritesFromBlockedRuns}; stale overlaps of blocked runs: ${b.staleOverlapsOfBlockedRuns}`,
    );
  }
  lines.push(
    `  info fenced register: ${report.fencing.writes} writes, ${report.fencing.accepted} accepted, ${report.fencing.rejected} stale rejected (${report.fencing.rejectedAfterPause} from resumed processes)`,
  );
  if (report.warnings.length) {
    lines.push('');
    lines.push('Warnings');
    for (const warning of report.warnings) lines.push(`  - ${warning}`);
  }
  if (report.failures.length) {
    lines.push('');
    lines.push('FAILURES');
    for (const failure of report.failures) lines.push(`  - ${failure}`);
  }
  if (report.fast) {
    const f = report.fast;
    lines.push('');
    lines.push('Fast failover');
    lines.push(`  fast bound: ${f.arithmetic}`);
    lines.push(
      `  ${mark(f.takeovers.overBound === 0)} takeovers of a holder silenced longer than livenessMs (SIGKILL, SIGSTOP > L, partition): ${f.takeovers.count}, p50 ${seconds(f.takeovers.p50Ms)}, p95 ${seconds(f.takeovers.p95Ms)}, max ${seconds(f.takeovers.maxMs)}; over the fast bound: ${f.takeovers.overBound} (besides, the silenced holder led again itself, before any follower broke its lease: ${f.holderReturned.count}, max ${seconds(f.holderReturned.maxMs)})`,
    );
    lines.push(
      `  ${f.allWithinBound ? 'every takeover within the fast bound' : 'NOT every takeover within its bound'} (${report.counts.faults} faults, ${f.faultsPerHour} faults/hour); overlaps inside valid tenures: ${report.overlaps.valid}; term regressions: ${report.terms.regressions}`,
    );
  }
  lines.push('');
  lines.push(
    `Result: ${report.safetyOk ? 'SAFE' : 'UNSAFE'}; ${report.livenessOk ? `every takeover within its bound${report.fast ? ' (fast bound for silenced holders)' : ''}` : 'some takeovers over their bound'}`,
  );
  if (files) lines.push(`Files: ${files.result}\n       ${files.timeline}\n       ${files.journal}`);
  return lines.join('\n');
}

/** Exit code for a report: 0 all good, 1 a safety check failed, 3 only liveness bounds exceeded. */
export function exitCodeOf(report: ChaosReport): number {
  if (!report.safetyOk) return 1;
  return report.livenessOk ? 0 : 3;
}

// `tsx bench/chaos/checker.ts <out-dir>`: re-check a saved run (run.json + journal.jsonl).
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: tsx bench/chaos/checker.ts <out-dir of a chaos run>');
    process.exit(2);
  }
  const record = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as RunRecord;
  const entries = parseJournal(readFileSync(join(dir, 'journal.jsonl'), 'utf8'));
  const report = addLocksReport(checkRun(record, entries), record, entries);
  writeFileSync(join(dir, 'result.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(dir, 'timeline.svg'), renderTimeline(record, entries, report));
  console.log(
    formatReport(report, {
      result: join(dir, 'result.json'),
      timeline: join(dir, 'timeline.svg'),
      journal: join(dir, 'journal.jsonl'),
    }),
  );
  if (report.locks) console.log(formatLocksReport(report.locks));
  process.exit(exitCodeOf(report));
}
