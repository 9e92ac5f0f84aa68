// Takeover after SIGKILL (crash) and SIGTERM (graceful stop) of the leader process: time until a
// new leader RUNS the job (from the journal), at D = 15 s and D = 60 s, against D + R and R.
// Uses the fault harness's replica app (bench/app/replica.ts): 3 replicas, job every 100 ms.
import { join } from 'node:path';
import { JournalReader, type JournalEntry } from '../support/journal.js';
import { sleep, type Tracked } from '../support/processes.js';
import { connectionStringFor } from '../support/azurite-connection.js';
import { CountingProxy } from '../support/proxy.js';
import { seconds } from '../support/report.js';
import { summarize, type Summary } from '../support/stats.js';
import { anyExited, type Suite, type SuiteContext } from './context.js';

const RETRY_MS = 2_000; // library default R
const JITTER = 0.2; // library default
const JOB_INTERVAL_MS = 100;

type Kind = 'crash' | 'graceful';

export interface TakeoverTrial {
  leaseSeconds: number;
  kind: Kind;
  victim: string;
  oldTerm: number;
  newLeader: string;
  newTerm: number;
  /** Signal → first run of the job by another replica. */
  takeoverMs: number;
  /** Signal → another replica's role event "leader". */
  electedMs?: number;
  /** Signal → the victim process exited. */
  victimExitMs: number;
  /** Time since the victim's last run ended when it was signalled (job cadence check). */
  lastRunAgoMs: number;
  /**
   * Crash: how long the victim's lease still had to run on the server at the kill (its last
   * successful Acquire/Renew, seen at its proxy, + D − kill time).
   */
  leaseLeftAtKillMs?: number;
  /** takeoverMs − leaseLeftAtKillMs (crash): follower poll phase + acquire + first job tick. */
  afterExpiryMs?: number;
}

async function runConfig(
  ctx: SuiteContext,
  leaseSeconds: number,
  trialsPerKind: number,
): Promise<TakeoverTrial[]> {
  const azurite = await ctx.azurite();
  const journalPath = join(ctx.runDir, 'journals', `takeover-d${leaseSeconds}.jsonl`);
  const journal = new JournalReader(journalPath);
  const ids = ['r1', 'r2', 'r3'];
  const replicas = new Map<string, Tracked>();
  // Each replica (identity) reaches Azurite through its own proxy, which notes when its last
  // Acquire/Renew Lease succeeded: that dates the lease a crashed leader leaves behind.
  const proxies = new Map<string, CountingProxy>();
  for (const id of ids) proxies.set(id, await new CountingProxy(azurite.port).start());
  let incarnation = 0;
  const start = (id: string): Tracked => {
    const tracked = ctx.spawnApp(`takeover-d${leaseSeconds}-${id}-${++incarnation}`, 'bench/app/replica.js', {
      AZURE_STORAGE_CONNECTION_STRING: connectionStringFor(proxies.get(id)!.port),
      JOURNAL: journalPath,
      INSTANCE_ID: id,
      LEASE_SECONDS: String(leaseSeconds),
      JOB_INTERVAL_MS: String(JOB_INTERVAL_MS),
      JOB_DURATION_MS: '0',
      CONTAINER_NAME: `takeover-d${leaseSeconds}`,
    });
    replicas.set(id, tracked);
    return tracked;
  };
  const bootsOf = (pid: number) => (entries: JournalEntry[]) =>
    entries.find((e) => e.event === 'boot' && e.pid === pid);
  const trials: TakeoverTrial[] = [];
  try {
    for (const id of ids) start(id);
    const failIf = anyExited(() => replicas.values());
    for (const id of ids)
      await journal.waitFor(bootsOf(replicas.get(id)!.pid), 60_000, `boot of ${id}`, failIf);
    await journal.waitFor((e) => e.find((x) => x.event === 'run'), 30_000, 'a first run', failIf);
    const kinds: Kind[] = [];
    for (let i = 0; i < trialsPerKind; i++) kinds.push('crash', 'graceful');
    const renewMs = (leaseSeconds * 1000) / 3;
    for (const [index, kind] of kinds.entries()) {
      // A random phase against the renewal cycle (the crash takeover depends on it).
      await sleep(1_000 + ctx.random() * renewMs);
      journal.poll();
      const lastRun = [...journal.entries].reverse().find((e) => e.event === 'run');
      if (!lastRun) throw new Error('no run in the journal');
      const victim = lastRun.replica;
      const victimProcess = replicas.get(victim)!;
      const t0 = Date.now();
      victimProcess.signal(kind === 'crash' ? 'SIGKILL' : 'SIGTERM');
      const granted = proxies.get(victim)!.lastSuccessAt;
      const lastGrantAt = Math.max(granted['Renew Lease'] ?? 0, granted['Acquire Lease'] ?? 0);
      const exitedAt = victimProcess.exited.then(() => Date.now());
      const boundMs = leaseSeconds * 1000 + RETRY_MS * (1 + JITTER) + 30_000;
      const othersAlive = anyExited(
        [...replicas.entries()].filter(([id]) => id !== victim).map(([, tracked]) => tracked),
      );
      const newRun = await journal.waitFor(
        (e) => e.find((x) => x.event === 'run' && x.replica !== victim && (x.start as number) >= t0),
        boundMs,
        `a run by another replica after ${kind} of ${victim}`,
        othersAlive,
      );
      const elected = journal.entries.find(
        (e) => e.event === 'role' && e.role === 'leader' && e.replica !== victim && (e.at as number) >= t0,
      );
      const trialResult: TakeoverTrial = {
        leaseSeconds,
        kind,
        victim,
        oldTerm: lastRun.term as number,
        newLeader: newRun.replica,
        newTerm: newRun.term as number,
        takeoverMs: (newRun.start as number) - t0,
        electedMs: elected ? (elected.at as number) - t0 : undefined,
        victimExitMs: (await exitedAt) - t0,
        lastRunAgoMs: t0 - (lastRun.end as number),
      };
      if (kind === 'crash' && lastGrantAt > 0) {
        trialResult.leaseLeftAtKillMs = lastGrantAt + leaseSeconds * 1000 - t0;
        trialResult.afterExpiryMs = trialResult.takeoverMs - trialResult.leaseLeftAtKillMs;
      }
      trials.push(trialResult);
      ctx.log(
        `takeover D=${leaseSeconds}s ${index + 1}/${kinds.length}: ${kind} of ${victim} → ${newRun.replica} runs after ${seconds(trialResult.takeoverMs)} (term ${trialResult.oldTerm} → ${trialResult.newTerm})`,
      );
      // Restore three replicas: restart the victim (same identity, new process) and let it settle.
      const restarted = start(victim);
      await journal.waitFor(bootsOf(restarted.pid), 60_000, `restart of ${victim}`, failIf);
    }
    return trials;
  } finally {
    await Promise.all([...replicas.values()].map((replica) => replica.stop(3_000)));
    await Promise.all([...proxies.values()].map((proxy) => proxy.stop()));
    await azurite.stop();
  }
}

