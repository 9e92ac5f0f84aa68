// Event-loop stalls: the leader runs a CPU-bound job that blocks its event loop for k × D.
// Does it keep the lease? Does another replica lead while the blocked replica still believes it
// leads? What does the user see (isLeader(), the leadership signal, logs)?
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { JournalReader, type JournalEntry } from '../support/journal.js';
import { sleep, type Tracked } from '../support/processes.js';
import { fmt, seconds } from '../support/report.js';
import { anyExited, type Suite, type SuiteContext } from './context.js';

const D_SECONDS = 15;

export type RenewalMode = 'main' | 'thread';

export interface StallTrial {
  /** Who renewed the lease: the main event loop (default) or the renewalThread option's worker. */
  renewal: RenewalMode;
  /** renewalThread.maxBlockedMs of the run (thread only; undefined = library default 60 s). */
  maxBlockedMs?: number;
  /** renewalThread.exitOnBlockedDeadline was on. */
  exitOnBlockedDeadline?: boolean;
  /** The blocked process ended (exit policy) this long after the block began, before the block finished. */
  exitedAfterMs?: number;
  exitSignal?: string | null;
  factor: number;
  stallMs: number;
  replica: string;
  term: number;
  remainingLeaseAtStartMs: number;
  blockedMs: number;
  /** What the job saw right after its computation (before the event loop ran); absent when the process ended mid-block. */
  atEnd?: { isLeader: boolean; isActive: boolean; signalAborted: boolean; remainingLeaseMs: number };
  afterImmediate?: { isLeader: boolean; isActive: boolean; signalAborted: boolean };
  after100ms?: { isLeader: boolean; isActive: boolean; signalAborted: boolean };
  keptLease: boolean;
  /** First run of the job by another replica after the stall began, ms after the stall began. */
  otherReplicaRunAfterMs?: number;
  otherReplicaTerm?: number;
  /** Another replica ran the job while the blocked replica was still inside its block. */
  otherRanDuringBlock: boolean;
  /** The blocked run was still executing while another replica ran the job (ms of overlap). */
  runOverlapMs: number;
  /** After the block, the blocked replica believed it led (isLeader) while another replica had already run as leader. */
  believedLeaderWhileOtherLed: boolean;
  /** Runs the blocked replica started after the block with its old term once another replica led. */
  staleRunsAfterBlock: number;
  /** Runs of the blocked replica after the block with its old term (kept lease case). */
  runsAfterBlockSameTerm: number;
  /** Role changes of the blocked replica after the block. */
  rolesAfter: string[];
  /** Who led after the block (first leader role event of any replica after the block ended, or the blocked replica itself if it kept the lease). */
  leaderAfter?: { replica: string; term: number; afterBlockMs: number };
  /** Election log lines of the blocked replica from the block on. */
  logs: string[];
}

function stripAnsi(text: string): string {
  return text.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'), '');
}

