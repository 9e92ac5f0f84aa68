/**
 * The fault harness's locks mode (`--mode locks`): what the replicas journal with LOCKS_MODE=1
 * (bench/app/replica.ts) and the checks on it.
 *   - overlapping holders: two holds of one lock (different process or term) whose valid beats
 *     (lock.isValid() true when written) overlap in time. Must be 0.
 *   - fencing: the holds' fenced writes replayed in time order through a register that refuses a
 *     term below the highest accepted; a refused write made while its lock was valid is a regression
 *     (must be 0), one made after the lock ended is a stale write that fencing stopped (info). Two
 *     holds of one lock with one term from different processes: must be 0.
 *   - per-run ticks: a tick run by more than one process (doubled: must be 0) or by none between
 *     the first and last tick seen (missed: info, ticks are at most once).
 * Store loss (an azurite-restart fault) restarts terms and forgets tick records: findings that span
 * one are counted apart, not as failures (as the election checks do).
 */
import type { JournalEntry, RunRecord } from './types.js';

/** A beat of a hold (every 100 ms) or its fenced write (at its end): `valid` is lock.isValid() then. */
interface LockLine<E extends 'lock-beat' | 'lock-write'> {
  event: E;
  replica: string;
  pid: number;
  name: string;
  term: number;
  at: number;
  valid: boolean;
}
type LockBeat = LockLine<'lock-beat'>;
type LockWrite = LockLine<'lock-write'>;
interface LockHold {
  event: 'lock-hold';
  replica: string;
  pid: number;
  name: string;
  term: number;
  start: number;
  end: number;
  ended: string;
}
interface TickRun {
  event: 'tick';
  replica: string;
  pid: number;
  job: string;
  tickAt: number;
  term: number;
  at: number;
  valid: boolean;
}

export interface LocksReport {
  holds: number;
  /**
   * Holds that outlived their lock: fenced write made with isValid() false (a blocked or paused
   * holder, a lost lease, or a hold ended by shutdown).
   */
  holdsOutlived: number;
  longestHoldMs: number;
  /** Faults whose target held the lock (a valid beat within 500 ms before the fault). */
  faultsOnHolder: number;
  overlaps: { valid: number; storeLoss: number; details: string[] };
  fencing: {
    writes: number;
    accepted: number;
    /** Refused writes made after their lock ended (stale: fencing stopped them). */
    rejectedStale: number;
    /** Refused writes of a term restarted by store loss. */
    rejectedStoreLoss: number;
    /** Must be 0: a write refused although its lock was valid when it was made. */
    regressions: number;
    /** Must be 0: one term held by two processes (outside store loss). */
    duplicateTerms: number;
    details: string[];
  };
  ticks: {
    /** Distinct ticks run. */
    ran: number;
    /** Must be 0 (outside store loss). */
    doubled: number;
    doubledStoreLoss: number;
    missed: number;
    /** Ticks run with lock.isValid() false when the run began (paused between acquire and run). */
    ranInvalid: number;
    sharePerReplica: Record<string, number>;
    details: string[];
  };
  failures: string[];
}

function entriesOf<T extends { event: string }>(entries: JournalEntry[], event: T['event']): T[] {
  return (entries as unknown as { event: string }[]).filter((entry): entry is T => entry.event === event);
}

