// Takeover with priorities (issue 9): three replicas with priorities 3/2/1 (r1 best) on Azurite,
// failback on. Kill (SIGKILL) or stop (SIGTERM) the best replica while it leads → time until the
// next one (priority 2) RUNS the job, against the stated worst case D + R + tiers × window; then
// restart the best one → time until failback gives it the lease back (and whether any gated runs of
// the two overlapped). Also the first election of a fresh cluster started worst-first.
// Uses the fault harness's replica app (bench/app/replica.ts), configured by env.
import { join } from 'node:path';
import { JournalReader, type JournalEntry } from '../support/journal.js';
import { sleep, type Tracked } from '../support/processes.js';
import { connectionStringFor } from '../support/azurite-connection.js';
import { CountingProxy } from '../support/proxy.js';
import { seconds } from '../support/report.js';
import { summarize, type Summary } from '../support/stats.js';
import { anyExited, type Suite, type SuiteContext } from './context.js';

// Library defaults at D = 15 s, spelled out so the bounds below can be checked against docs/presence-and-priorities.md.
const LEASE_SECONDS = 15;
const RETRY_MS = 2_000;
const JITTER = 0.2;
const REQUEST_TIMEOUT_MS = 5_000; // min(5 000, renew interval D/3)
const PRESENCE_INTERVAL_MS = 10_000;
const PREFERENCE_WINDOW_MS = 2 * RETRY_MS + REQUEST_TIMEOUT_MS; // 9 s
const ELECTION_DELAY_MS = PRESENCE_INTERVAL_MS + RETRY_MS; // 12 s
const JOB_INTERVAL_MS = 100;
export const FAILBACK_AFTER_MS = 10_000;

const PRIORITIES: Record<string, number> = { r1: 3, r2: 2, r3: 1 };

type Kind = 'crash' | 'graceful';

export interface PriorityTrial {
  kind: Kind;
  /** Signal to r1 (the best, leading) → first run of the job by another replica. */
  takeoverMs: number;
  /** How long r1 had led (its first run of this tenure) when it was signalled. */
  ledForMs: number;
  newLeader: string;
  /** Crash: server lease time left at the kill (last successful Acquire/Renew at r1's proxy + D − kill). */
  leaseLeftAtKillMs?: number;
  /** r1 restarted: its boot (journal) → its first run (failback by the interim leader). */
  failbackMs?: number;
  /** Last run of the interim leader → first run of r1 (the hand-over gap; < 0 would be an overlap). */
  failbackGapMs?: number;
}

interface PrioritiesResult {
  initial: { order: string[]; lastStartToFirstRunMs: number; firstLeader: string };
  trials: PriorityTrial[];
  overlaps: number;
  leaderRunsByReplica: Record<string, number>;
}