async function trial(
  ctx: SuiteContext,
  renewal: RenewalMode,
  factor: number,
  index: number,
): Promise<StallTrial> {
  const azurite = await ctx.azurite();
  const stallMs = Math.round(factor * D_SECONDS * 1000);
  const maxBlockedMs = renewal === 'thread' ? ctx.settings.stallMaxBlockedMs : undefined;
  const exitOnBlockedDeadline = renewal === 'thread' && ctx.settings.stallExitOnBlockedDeadline;
  const tag = `stall-${renewal}${maxBlockedMs !== undefined ? `-mb${maxBlockedMs}` : ''}${exitOnBlockedDeadline ? '-exit' : ''}-${factor}x-${index}`;
  const journalPath = join(ctx.runDir, 'journals', `${tag}.jsonl`);
  const journal = new JournalReader(journalPath);
  const ids = ['r1', 'r2', 'r3'];
  const replicas = new Map<string, Tracked>();
  try {
    for (const id of ids) {
      replicas.set(
        id,
        ctx.spawnApp(`${tag}-${id}`, 'bench/perf/app/perf-replica.js', {
          AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
          JOURNAL: journalPath,
          INSTANCE_ID: id,
          LEASE_SECONDS: String(D_SECONDS),
          JOB_INTERVAL_MS: '100',
          STALL_MS: String(stallMs),
          CONTAINER_NAME: 'bench-stall',
          ...(renewal === 'thread' ? { RENEWAL_THREAD: '1' } : {}),
          ...(maxBlockedMs !== undefined ? { MAX_BLOCKED_MS: String(maxBlockedMs) } : {}),
          ...(exitOnBlockedDeadline ? { EXIT_ON_BLOCKED_DEADLINE: '1' } : {}),
        }),
      );
    }
    const failIf = anyExited(() => replicas.values());
    await journal.waitFor(
      (e) => (e.filter((x) => x.event === 'boot').length === 3 ? true : undefined),
      60_000,
      'three replicas',
      failIf,
    );
    const firstRun = await journal.waitFor(
      (e) => e.find((x) => x.event === 'run'),
      30_000,
      'a leader run',
      failIf,
    );
    await sleep(2_000 + ctx.random() * 5_000); // random phase against the renewal cycle
    journal.poll();
    const leader = firstRun.replica;
    replicas.get(leader)!.signal('SIGUSR2');
    const start = await journal.waitFor(
      (e) => e.find((x) => x.event === 'stall-start'),
      10_000,
      'stall start',
      failIf,
    );
    // With the exit policy the blocked process may end before its block does: then that is the end.
    const blocked = replicas.get(leader)!;
    const othersExited = anyExited(() =>
      [...replicas.entries()].filter(([id]) => id !== leader).map(([, tracked]) => tracked),
    );
    let exitedAt: number | undefined;
    const end = await journal.waitFor(
      (e) => {
        const found = e.find((x) => x.event === 'stall-end');
        if (found || !exitOnBlockedDeadline || blocked.isRunning()) return found;
        exitedAt = Date.now();
        return { event: 'process-ended', replica: leader, pid: 0, at: exitedAt } satisfies JournalEntry;
      },
      stallMs + 30_000,
      'stall end',
      exitOnBlockedDeadline ? othersExited : failIf,
    );
    const exitSignal = exitedAt !== undefined ? (await blocked.exited).signal : undefined;
    await sleep(D_SECONDS * 1000 + 5_000); // observe the aftermath: expiry, takeover, role changes
    journal.poll();

    const startAt = start.at as number;
    const endAt = end.at as number;
    const term = start.term as number;
    const runs = journal.entries.filter((e) => e.event === 'run');
    const otherRun = runs.find((e) => e.replica !== leader && (e.start as number) > startAt);
    const afterImmediate = journal.entries.find((e) => e.event === 'stall-after' && e.phase === 'immediate');
    const after100 = journal.entries.find((e) => e.event === 'stall-after' && e.phase === 'timeout-100ms');
    const ownRunsAfter = runs.filter((e) => e.replica === leader && (e.start as number) >= endAt);
    const staleRuns = otherRun
      ? ownRunsAfter.filter((e) => e.term === term && (e.start as number) >= (otherRun.start as number))
      : [];
    const rolesAfter = journal.entries
      .filter((e) => e.event === 'role' && e.replica === leader && (e.at as number) >= endAt)
      .map(
        (e) =>
          `${e.role}${e.leader ? ` (leader ${e.leader as string}, term ${e.term as number})` : ''} at +${fmt(((e.at as number) - endAt) / 1000, 2)} s`,
      );
    const nextLeader = journal.entries.find(
      (e) =>
        e.event === 'role' && e.role === 'leader' && (e.at as number) >= startAt && (e.term as number) > term,
    );
    const pick = (e: JournalEntry | undefined): StallTrial['afterImmediate'] =>
      e
        ? {
            isLeader: e.isLeader as boolean,
            isActive: e.isActive as boolean,
            signalAborted: e.signalAborted as boolean,
          }
        : undefined;
    const logText = stripAnsi(readFileSync(join(ctx.runDir, 'logs', `${tag}-${leader}.log`), 'utf8'));
    const logs = logText
      .split('\n')
      .filter(
        (line) =>
          /LeaderElection|Scheduler|WARN|ERROR/.test(line) &&
          !/InstanceLoader|Starting leader election|Became leader of .* \(term 1\)/.test(line),
      )
      .map((line) => line.replace(/^\[Nest\] \d+\s+-\s+/, '').trim())
      .filter(Boolean)
      .slice(-12);
    return {
      renewal,
      ...(maxBlockedMs !== undefined ? { maxBlockedMs } : {}),
      ...(exitOnBlockedDeadline ? { exitOnBlockedDeadline } : {}),
      ...(exitedAt !== undefined ? { exitedAfterMs: exitedAt - startAt, exitSignal } : {}),
      factor,
      stallMs,
      replica: leader,
      term,
      remainingLeaseAtStartMs: start.remainingLeaseMs as number,
      blockedMs: exitedAt !== undefined ? exitedAt - startAt : (end.blockedMs as number),
      ...(exitedAt === undefined
        ? {
            atEnd: {
              isLeader: end.isLeader as boolean,
              isActive: end.isActive as boolean,
              signalAborted: end.signalAborted as boolean,
              remainingLeaseMs: end.remainingLeaseMs as number,
            },
          }
        : {}),
      afterImmediate: pick(afterImmediate),
      after100ms: pick(after100),
      keptLease: !otherRun && ownRunsAfter.some((e) => e.term === term),
      otherReplicaRunAfterMs: otherRun ? (otherRun.start as number) - startAt : undefined,
      otherReplicaTerm: otherRun ? (otherRun.term as number) : undefined,
      otherRanDuringBlock: Boolean(otherRun && (otherRun.start as number) < endAt),
      runOverlapMs: otherRun ? Math.max(0, endAt - (otherRun.start as number)) : 0,
      believedLeaderWhileOtherLed: Boolean(
        otherRun && (otherRun.start as number) < endAt && end.isLeader === true,
      ),
      staleRunsAfterBlock: staleRuns.length,
      runsAfterBlockSameTerm: ownRunsAfter.filter((e) => e.term === term).length,
      rolesAfter,
      leaderAfter: nextLeader
        ? {
            replica: nextLeader.replica,
            term: nextLeader.term as number,
            afterBlockMs: (nextLeader.at as number) - endAt,
          }
        : { replica: leader, term, afterBlockMs: 0 },
      logs,
    };
  } finally {
    await Promise.all([...replicas.values()].map((replica) => replica.stop(3_000)));
    await azurite.stop();
  }
}