export function checkLocks(record: RunRecord, entries: JournalEntry[]): LocksReport {
  const beats = entriesOf<LockBeat>(entries, 'lock-beat');
  const writes = entriesOf<LockWrite>(entries, 'lock-write').sort((a, b) => a.at - b.at);
  const holds = entriesOf<LockHold>(entries, 'lock-hold');
  const ticks = entriesOf<TickRun>(entries, 'tick');
  const storeLosses = record.faults.filter((f) => f.kind === 'azurite-restart').map((f) => f.at);
  const lossBetween = (from: number, to: number): boolean => storeLosses.some((at) => at >= from && at <= to);
  const failures: string[] = [];

  // Valid windows per hold: the first and last beat written with isValid() true.
  const windows = new Map<string, { name: string; pid: number; term: number; from: number; to: number }>();
  for (const beat of beats) {
    if (!beat.valid) continue;
    const key = `${beat.name}|${beat.pid}|${beat.term}`;
    const window = windows.get(key);
    if (!window)
      windows.set(key, { name: beat.name, pid: beat.pid, term: beat.term, from: beat.at, to: beat.at });
    else {
      window.from = Math.min(window.from, beat.at);
      window.to = Math.max(window.to, beat.at);
    }
  }
  const overlaps = { valid: 0, storeLoss: 0, details: [] as string[] };
  const list = [...windows.values()].sort((a, b) => a.from - b.from);
  for (let i = 0; i < list.length; i++)
    for (let j = i + 1; j < list.length && list[j]!.from <= list[i]!.to; j++) {
      const [a, b] = [list[i]!, list[j]!];
      if (a.name !== b.name) continue;
      const detail = `${a.name}: pid ${a.pid} term ${a.term} [${a.from}–${a.to}] and pid ${b.pid} term ${b.term} [${b.from}–${b.to}]`;
      if (lossBetween(a.from, b.from)) overlaps.storeLoss++;
      else {
        overlaps.valid++;
        overlaps.details.push(detail);
      }
    }
  if (overlaps.valid > 0) failures.push(`${overlaps.valid} overlap(s) of valid lock holders`);

  const fencing = {
    writes: writes.length,
    accepted: 0,
    rejectedStale: 0,
    rejectedStoreLoss: 0,
    regressions: 0,
    duplicateTerms: 0,
    details: [] as string[],
  };
  const highest = new Map<string, { term: number; at: number }>();
  for (const write of writes) {
    const top = highest.get(write.name);
    if (!top || write.term >= top.term) {
      highest.set(write.name, { term: write.term, at: write.at });
      fencing.accepted++;
    } else if (!write.valid) fencing.rejectedStale++;
    else if (lossBetween(top.at - record.timings.leaseMs, write.at)) fencing.rejectedStoreLoss++;
    else {
      fencing.regressions++;
      fencing.details.push(`${write.name}: pid ${write.pid} wrote term ${write.term} after term ${top.term}`);
    }
  }
  const termOwners = new Map<string, LockHold>();
  for (const hold of holds.sort((a, b) => a.start - b.start)) {
    const key = `${hold.name}|${hold.term}`;
    const earlier = termOwners.get(key);
    if (earlier && earlier.pid !== hold.pid && !lossBetween(earlier.start, hold.start)) {
      fencing.duplicateTerms++;
      fencing.details.push(`${hold.name}: term ${hold.term} held by pid ${earlier.pid} and pid ${hold.pid}`);
    }
    termOwners.set(key, hold);
  }
  if (fencing.regressions > 0) failures.push(`${fencing.regressions} fencing-token regression(s)`);
  if (fencing.duplicateTerms > 0) failures.push(`${fencing.duplicateTerms} lock term(s) held twice`);

  const byTick = new Map<number, TickRun[]>();
  for (const tick of ticks) byTick.set(tick.tickAt, [...(byTick.get(tick.tickAt) ?? []), tick]);
  const tickReport = {
    ran: byTick.size,
    doubled: 0,
    doubledStoreLoss: 0,
    missed: 0,
    ranInvalid: ticks.filter((tick) => !tick.valid).length,
    sharePerReplica: {} as Record<string, number>,
    details: [] as string[],
  };
  for (const [tickAt, runs] of byTick) {
    if (runs.length < 2) continue;
    const first = Math.min(...runs.map((run) => run.at));
    const last = Math.max(...runs.map((run) => run.at));
    if (lossBetween(first, last)) tickReport.doubledStoreLoss++;
    else {
      tickReport.doubled++;
      tickReport.details.push(
        `tick ${tickAt} ran ${runs.length} times: ${runs.map((r) => r.replica).join(', ')}`,
      );
    }
  }
  const tickTimes = [...byTick.keys()].sort((a, b) => a - b);
  if (tickTimes.length > 1)
    for (let at = tickTimes[0]!; at <= tickTimes[tickTimes.length - 1]!; at += 1000)
      if (!byTick.has(at)) tickReport.missed++;
  for (const tick of ticks)
    tickReport.sharePerReplica[tick.replica] = (tickReport.sharePerReplica[tick.replica] ?? 0) + 1;
  if (tickReport.doubled > 0) failures.push(`${tickReport.doubled} per-run tick(s) ran twice`);

  const faultsOnHolder = record.faults.filter((fault) =>
    beats.some(
      (beat) => beat.pid === fault.pid && beat.valid && beat.at <= fault.at && beat.at >= fault.at - 500,
    ),
  ).length;
  return {
    holds: holds.length,
    holdsOutlived: writes.filter((write) => !write.valid).length,
    longestHoldMs: Math.max(0, ...holds.map((hold) => hold.end - hold.start)),
    faultsOnHolder,
    overlaps,
    fencing,
    ticks: tickReport,
    failures,
  };
}

export function formatLocksReport(report: LocksReport): string {
  const t = report.ticks;
  const share = Object.entries(t.sharePerReplica)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([replica, count]) => `${replica} ${((100 * count) / Math.max(1, t.ran + t.doubled)).toFixed(1)} %`)
    .join(', ');
  return [
    '',
    'Locks mode',
    `  lock holds: ${report.holds} (${report.holdsOutlived} outlived their lock: fenced write made with isValid() false; longest ${(report.longestHoldMs / 1000).toFixed(1)} s); faults on the holder: ${report.faultsOnHolder}`,
    `  overlapping valid holders: ${report.overlaps.valid} (must be 0)${report.overlaps.storeLoss ? `; across store loss: ${report.overlaps.storeLoss}` : ''}`,
    `  fenced writes: ${report.fencing.writes}, accepted ${report.fencing.accepted}, stale refused ${report.fencing.rejectedStale}${report.fencing.rejectedStoreLoss ? `, refused after store loss ${report.fencing.rejectedStoreLoss}` : ''}, regressions ${report.fencing.regressions} (must be 0), terms held twice ${report.fencing.duplicateTerms} (must be 0)`,
    `  per-run ticks: ${t.ran} ran, doubled ${t.doubled} (must be 0)${t.doubledStoreLoss ? `, doubled across store loss ${t.doubledStoreLoss}` : ''}, missed ${t.missed}, run with the tick's lock already invalid ${t.ranInvalid}; share ${share}`,
    ...[...report.overlaps.details, ...report.fencing.details, ...t.details]
      .slice(0, 20)
      .map((line) => `  ! ${line}`),
  ].join('\n');
}

/** Locks mode: adds the lock checks to a run's report; a lock failure is a safety failure. */
export function addLocksReport<
  R extends { ok: boolean; safetyOk: boolean; failures: string[]; locks?: LocksReport },
>(report: R, record: RunRecord, entries: JournalEntry[]): R {
  if (!record.timings.locks) return report;
  const locks = checkLocks(record, entries);
  report.locks = locks;
  if (locks.failures.length > 0) {
    report.failures.push(...locks.failures.map((failure) => `locks: ${failure}`));
    report.safetyOk = false;
    report.ok = false;
  }
  return report;
}