async function runPriorities(ctx: SuiteContext, trialsPerKind: number): Promise<PrioritiesResult> {
  const azurite = await ctx.azurite();
  const journalPath = join(ctx.runDir, 'journals', 'priorities.jsonl');
  const journal = new JournalReader(journalPath);
  const ids = ['r1', 'r2', 'r3'];
  const replicas = new Map<string, Tracked>();
  const proxies = new Map<string, CountingProxy>();
  for (const id of ids) proxies.set(id, await new CountingProxy(azurite.port).start());
  let incarnation = 0;
  const start = (id: string): Tracked => {
    const tracked = ctx.spawnApp(`priorities-${id}-${++incarnation}`, 'bench/app/replica.js', {
      AZURE_STORAGE_CONNECTION_STRING: connectionStringFor(proxies.get(id)!.port),
      JOURNAL: journalPath,
      INSTANCE_ID: id,
      LEASE_SECONDS: String(LEASE_SECONDS),
      JOB_INTERVAL_MS: String(JOB_INTERVAL_MS),
      JOB_DURATION_MS: '0',
      CONTAINER_NAME: 'priorities',
      PRIORITY: String(PRIORITIES[id]),
      FAILBACK_AFTER_MS: String(FAILBACK_AFTER_MS),
    });
    replicas.set(id, tracked);
    return tracked;
  };
  const bootOf = (pid: number) => (entries: JournalEntry[]) =>
    entries.find((e) => e.event === 'boot' && e.pid === pid);
  const firstRun = (replica: string | ((r: string) => boolean), after: number) => (entries: JournalEntry[]) =>
    entries.find(
      (e) =>
        e.event === 'run' &&
        (typeof replica === 'string' ? e.replica === replica : replica(e.replica)) &&
        (e.start as number) >= after,
    );
  const trials: PriorityTrial[] = [];
  try {
    const failIf = anyExited(() => replicas.values());
    // Fresh cluster, worst first: r3, r2, r1 one second apart. The best must win after its election delay.
    const order = ['r3', 'r2', 'r1'];
    for (const id of order) {
      start(id);
      await sleep(1_000);
    }
    for (const id of ids)
      await journal.waitFor(bootOf(replicas.get(id)!.pid), 60_000, `boot of ${id}`, failIf);
    const lastBoot = journal.entries.find((e) => e.event === 'boot' && e.pid === replicas.get('r1')!.pid)!
      .at as number;
    const first = await journal.waitFor(
      firstRun(() => true, 0),
      ELECTION_DELAY_MS + 30_000,
      'a first run',
      failIf,
    );
    const initial = {
      order,
      lastStartToFirstRunMs: (first.start as number) - lastBoot,
      firstLeader: first.replica,
    };
    ctx.log(
      `priorities: fresh cluster started ${order.join(', ')} → ${first.replica} runs ${seconds(initial.lastStartToFirstRunMs)} after r1 booted`,
    );

    const kinds: Kind[] = [];
    for (let i = 0; i < trialsPerKind; i++) kinds.push('crash', 'graceful');
    const renewMs = (LEASE_SECONDS * 1000) / 3;
    for (const [index, kind] of kinds.entries()) {
      // r1 leads (after the initial election, or after the previous trial's failback).
      const leading = await journal.waitFor(
        firstRun('r1', Date.now() - 1_000),
        FAILBACK_AFTER_MS + 3 * PRESENCE_INTERVAL_MS + 30_000,
        'r1 leading',
        failIf,
      );
      const ledSince =
        (journal.entries.filter(
          (e) => e.event === 'run' && e.replica === 'r1' && e.pid === leading.pid && e.term === leading.term,
        )[0]?.start as number | undefined) ?? (leading.start as number);
      // Let the hand-over settle: the replica that handed the lease back to r1 (failback) leaves
      // free leases alone for one preference window after its hand-over (its cooldown); measured
      // apart, see the notes. Then a random phase against the renewal cycle.
      await sleep(Math.max(0, ledSince + PREFERENCE_WINDOW_MS + 1_000 - Date.now()) + ctx.random() * renewMs);
      const victim = replicas.get('r1')!;
      const t0 = Date.now();
      victim.signal(kind === 'crash' ? 'SIGKILL' : 'SIGTERM');
      const granted = proxies.get('r1')!.lastSuccessAt;
      const lastGrantAt = Math.max(granted['Renew Lease'] ?? 0, granted['Acquire Lease'] ?? 0);
      const bound = LEASE_SECONDS * 1000 + RETRY_MS * (1 + JITTER) + 2 * PREFERENCE_WINDOW_MS + 30_000;
      const othersAlive = anyExited([replicas.get('r2')!, replicas.get('r3')!]);
      const next = await journal.waitFor(
        firstRun((r) => r !== 'r1', t0),
        bound,
        `a run by another replica after ${kind} of r1`,
        othersAlive,
      );
      const trial: PriorityTrial = {
        kind,
        takeoverMs: (next.start as number) - t0,
        ledForMs: t0 - ledSince,
        newLeader: next.replica,
      };
      if (kind === 'crash' && lastGrantAt > 0)
        trial.leaseLeftAtKillMs = lastGrantAt + LEASE_SECONDS * 1000 - t0;
      await victim.exited;
      // Restart the best one: failback should give it the lease back after FAILBACK_AFTER_MS present.
      const restarted = start('r1');
      const boot = await journal.waitFor(bootOf(restarted.pid), 60_000, 'restart of r1', failIf);
      const back = await journal.waitFor(
        firstRun('r1', boot.at as number),
        FAILBACK_AFTER_MS + 3 * PRESENCE_INTERVAL_MS + 30_000,
        'failback to r1',
        failIf,
      );
      trial.failbackMs = (back.start as number) - (boot.at as number);
      const interim = [...journal.entries]
        .filter(
          (e) =>
            e.event === 'run' &&
            e.replica !== 'r1' &&
            (e.start as number) >= t0 &&
            (e.start as number) < (back.start as number),
        )
        .at(-1);
      if (interim) trial.failbackGapMs = (back.start as number) - (interim.end as number);
      trials.push(trial);
      ctx.log(
        `priorities ${index + 1}/${kinds.length}: ${kind} of r1 (leading for ${seconds(trial.ledForMs)}) → ${trial.newLeader} runs after ${seconds(trial.takeoverMs)}; r1 restarted, leads again ${seconds(trial.failbackMs)} after its boot (gap ${seconds(trial.failbackGapMs)})`,
      );
    }
    journal.poll();
    const runs = journal.entries
      .filter((e) => e.event === 'run')
      .sort((a, b) => (a.start as number) - (b.start as number));
    let overlaps = 0;
    for (let i = 0; i < runs.length; i++) {
      for (let j = i + 1; j < runs.length && (runs[j]!.start as number) < (runs[i]!.end as number); j++)
        if (runs[j]!.replica !== runs[i]!.replica) overlaps++;
    }
    const leaderRunsByReplica: Record<string, number> = {};
    for (const run of runs) leaderRunsByReplica[run.replica] = (leaderRunsByReplica[run.replica] ?? 0) + 1;
    return { initial, trials, overlaps, leaderRunsByReplica };
  } finally {
    await Promise.all([...replicas.values()].map((replica) => replica.stop(3_000)));
    await Promise.all([...proxies.values()].map((proxy) => proxy.stop()));
    await azurite.stop();
  }
}