const row = (label: string, s: Summary, boundMs: number, values: number[]): (string | number)[] => [
  label,
  s.n,
  seconds(s.min),
  seconds(s.p50),
  seconds(s.p90),
  seconds(s.max),
  seconds(boundMs, 1),
  `${values.filter((v) => v <= boundMs).length}/${values.length}`,
];

export const takeoverSuite: Suite = {
  name: 'takeover',
  description: 'takeover after SIGKILL / SIGTERM of the leader at D = 15 s and D = 60 s',
  async run(ctx) {
    const configs: [number, number][] = [
      [15, ctx.settings.takeoverTrials15],
      [60, ctx.settings.takeoverTrials60],
    ];
    const trials: TakeoverTrial[] = [];
    for (const [leaseSeconds, n] of configs) {
      ctx.log(`takeover: D = ${leaseSeconds} s, ${n} crash + ${n} graceful trials`);
      trials.push(...(await runConfig(ctx, leaseSeconds, n)));
    }
    const rows: (string | number)[][] = [];
    const elected: (string | number)[][] = [];
    const summaries: Record<string, Summary> = {};
    for (const [leaseSeconds] of configs) {
      for (const kind of ['crash', 'graceful'] as const) {
        const values = trials
          .filter((t) => t.leaseSeconds === leaseSeconds && t.kind === kind)
          .map((t) => t.takeoverMs);
        const s = summarize(values);
        summaries[`d${leaseSeconds}-${kind}`] = s;
        const bound = kind === 'crash' ? leaseSeconds * 1000 + RETRY_MS : RETRY_MS;
        rows.push(
          row(
            `D = ${leaseSeconds} s, ${kind === 'crash' ? 'SIGKILL (crash)' : 'SIGTERM (graceful)'}`,
            s,
            bound,
            values,
          ),
        );
        const e = summarize(
          trials
            .filter((t) => t.leaseSeconds === leaseSeconds && t.kind === kind && t.electedMs !== undefined)
            .map((t) => t.electedMs!),
        );
        const exit = summarize(
          trials.filter((t) => t.leaseSeconds === leaseSeconds && t.kind === kind).map((t) => t.victimExitMs),
        );
        const crashOf = trials.filter(
          (t) => t.leaseSeconds === leaseSeconds && t.kind === kind && t.afterExpiryMs !== undefined,
        );
        const left = summarize(crashOf.map((t) => t.leaseLeftAtKillMs!));
        const after = summarize(crashOf.map((t) => t.afterExpiryMs!));
        elected.push([
          `D = ${leaseSeconds} s, ${kind}`,
          seconds(e.p50),
          seconds(e.max),
          seconds(exit.p50),
          seconds(exit.max),
          kind === 'crash' ? `${seconds(left.min)} … ${seconds(left.max)}` : '–',
          kind === 'crash' ? `${seconds(after.p50)} / ${seconds(after.max)}` : '–',
        ]);
      }
    }
    return {
      data: {
        retryIntervalMs: RETRY_MS,
        retryJitter: JITTER,
        jobIntervalMs: JOB_INTERVAL_MS,
        summaries,
        trials,
      },
      tables: [
        {
          title:
            'Takeover: signal to the leader process → first run of the job by a new leader (3 replicas, job every 100 ms, R = 2 s ± 20 %)',
          head: ['scenario', 'trials', 'min', 'p50', 'p90', 'max', 'bound (D + R, or R)', 'within bound'],
          rows,
          notes: [
            `Hard bounds with jitter and the job period: crash ≤ D + 1.2 R + job interval + request time (D + 2.5 s); graceful ≤ shutdown + 1.2 R + job interval (≈ 2.5 s).`,
            'Crash: the lease runs out D after the last renewal (between 0 and D/3 before the kill), then the first follower poll acquires it.',
          ],
        },
        {
          title:
            'Takeover detail: signal → new leader elected (role event); signal → old process gone; crash split into lease left + time after expiry (poll phase + acquire + next tick, bounded by 1.2 R + 0.1 s)',
          head: [
            'scenario',
            'elected p50',
            'elected max',
            'victim exit p50',
            'victim exit max',
            'lease left on the server at the kill (min … max)',
            'takeover after lease expiry p50 / max',
          ],
          rows: elected,
        },
      ],
    };
  },
};
