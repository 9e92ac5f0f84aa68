import { beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { checkRun } from '../../bench/chaos/checker.js';
import { FaultProxy } from '../../bench/chaos/fault-proxy.js';
import { PROJECT_ROOT, runChaos, type ChaosRunResult } from '../../bench/chaos/harness.js';
import type { JournalEntry, RunRecord } from '../../bench/chaos/types.js';

// ---------------------------------------------------------------------------------------------
// The short seeded chaos run: real Azurite, three real replica processes, real signals and a real
// fault proxy. ~60 s of faults plus the last fault's recovery. In leader-task mode: besides the
// leader-only job, each replica's @LeaderTask journals a heartbeat every 100 ms, so one run checks
// both the gate and leader tasks.

const SEED = 15;
const DURATION_MS = 60_000;

describe('fault harness (short seeded run)', () => {
  let result: ChaosRunResult;

  beforeAll(async () => {
    // The replicas run from dist/: build them from the current sources (lib included).
    execFileSync(
      process.execPath,
      [join(PROJECT_ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.apps.json'],
      { cwd: PROJECT_ROOT, stdio: 'inherit' },
    );
    result = await runChaos({
      seed: SEED,
      durationMs: DURATION_MS,
      leaderTask: true,
      outDir: join(PROJECT_ROOT, 'bench/results', `jest-chaos-${SEED}`),
    });
  }, 300_000);

  it('injected several faults and the replicas ran the job', () => {
    expect(result.record.faults.length).toBeGreaterThanOrEqual(3);
    expect(result.report.counts.runs).toBeGreaterThan(50);
  });

  it('never let two replicas that held a valid lease run at once', () => {
    const { overlaps, leadershipConflicts } = result.report;
    expect(overlaps.details.filter((detail) => detail.kind === 'valid')).toEqual([]);
    expect(overlaps.valid).toBe(0);
    expect(leadershipConflicts.count).toBe(0);
  });

  it('never started a tick without lease time left, also not after SIGCONT', () => {
    expect(result.report.runsStartedWithoutLease).toBe(0);
    expect(result.report.ticksAfterResume).toBe(0);
  });

  it('kept terms increasing', () => {
    expect(result.report.terms.details.filter((detail) => !detail.storeLoss)).toEqual([]);
    expect(result.report.terms.regressions).toBe(0);
  });

  it('recovered after every fault, within the bound implied by the timings', () => {
    for (const outcome of result.report.faults) {
      expect({ id: outcome.id, kind: outcome.kind, recovered: outcome.recovered }).toEqual({
        id: outcome.id,
        kind: outcome.kind,
        recovered: true,
      });
      expect(outcome.takeoverMs).toBeLessThanOrEqual(outcome.boundMs);
    }
    // After the store lost its data, the old holder stops believing at its next renewal.
    expect(result.report.leadershipConflicts.storeLossWorstMs).toBeLessThanOrEqual(
      result.report.leadershipConflicts.storeLossBoundMs,
    );
    // Replicas that saw a term wait one lease duration after noticing the store lost its records,
    // so the old holder has stopped believing in its lease before anyone else leads.
    expect(result.report.leadershipConflicts.storeLoss).toBe(0);
    expect(result.report.overlaps.storeLoss).toBe(0);
    expect(result.report.safetyOk).toBe(true);
  });

  it("leader-task mode: never ran two replicas' tasks at once; the new leader's task started after every fault, after the old one's last valid heartbeat", () => {
    const tasks = result.report.tasks!;
    expect(tasks).toBeDefined();
    expect(tasks.heartbeats).toBeGreaterThan(100);
    expect(tasks.details.filter((detail) => detail.kind === 'valid')).toEqual([]);
    expect(tasks.interleaved).toBe(0);
    expect(tasks.interleavedStoreLoss).toBe(0);
    for (const outcome of result.report.faults) {
      const hand = {
        id: outcome.id,
        kind: outcome.kind,
        started: outcome.task?.newFirstAt !== undefined,
        gapNotNegative: (outcome.task?.gapMs ?? 0) >= 0,
      };
      expect(hand).toEqual({ id: outcome.id, kind: outcome.kind, started: true, gapNotNegative: true });
    }
  });

  it('wrote the JSON result and the SVG timeline', () => {
    expect(JSON.parse(readFileSync(result.files.result, 'utf8')).seed).toBe(SEED);
    const svg = readFileSync(result.files.timeline, 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(existsSync(result.files.journal)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// The checker must catch what it claims to catch: synthetic journals with known defects.

const T0 = 1_000_000;
const timings: RunRecord['timings'] = {
  leaseSeconds: 15,
  leaseMs: 15_000,
  retryIntervalMs: 300,
  retryJitter: 0.2,
  renewIntervalMs: 5000,
  safetyMarginMs: 1000,
  requestTimeoutMs: 5000,
  jobIntervalMs: 150,
  jobDurationMs: 100,
  slackMs: 2000,
};
const record = (faults: RunRecord['faults'] = [], ops: RunRecord['ops'] = []): RunRecord => ({
  seed: 0,
  replicas: 2,
  durationMs: 60_000,
  timings,
  startedAt: T0,
  endedAt: T0 + 60_000,
  faults,
  ops,
  slots: ['r1', 'r2'],
});
const role = (
  replica: string,
  pid: number,
  at: number,
  role: 'leader' | 'follower',
  term: number,
): JournalEntry => ({
  event: 'role',
  replica,
  pid,
  at: T0 + at,
  role,
  term,
  leader: role === 'leader' ? replica : null,
});
const run = (
  replica: string,
  pid: number,
  term: number,
  start: number,
  end: number,
  leaseLeftAtStartMs: number,
  activeAtEnd: boolean,
): JournalEntry[] => [
  { event: 'write', replica, pid, term, at: T0 + end },
  {
    event: 'run',
    replica,
    pid,
    term,
    start: T0 + start,
    end: T0 + end,
    hrStart: start,
    hrEnd: end,
    leaseLeftAtStartMs,
    activeAtEnd,
  },
];

describe('chaos checker', () => {
  it('passes a clean handover', () => {
    const report = checkRun(record(), [
      role('r1', 1, 0, 'leader', 1),
      ...run('r1', 1, 1, 100, 200, 13_000, true),
      role('r1', 1, 1000, 'follower', 1),
      role('r2', 2, 1300, 'leader', 2),
      ...run('r2', 2, 2, 1400, 1500, 13_000, true),
    ]);
    expect(report.safetyOk).toBe(true);
    expect(report.fencing.rejected).toBe(0);
  });

  it('flags two valid leaders running at once, and the term going backwards', () => {
    const report = checkRun(record(), [
      role('r1', 1, 0, 'leader', 2),
      role('r2', 2, 50, 'leader', 1),
      ...run('r1', 1, 2, 100, 300, 13_000, true),
      ...run('r2', 2, 1, 200, 400, 13_000, true),
    ]);
    expect(report.safetyOk).toBe(false);
    expect(report.overlaps.valid).toBe(1);
    expect(report.leadershipConflicts.count).toBe(1);
    expect(report.terms.regressions).toBe(1);
    expect(report.fencing.rejected).toBe(1);
  });

  it('counts a run paused past its lease as a stale overlap that fencing rejects, not as a violation', () => {
    const faults: RunRecord['faults'] = [
      {
        id: 1,
        kind: 'sigstop',
        at: T0 + 150,
        healedAt: T0 + 18_000,
        slot: 'r1',
        pid: 1,
        leaderSlot: 'r1',
        leaderPid: 1,
        termAtFault: 1,
        params: { stopMs: 17_850 },
      },
    ];
    const ops: RunRecord['ops'] = [
      { at: T0 + 150, op: 'sigstop', slot: 'r1', pid: 1 },
      { at: T0 + 18_000, op: 'sigcont', slot: 'r1', pid: 1 },
    ];
    const report = checkRun(record(faults, ops), [
      role('r1', 1, 0, 'leader', 1),
      ...run('r1', 1, 1, 100, 18_001, 13_900, false), // paused mid-run, finished after SIGCONT
      role('r2', 2, 15_200, 'leader', 2),
      ...run('r2', 2, 2, 15_300, 15_400, 13_900, true),
      ...run('r2', 2, 2, 17_950, 18_050, 13_900, true),
      role('r1', 1, 18_001, 'follower', 1),
    ]);
    expect(report.overlaps.valid).toBe(0);
    expect(report.overlaps.stale).toBe(2);
    expect(report.overlaps.staleExplainedByPause).toBe(2);
    expect(report.pausedMidRun).toBe(1);
    expect(report.fencing.rejected).toBe(1);
    expect(report.fencing.rejectedAfterPause).toBe(1);
    expect(report.faults[0]).toMatchObject({ recovered: true, takeoverMs: 15_050, withinBound: true });
    expect(report.safetyOk).toBe(true);
  });

  it('flags a tick that started after SIGCONT on an expired tenure, and a fault with no recovery', () => {
    const faults: RunRecord['faults'] = [
      {
        id: 1,
        kind: 'sigstop',
        at: T0 + 150,
        healedAt: T0 + 18_000,
        slot: 'r1',
        pid: 1,
        leaderSlot: 'r1',
        leaderPid: 1,
        termAtFault: 1,
        params: { stopMs: 17_850 },
      },
    ];
    const report = checkRun(
      record(faults, [
        { at: T0 + 150, op: 'sigstop', slot: 'r1', pid: 1 },
        { at: T0 + 18_000, op: 'sigcont', slot: 'r1', pid: 1 },
      ]),
      [
        role('r1', 1, 0, 'leader', 1),
        ...run('r1', 1, 1, 100, 140, 13_900, true),
        ...run('r1', 1, 1, 18_010, 18_100, 0, false),
      ],
    );
    expect(report.runsStartedWithoutLease).toBe(1);
    expect(report.ticksAfterResume).toBe(1);
    expect(report.faults[0]!.recovered).toBe(false);
    expect(report.safetyOk).toBe(false);
  });
});

describe('chaos checker, priorities mode', () => {
  const prioRecord = (ops: RunRecord['ops']): RunRecord => ({
    ...record([], ops),
    timings: {
      ...timings,
      priorities: { r1: 2, r2: 1 },
      preferenceWindowMs: 5600,
      presenceIntervalMs: 10_000,
    },
  });
  const boot = (replica: string, pid: number, at: number): JournalEntry => ({
    event: 'boot',
    replica,
    pid,
    at: T0 + at,
  });
  // r1 (preferred) leads, is killed at 10 s, restarted (boot at 13 s); r2 leads from 26 s; r1 is
  // partitioned from 40 s to 45 s.
  const ops: RunRecord['ops'] = [
    { at: T0, op: 'spawn', slot: 'r1', pid: 1 },
    { at: T0, op: 'spawn', slot: 'r2', pid: 2 },
    { at: T0 + 10_000, op: 'sigkill', slot: 'r1', pid: 1 },
    { at: T0 + 10_050, op: 'exit', slot: 'r1', pid: 1, detail: 'SIGKILL' },
    { at: T0 + 12_000, op: 'spawn', slot: 'r1', pid: 3 },
    { at: T0 + 40_000, op: 'proxy', slot: 'r1', pid: 3, detail: 'blackhole' },
    { at: T0 + 45_000, op: 'proxy', slot: 'r1', pid: 3, detail: 'pass' },
  ];
  const journal: JournalEntry[] = [
    boot('r1', 1, 500),
    boot('r2', 2, 500),
    role('r1', 1, 1000, 'leader', 1),
    boot('r1', 3, 13_000),
    role('r2', 2, 26_000, 'leader', 2),
  ];

  it('reports how long a non-preferred replica led while the preferred one was alive and reachable', () => {
    const report = checkRun(prioRecord(ops), journal);
    const p = report.preference!;
    expect(p.preferredSlot).toBe('r1');
    // r1 healthy: 0.5–10 s and 13–60 s minus the 5 s partition.
    expect(p.preferredHealthyMs).toBe(9_500 + 47_000 - 5_000);
    expect(p.ledMs).toBe(9_000 + 34_000);
    expect(p.nonPreferredLedMs).toBe(34_000);
    // r2 led 26–60 s; r1 was partitioned 40–45 s: 14 s + 15 s.
    expect(p.nonPreferredWhileHealthyMs).toBe(29_000);
    expect(p.stretches.map((stretch) => [stretch.holder, stretch.ms])).toEqual([
      ['r2', 14_000],
      ['r2', 15_000],
    ]);
    expect(p.longestStretchMs).toBe(15_000);
    expect(report.safetyOk).toBe(true); // info only
  });

  it('stops counting when the preferred replica leads again (failback)', () => {
    const report = checkRun(prioRecord(ops), [
      ...journal,
      role('r2', 2, 29_500, 'follower', 2),
      role('r1', 3, 30_000, 'leader', 3),
    ]);
    expect(report.preference!.nonPreferredWhileHealthyMs).toBe(3_500);
    expect(report.preference!.stretches).toHaveLength(1);
  });

  it('is absent without priorities', () => {
    expect(checkRun(record([], ops), journal).preference).toBeUndefined();
  });
});

describe('chaos checker, leader-task mode', () => {
  const beats = (
    replica: string,
    pid: number,
    term: number,
    from: number,
    to: number,
    leaseLeftMs: number,
    active = true,
  ): JournalEntry[] => {
    const out: JournalEntry[] = [];
    for (let at = from, seq = 0; at <= to; at += 100, seq++)
      out.push({
        event: 'task',
        replica,
        pid,
        term,
        at: T0 + at,
        seq,
        active,
        leaseLeftMs: active ? leaseLeftMs : 0,
      });
    return out;
  };
  const taskTimings = { ...timings, taskHeartbeatMs: 100 };
  const taskRecord = (faults: RunRecord['faults'] = [], ops: RunRecord['ops'] = []): RunRecord => ({
    ...record(faults, ops),
    timings: taskTimings,
  });

  it("passes a graceful hand-over and measures the gap from the old task's last heartbeat to the new one's first", () => {
    const faults: RunRecord['faults'] = [
      {
        id: 1,
        kind: 'sigterm',
        at: T0 + 950,
        slot: 'r1',
        pid: 1,
        leaderSlot: 'r1',
        leaderPid: 1,
        termAtFault: 1,
        params: {},
      },
    ];
    const report = checkRun(taskRecord(faults, [{ at: T0 + 950, op: 'sigterm', slot: 'r1', pid: 1 }]), [
      role('r1', 1, 0, 'leader', 1),
      ...beats('r1', 1, 1, 0, 900, 13_000),
      role('r1', 1, 1000, 'follower', 1),
      { event: 'task-stop', replica: 'r1', pid: 1, term: 1, at: T0 + 1000, reason: 'election stopped' },
      role('r2', 2, 1300, 'leader', 2),
      ...beats('r2', 2, 2, 1310, 2010, 13_000),
      ...run('r2', 2, 2, 1400, 1500, 13_000, true),
    ]);
    expect(report.tasks).toMatchObject({ interleaved: 0, afterTenure: 0, runs: 2 });
    expect(report.faults[0]!.task).toMatchObject({
      gapMs: 410,
      stopToStartMs: 310,
      startAfterPromotionMs: 10,
    });
    expect(report.safetyOk).toBe(true);
  });

  it("flags a task heartbeat written inside another replica's valid lease", () => {
    const report = checkRun(taskRecord(), [
      role('r1', 1, 0, 'leader', 1),
      ...beats('r1', 1, 1, 0, 2000, 13_000),
      role('r2', 2, 1000, 'leader', 2),
      ...beats('r2', 2, 2, 1000, 1500, 13_000),
    ]);
    expect(report.tasks!.interleaved).toBeGreaterThan(0);
    expect(report.tasks!.details[0]).toMatchObject({ kind: 'valid', holder: { replica: 'r1' } });
    expect(report.safetyOk).toBe(false);
  });

  it("counts heartbeats written after the tenure ended (a resumed process) as info, and fails when a new leader's task never runs", () => {
    const faults: RunRecord['faults'] = [
      {
        id: 1,
        kind: 'sigstop',
        at: T0 + 150,
        healedAt: T0 + 18_000,
        slot: 'r1',
        pid: 1,
        leaderSlot: 'r1',
        leaderPid: 1,
        termAtFault: 1,
        params: { stopMs: 17_850 },
      },
    ];
    const ops: RunRecord['ops'] = [
      { at: T0 + 150, op: 'sigstop', slot: 'r1', pid: 1 },
      { at: T0 + 18_000, op: 'sigcont', slot: 'r1', pid: 1 },
    ];
    const journal: JournalEntry[] = [
      role('r1', 1, 0, 'leader', 1),
      ...beats('r1', 1, 1, 0, 100, 13_900),
      role('r2', 2, 15_200, 'leader', 2),
      ...run('r2', 2, 2, 15_300, 15_400, 13_900, true),
      ...beats('r1', 1, 1, 18_001, 18_001, 0, false),
      role('r1', 1, 18_002, 'follower', 1),
    ];
    const withoutTask = checkRun(taskRecord(faults, ops), journal);
    expect(withoutTask.failures.join('\n')).toMatch(/never ran/);
    const report = checkRun(taskRecord(faults, ops), [
      ...journal,
      ...beats('r2', 2, 2, 15_210, 16_000, 13_900),
    ]);
    expect(report.tasks).toMatchObject({ interleaved: 0, afterTenure: 1, afterSuccessor: 1 });
    expect(report.faults[0]!.task).toMatchObject({ gapMs: 15_110, startAfterPromotionMs: 10 });
    expect(report.safetyOk).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// The fault proxy against a local echo server.

async function echoServer(): Promise<Server> {
  const server = createServer((socket) => socket.pipe(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

function roundTrip(
  port: number,
  payload: string,
  timeoutMs: number,
): Promise<{ reply?: string; error?: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const socket: Socket = connect(port, '127.0.0.1');
    let reply = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ error: 'timeout', ms: Date.now() - started });
    }, timeoutMs);
    socket.on('connect', () => socket.write(payload));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.length >= payload.length) {
        clearTimeout(timer);
        socket.destroy();
        resolve({ reply, ms: Date.now() - started });
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ error: error.code ?? error.message, ms: Date.now() - started });
    });
  });
}

describe('fault proxy', () => {
  it('passes, delays each way, black-holes and resets', async () => {
    const server = await echoServer();
    const proxy = await FaultProxy.start({ targetPort: (server.address() as AddressInfo).port });
    try {
      expect(await roundTrip(proxy.port, 'hello', 2000)).toMatchObject({ reply: 'hello' });

      proxy.setMode({ kind: 'delay', ms: 150 });
      const delayed = await roundTrip(proxy.port, 'slow', 3000);
      expect(delayed.reply).toBe('slow');
      expect(delayed.ms).toBeGreaterThanOrEqual(290); // 150 ms each way

      proxy.setMode({ kind: 'blackhole' });
      expect(await roundTrip(proxy.port, 'lost', 400)).toMatchObject({ error: 'timeout' });

      proxy.setMode({ kind: 'reset' });
      const reset = await roundTrip(proxy.port, 'reset', 2000);
      expect(reset.reply).toBeUndefined();
      expect(reset.error).toMatch(/ECONNRESET|EPIPE|timeout/);

      proxy.setMode({ kind: 'pass' });
      expect(await roundTrip(proxy.port, 'healed', 2000)).toMatchObject({ reply: 'healed' });
    } finally {
      await proxy.close();
      server.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// `block` faults: the leader's job busy-loops for k × D (issue 11's CPU-bound leader job).

describe('chaos checker, block faults', () => {
  const blockFault: RunRecord['faults'][number] = {
    id: 1,
    kind: 'block',
    at: T0 + 120,
    slot: 'r1',
    pid: 1,
    leaderSlot: 'r1',
    leaderPid: 1,
    termAtFault: 1,
    params: { blockMs: 30_000 },
  };
  const threadRecord = (): RunRecord => ({
    ...record([{ ...blockFault }], [{ at: T0 + 120, op: 'block', slot: 'r1', pid: 1 }]),
    timings: { ...timings, blockMs: 30_000, renewalThread: { maxBlockedMs: 60_000 } },
  });
  const block = (term: number, from: number, to: number, activeAtEnd: boolean): JournalEntry[] => [
    { event: 'block-start', replica: 'r1', pid: 1, term, at: T0 + from, leaseLeftMs: 13_000 },
    { event: 'block-end', replica: 'r1', pid: 1, term, at: T0 + to, blockedMs: to - from, activeAtEnd },
  ];
  // A successor takes over 14 s into the block; the blocked run writes its stale term at its end.
  const takenOver = (): JournalEntry[] => [
    role('r1', 1, 0, 'leader', 1),
    ...block(1, 150, 30_150, false),
    role('r2', 2, 14_000, 'leader', 2),
    ...run('r2', 2, 2, 14_100, 14_200, 13_900, true),
    ...run('r1', 1, 1, 140, 30_200, 13_000, false),
    role('r1', 1, 30_201, 'follower', 1),
  ];

  it('renewal thread, block below maxBlockedMs: the blocked leader keeps the lease and runs again; no takeover, nothing stale', () => {
    const report = checkRun(threadRecord(), [
      role('r1', 1, 0, 'leader', 1),
      ...block(1, 150, 30_150, true),
      ...run('r1', 1, 1, 140, 30_200, 13_000, true),
      ...run('r1', 1, 1, 30_300, 30_400, 13_900, true),
    ]);
    expect(report.faults[0]).toMatchObject({
      recovered: true,
      withinBound: true,
      takeoverMs: undefined,
      block: { keptLease: true, belowBound: true, otherRunsDuringBlock: 0, staleWrite: false },
    });
    expect(report.blocks).toMatchObject({
      count: 1,
      belowBound: 1,
      keptLease: 1,
      otherRanDuringBlock: 0,
      staleWritesFromBlockedRuns: 0,
    });
    expect(report.safetyOk).toBe(true);
    expect(report.livenessOk).toBe(true);
  });

  it('renewal thread, block below maxBlockedMs: another replica running the job during the block, and the stale write after it, fail the run', () => {
    const report = checkRun(threadRecord(), takenOver());
    expect(report.faults[0]).toMatchObject({
      recovered: true,
      block: {
        keptLease: false,
        otherRunsDuringBlock: 1,
        otherRanDuringBlockAfterMs: 13_950,
        staleWrite: true,
      },
    });
    expect(report.blocks).toMatchObject({
      otherRanDuringBlock: 1,
      staleWritesFromBlockedRuns: 1,
      staleOverlapsOfBlockedRuns: 1,
    });
    expect(report.overlaps.valid).toBe(0);
    expect(report.safetyOk).toBe(false);
    expect(report.failures.join('\n')).toMatch(/another replica ran the job 13950 ms into the block/);
  });

  it('main-thread renewals: the same takeover is counted (stale write of the blocked run, fencing rejects it) but is no failure', () => {
    const report = checkRun({ ...threadRecord(), timings: { ...timings, blockMs: 30_000 } }, takenOver());
    expect(report.faults[0]).toMatchObject({
      recovered: true,
      takeoverMs: 13_880,
      block: { belowBound: false, keptLease: false, staleWrite: true },
    });
    expect(report.blocks).toMatchObject({ belowBound: 0, staleWritesFromBlockedRuns: 1 });
    expect(report.fencing.rejected).toBe(1);
    expect(report.safetyOk).toBe(true);
  });
  // Leader-task mode with the renewal thread: a block that keeps the lease hands nothing over.
  const taskBeats = (term: number, from: number, to: number): JournalEntry[] => {
    const out: JournalEntry[] = [];
    for (let at = from, seq = 0; at <= to; at += 100, seq++)
      out.push({
        event: 'task',
        replica: 'r1',
        pid: 1,
        term,
        at: T0 + at,
        seq,
        active: true,
        leaseLeftMs: 13_000,
      });
    return out;
  };
  const keptJournal = (resumes: boolean): JournalEntry[] => [
    role('r1', 1, 0, 'leader', 1),
    ...taskBeats(1, 10, 110),
    ...block(1, 150, 30_150, true),
    ...(resumes ? taskBeats(1, 30_160, 30_460) : []),
    ...run('r1', 1, 1, 140, 30_200, 13_000, true),
    ...run('r1', 1, 1, 30_300, 30_400, 13_900, true),
  ];

  it('leader-task mode, lease kept through the block: the same task going on after it passes (gap = the block), no "new leader\'s task never ran"', () => {
    const report = checkRun(
      { ...threadRecord(), timings: { ...threadRecord().timings, taskHeartbeatMs: 100 } },
      keptJournal(true),
    );
    expect(report.faults[0]!.task).toMatchObject({ keptResumedAt: T0 + 30_160, gapMs: 30_160 - 110 });
    expect(report.failures).toEqual([]);
    expect(report.safetyOk).toBe(true);
  });

  it('leader-task mode, lease kept through the block: a task that never goes on after the block fails the run', () => {
    const report = checkRun(
      { ...threadRecord(), timings: { ...threadRecord().timings, taskHeartbeatMs: 100 } },
      keptJournal(false),
    );
    expect(report.failures.join('\n')).toMatch(
      /lease kept\): the blocked leader's @LeaderTask did not go on after the block/,
    );
  });
});
