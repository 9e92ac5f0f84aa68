import { describe, expect, it } from '@jest/globals';
import { checkLocks } from '../../bench/chaos/locks-checker.js';
import type { JournalEntry, RunRecord } from '../../bench/chaos/types.js';

/** The fault harness's locks checker on hand-written journals: each rule flags its own break. */
function record(faults: RunRecord['faults'] = []): RunRecord {
  return {
    seed: 1,
    replicas: 2,
    durationMs: 60_000,
    timings: { leaseSeconds: 15, leaseMs: 15_000, locks: true } as RunRecord['timings'],
    startedAt: 0,
    endedAt: 60_000,
    faults,
    ops: [],
    slots: ['r1', 'r2'],
  };
}
const lockLine =
  (event: 'lock-beat' | 'lock-write') =>
  (pid: number, term: number, at: number, valid = true): JournalEntry =>
    ({ event, replica: `r${pid}`, pid, name: 'chaos-lock', term, at, valid }) as unknown as JournalEntry;
const beat = lockLine('lock-beat');
const write = lockLine('lock-write');
const hold = (pid: number, term: number, start: number, end: number) =>
  ({
    event: 'lock-hold',
    replica: `r${pid}`,
    pid,
    name: 'chaos-lock',
    term,
    start,
    end,
    ended: 'done',
  }) as unknown as JournalEntry;
const tick = (pid: number, tickAt: number) =>
  ({
    event: 'tick',
    replica: `r${pid}`,
    pid,
    job: 'j',
    tickAt,
    term: 1,
    at: tickAt + 10,
    valid: true,
  }) as unknown as JournalEntry;

/** Two clean hand-overs and three ticks, one each. */
const clean = [
  beat(1, 1, 1000),
  beat(1, 1, 1100),
  write(1, 1, 1150),
  hold(1, 1, 1000, 1150),
  beat(1, 1, 1500, false),
  write(1, 1, 1500, false), // a stale write after the hold ended
  beat(2, 2, 1200),
  beat(2, 2, 1400),
  write(2, 2, 1450),
  hold(2, 2, 1200, 1450),
  tick(1, 1000),
  tick(2, 2000),
  tick(1, 3000),
];

describe('fault harness, locks mode: the checker', () => {
  it('passes a clean journal, and counts shares and stale writes', () => {
    const report = checkLocks(record(), clean);
    expect(report.failures).toEqual([]);
    expect(report.ticks).toMatchObject({ ran: 3, doubled: 0, missed: 0, sharePerReplica: { r1: 2, r2: 1 } });
    expect(report.fencing).toMatchObject({ writes: 3, accepted: 2, rejectedStale: 1, regressions: 0 });
  });

  it('flags two valid holders at once', () => {
    const report = checkLocks(record(), [...clean, beat(2, 3, 1100)]);
    expect(report.overlaps.valid).toBe(1);
    expect(report.failures.join()).toMatch(/overlap/);
  });

  it('flags a valid write with a term below one already written (fencing regression)', () => {
    const report = checkLocks(record(), [...clean, write(1, 1, 1500)]);
    expect(report.fencing.regressions).toBe(1);
    expect(report.failures.join()).toMatch(/fencing-token regression/);
  });

  it('flags one term held by two processes', () => {
    const report = checkLocks(record(), [...clean, hold(2, 1, 5000, 5100)]);
    expect(report.fencing.duplicateTerms).toBe(1);
  });

  it('flags a doubled tick, counts a missed one, and excuses both sides of a store loss', () => {
    const doubled = checkLocks(record(), [...clean, tick(2, 3000), tick(1, 5000)]);
    expect(doubled.ticks).toMatchObject({ doubled: 1, missed: 1 });
    expect(doubled.failures.join()).toMatch(/ran twice/);
    const loss = record([{ id: 1, kind: 'azurite-restart', at: 3012, params: {} }]);
    const excused = checkLocks(loss, [...clean, { ...tick(2, 3000), at: 3020 } as JournalEntry]);
    expect(excused.ticks).toMatchObject({ doubled: 0, doubledStoreLoss: 1 });
    expect(excused.failures).toEqual([]);
  });
});