function renewalLabel(
  renewal: RenewalMode,
  maxBlockedMs: number | undefined,
  exitOnBlockedDeadline = false,
): string {
  if (renewal === 'main') return 'main thread';
  return `renewal thread (maxBlockedMs ${maxBlockedMs === undefined ? '60 s, default' : seconds(maxBlockedMs, 0)}${exitOnBlockedDeadline ? ', exitOnBlockedDeadline' : ''})`;
}

const yesNo = (value: boolean | undefined): string => (value === undefined ? '–' : value ? 'yes' : 'no');

export const stallSuite: Suite = {
  name: 'stall',
  description:
    'CPU-bound leader-only job blocking the event loop for 0.5×, 1×, 2× D (main-thread renewals and/or the renewal thread)',
  async run(ctx) {
    const trials: StallTrial[] = [];
    for (const renewal of ctx.settings.stallRenewal) {
      for (const factor of ctx.settings.stallFactors) {
        for (let i = 0; i < ctx.settings.stallTrials; i++) {
          ctx.log(
            `stall (${renewalLabel(renewal, ctx.settings.stallMaxBlockedMs, renewal === 'thread' && ctx.settings.stallExitOnBlockedDeadline)}): ${factor} × D (${fmt(factor * D_SECONDS, 1)} s), trial ${i + 1}/${ctx.settings.stallTrials}`,
          );
          trials.push(await trial(ctx, renewal, factor, i));
        }
      }
    }
    return {
      data: { leaseSeconds: D_SECONDS, trials },
      tables: [
        {
          title: `Event-loop stall of the leader (3 replicas, D = ${D_SECONDS} s, renew every 5 s, safety margin 1 s): a @LeaderOnly job busy-loops for k × D`,
          head: [
            'renewals',
            'k × D',
            'blocked',
            'lease left at block start',
            'kept the lease',
            'leader afterwards',
            'isLeader() / isActive() right after the block',
            'signal.aborted: right after / setImmediate / +100 ms',
            'other replica ran the job (after block start)',
            'blocked run overlapped the new leader by',
            'believed leader while another led',
            'stale runs after the block',
          ],
          rows: trials.map((t) => [
            renewalLabel(t.renewal, t.maxBlockedMs, t.exitOnBlockedDeadline),
            `${t.factor} × D`,
            t.exitedAfterMs !== undefined
              ? `${seconds(t.exitedAfterMs, 1)}: process ended (${t.exitSignal ?? 'exit'})`
              : seconds(t.blockedMs, 1),
            seconds(t.remainingLeaseAtStartMs, 1),
            yesNo(t.keptLease),
            t.leaderAfter
              ? t.leaderAfter.term === t.term
                ? `${t.leaderAfter.replica} (same term ${t.term})`
                : `${t.leaderAfter.replica === t.replica ? `${t.replica} again` : t.leaderAfter.replica} (term ${t.leaderAfter.term}, ${seconds(Math.abs(t.leaderAfter.afterBlockMs), 2)} ${t.leaderAfter.afterBlockMs >= 0 ? 'after' : 'before'} the block ended)`
              : '–',
            t.atEnd ? `${t.atEnd.isLeader} / ${t.atEnd.isActive}` : '–',
            t.atEnd
              ? `${t.atEnd.signalAborted} / ${t.afterImmediate?.signalAborted ?? '–'} / ${t.after100ms?.signalAborted ?? '–'}`
              : '–',
            t.otherReplicaRunAfterMs === undefined
              ? 'never'
              : `${seconds(t.otherReplicaRunAfterMs, 1)} (term ${t.otherReplicaTerm}${t.otherRanDuringBlock ? ', during the block' : ', after the block'})`,
            t.runOverlapMs > 0 ? seconds(t.runOverlapMs, 1) : '–',
            yesNo(t.believedLeaderWhileOtherLed),
            t.staleRunsAfterBlock,
          ]),
          notes: trials.map(
            (t) =>
              `${renewalLabel(t.renewal, t.maxBlockedMs, t.exitOnBlockedDeadline)}, ${t.factor} × D, ${t.replica}: roles after the block: ${t.rolesAfter.join('; ') || 'no change'}. Log: ${t.logs.filter((l) => /Stepped down|Became leader|renew|Lease store|took|late/i.test(l)).join(' ⏎ ') || '(nothing)'}`,
          ),
        },
      ],
    };
  },
};
