import { resolveTimings } from '../../bench/chaos/harness.js';
import type { FaultRecord, JournalEntry, RunEntry, RunRecord } from '../../bench/chaos/types.js';

// Hand-written chaos journals for checker tests in fast-failover mode (livenessMs 3000), as the
// harness writes them: role changes, job runs with the lease left at their start, fenced writes.

export const fast3000 = resolveTimings({ seed: 1, durationMs: 60_000, fastLivenessMs: 3000 });

export const role = (
  pid: number,
  at: number,
  r: 'leader' | 'follower',
  term: number | null,
  replica = `r${pid}`,
): JournalEntry => ({ event: 'role', replica, pid, at, role: r, term, leader: null });
export const run = (
  pid: number,
  term: number,
  start: number,
  leaseLeftAtStartMs = 1800,
  more: Partial<RunEntry> = {},
): RunEntry => ({
  event: 'run',
  replica: `r${pid}`,
  pid,
  term,
  start,
  end: start + 100,
  hrStart: 0,
  hrEnd: 0,
  leaseLeftAtStartMs,
  activeAtEnd: true,
  ...more,
});
export const write = (pid: number, term: number, at: number): JournalEntry => ({
  event: 'write',
  replica: `r${pid}`,
  pid,
  term,
  at,
});
/** A run every 500 ms in [from, to), each with its fenced write at its end. */
export const runsEvery = (
  pid: number,
  term: number,
  from: number,
  to: number,
  replica = `r${pid}`,
): JournalEntry[] => {
  const entries: JournalEntry[] = [];
  for (let at = from; at < to; at += 500)
    entries.push({ ...run(pid, term, at), replica }, {
      ...write(pid, term, at + 100),
      replica,
    } as JournalEntry);
  return entries;
};
export function record(faults: FaultRecord[], ops: RunRecord['ops'], slots = ['r1', 'r2']): RunRecord {
  return {
    seed: 1,
    replicas: slots.length,
    durationMs: 60_000,
    timings: fast3000,
    startedAt: 0,
    endedAt: 40_000,
    faults,
    ops,
    slots,
  };
}
export const sigkill = (at: number, pid: number): FaultRecord => ({
  id: 1,
  kind: 'sigkill',
  at,
  slot: `r${pid}`,
  pid,
  leaderSlot: `r${pid}`,
  leaderPid: pid,
  termAtFault: 1,
  params: {},
});