const row = (
  label: string,
  s: Summary,
  boundMs: number,
  values: number[],
  extra: string,
): (string | number)[] => [
  label,
  s.n,
  seconds(s.min),
  seconds(s.p50),
  seconds(s.p90),
  seconds(s.max),
  seconds(boundMs, 1),
  `${values.filter((v) => v <= boundMs).length}/${values.length}`,
  extra,
];

export const prioritiesSuite: Suite = {
  name: 'priorities',
  description:
    'takeover with priorities 3/2/1 (SIGKILL / SIGTERM of the best leader), failback after it returns, first election',
  async run(ctx) {
    const n = ctx.settings.prioritiesTrials;
    ctx.log(`priorities: ${n} crash + ${n} graceful trials, failback after ${FAILBACK_AFTER_MS / 1000} s`);
    const result = await runPriorities(ctx, n);
    const R = RETRY_MS * (1 + JITTER);
    // Stated worst case (docs/presence-and-priorities.md): D + R + (tiers above the next replica) × preferenceWindowMs; r2 has one tier above it (r1's record stays live up to staleAfterMs after a crash).
    const crashBound = LEASE_SECONDS * 1000 + R + 1 * PREFERENCE_WINDOW_MS;
    const gracefulBound = R;
    // Failback from r1's boot: up to one listing until the leader first sees r1, then afterStableMs
    // checked only at listings (a check that lands a hair early waits one more), and since the fix of
    // finding 1 a refresh of r1's record after it was first seen — so three intervals, not two.
    const failbackBound = FAILBACK_AFTER_MS + 3 * PRESENCE_INTERVAL_MS + R;
    const rows: (string | number)[][] = [];
    const summaries: Record<string, Summary> = {};
    for (const kind of ['crash', 'graceful'] as const) {
      const ofKind = result.trials.filter((t) => t.kind === kind);
      const values = ofKind.map((t) => t.takeoverMs);
      summaries[kind] = summarize(values);
      const newLeaders = `${ofKind.filter((t) => t.newLeader === 'r2').length}/${ofKind.length} to r2`;
      const left = ofKind.filter((t) => t.leaseLeftAtKillMs !== undefined).map((t) => t.leaseLeftAtKillMs!);
      rows.push(
        row(
          kind === 'crash'
            ? 'SIGKILL of r1 (priority 3) → r2 (priority 2) runs'
            : 'SIGTERM of r1 (priority 3) → r2 (priority 2) runs',
          summaries[kind],
          kind === 'crash' ? crashBound : gracefulBound,
          values,
          kind === 'crash' && left.length
            ? `${newLeaders}; lease left at the kill ${seconds(Math.min(...left))} … ${seconds(Math.max(...left))}`
            : newLeaders,
        ),
      );
    }
    const failback = result.trials.filter((t) => t.failbackMs !== undefined).map((t) => t.failbackMs!);
    summaries.failback = summarize(failback);
    const gaps = result.trials.filter((t) => t.failbackGapMs !== undefined).map((t) => t.failbackGapMs!);
    rows.push(
      row(
        `r1 restarted → r1 runs again (failback, afterStableMs ${FAILBACK_AFTER_MS / 1000} s)`,
        summaries.failback,
        failbackBound,
        failback,
        gaps.length
          ? `hand-over gap (interim leader's last run → r1's first) ${seconds(Math.min(...gaps))} … ${seconds(Math.max(...gaps))}`
          : '',
      ),
    );
    return {
      data: {
        leaseSeconds: LEASE_SECONDS,
        retryIntervalMs: RETRY_MS,
        preferenceWindowMs: PREFERENCE_WINDOW_MS,
        electionDelayMs: ELECTION_DELAY_MS,
        presenceIntervalMs: PRESENCE_INTERVAL_MS,
        failbackAfterMs: FAILBACK_AFTER_MS,
        bounds: { crashBound, gracefulBound, failbackBound },
        summaries,
        ...result,
      },
      tables: [
        {
          title: `Takeover with priorities: r1 = 3, r2 = 2, r3 = 1, failback after ${FAILBACK_AFTER_MS / 1000} s, default timings (D = 15 s, R = 2 s ± 20 %, preferenceWindowMs 9 s, electionDelayMs 12 s, presence every 10 s / stale after 30 s), job every 100 ms; signal → first run by the new leader`,
          head: ['scenario', 'trials', 'min', 'p50', 'p90', 'max', 'bound', 'within bound', 'detail'],
          rows,
          notes: [
            `Bounds: crash D + 1.2 R + 1 tier × preferenceWindowMs = ${seconds(crashBound, 1)} (docs/presence-and-priorities.md's worst case D + R + tiers × window; r1's record still counts as live for up to 30 s after the kill, so r2 leaves the free lease to it for one window); graceful 1.2 R (r1 releases the lease and withdraws its record); failback afterStableMs + 3 presence intervals (first seen at a listing, afterStableMs checked once per listing, a refresh after first seen required) + 1.2 R.`,
            `Fresh cluster started worst-first (${result.initial.order.join(', ')}, 1 s apart): ${result.initial.firstLeader} ran first, ${seconds(result.initial.lastStartToFirstRunMs)} after r1 booted (electionDelayMs 12 s).`,
            `Runs of two replicas overlapping in time over the whole suite: ${result.overlaps}. Runs per replica: ${Object.entries(
              result.leaderRunsByReplica,
            )
              .map(([r, c]) => `${r} ${c}`)
              .join(', ')}.`,
          ],
        },
      ],
    };
  },
};
