// Crash and freeze takeover with and without fast failover (issue 21, "Measure side by side"), on one
// embedded Azurite. Per config (default D 15 s; fastFailover livenessMs 3000; livenessMs 5000): three
// replicas of bench/app/replica.ts (job every 100 ms); the leader is SIGKILLed or SIGTERMed (then
// restarted) or SIGSTOPped (resumed once another replica leads). Takeover = signal → another replica's role event
// "leader" (its journal). Overlap = a run of the job by an older term that started after a newer
// term's leader was elected (must be 0); for SIGSTOP also whether the resumed victim ever led again
// beside the new leader. Run under the shared lock, after `npm run build:apps`:
//   flock /tmp/nle-heavy.lock npx tsx bench/perf/fast-failover-takeover.ts [--trials 5] [--kinds kill,stop,term]
//     [--configs default,3000,5000] [--out results.json]
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { azuriteConnectionString, startAzurite } from '../../test/support/azurite.mjs';

const argOf = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const TRIALS = Number(argOf('trials', '5'));
const KINDS = argOf('kinds', 'kill,stop').split(',') as Kind[];
const CONFIGS = argOf('configs', 'default,3000,5000').split(',');
const OUT = argOf('out', '');
type Kind = 'kill' | 'stop' | 'term';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const dir = mkdtempSync(join(tmpdir(), 'bench-ff-takeover-'));
const azurite = await startAzurite();
const children = new Set<ChildProcess>();

interface Entry {
  event: string;
  replica: string;
  pid: number;
  at?: number;
  start?: number;
  role?: string;
  term?: number | null;
}
const readJournal = (file: string): Entry[] =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Entry)
    : [];

async function until<T>(what: string, probe: () => T | undefined, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const found = probe();
    if (found !== undefined) return found;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

interface Trial {
  config: string;
  kind: Kind;
  victim: string;
  takeoverMs: number;
  /** SIGSTOP: the resumed victim led again while the new leader led (role event leader of its old term). */
  victimLedAgain?: boolean;
  /** SIGSTOP: resume → the victim's role event leaving leadership. */
  stepDownAfterResumeMs?: number;
}

async function runConfig(config: string): Promise<{ trials: Trial[]; overlaps: number }> {
  const signals: { pid: number; at: number }[] = [];
  const journalPath = join(dir, `${config}.jsonl`);
  const replicas = new Map<string, ChildProcess>();
  const start = (id: string): ChildProcess => {
    const log = openSync(join(dir, `${config}-${id}.log`), 'a');
    const child = spawn(process.execPath, ['dist/bench/app/replica.js'], {
      env: {
        ...process.env,
        AZURE_STORAGE_CONNECTION_STRING: azuriteConnectionString(azurite.port),
        JOURNAL: journalPath,
        INSTANCE_ID: id,
        LEASE_SECONDS: '15',
        JOB_INTERVAL_MS: '100',
        JOB_DURATION_MS: '0',
        CONTAINER_NAME: `ff-takeover-${config}`,
        PRESENCE: '0',
        EXIT_WITH_PARENT: '1',
        ...(config === 'default' ? {} : { FAST_LIVENESS_MS: config }),
      },
      stdio: ['ignore', log, log],
    });
    children.add(child);
    child.on('exit', () => children.delete(child));
    replicas.set(id, child);
    return child;
  };
  const bootOf = (pid: number) => () =>
    readJournal(journalPath).find((e) => e.event === 'boot' && e.pid === pid);
  const trials: Trial[] = [];
  try {
    for (const id of ['r1', 'r2', 'r3']) start(id);
    for (const child of replicas.values()) await until('boot', bootOf(child.pid!), 60_000);
    await until('a first run', () => readJournal(journalPath).find((e) => e.event === 'run'), 40_000);
    for (let index = 0; index < TRIALS * KINDS.length; index++) {
      const kind = KINDS[index % KINDS.length];
      await sleep(1_000 + Math.random() * 4_000); // random phase against renewals and heartbeats
      const lastRun = [...readJournal(journalPath)].reverse().find((e) => e.event === 'run')!;
      const victim = lastRun.replica;
      const victimProcess = replicas.get(victim)!;
      const t0 = Date.now();
      victimProcess.kill(kind === 'kill' ? 'SIGKILL' : kind === 'term' ? 'SIGTERM' : 'SIGSTOP');
      signals.push({ pid: victimProcess.pid!, at: t0 });
      const elected = await until(
        `another leader after ${kind} of ${victim}`,
        () =>
          readJournal(journalPath).find(
            (e) => e.event === 'role' && e.role === 'leader' && e.replica !== victim && e.at! >= t0,
          ),
        60_000,
      );
      const trial: Trial = { config, kind, victim, takeoverMs: elected.at! - t0 };
      if (kind !== 'stop') {
        if (kind === 'term')
          await until(
            `${victim} exits`,
            () => victimProcess.exitCode ?? victimProcess.signalCode ?? undefined,
            60_000,
          );
        start(victim);
        await until(`restart of ${victim}`, bootOf(replicas.get(victim)!.pid!), 60_000);
      } else {
        await sleep(1_000);
        const resumedAt = Date.now();
        victimProcess.kill('SIGCONT');
        const left = await until(
          `${victim} leaves leadership after resume`,
          () =>
            readJournal(journalPath).find(
              (e) =>
                e.event === 'role' &&
                e.pid === victimProcess.pid &&
                e.at! >= resumedAt &&
                e.role !== 'leader',
            ),
          30_000,
        );
        trial.stepDownAfterResumeMs = left.at! - resumedAt;
        await sleep(2_000);
        trial.victimLedAgain = readJournal(journalPath).some(
          (e) =>
            e.event === 'role' &&
            e.pid === victimProcess.pid &&
            e.at! >= resumedAt &&
            e.role === 'leader' &&
            (e.term ?? 0) < (elected.term ?? 0),
        );
      }
      trials.push(trial);
      console.log(
        `${config} ${index + 1}/${TRIALS * KINDS.length}: ${kind} of ${victim} → ${elected.replica} leads after ${(trial.takeoverMs / 1000).toFixed(2)} s` +
          (kind === 'stop'
            ? ` (resumed victim stepped down ${trial.stepDownAfterResumeMs} ms after SIGCONT, led again: ${trial.victimLedAgain})`
            : ''),
      );
    }
  } finally {
    for (const child of replicas.values()) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
  }
  // Overlap: a run by an older term that started after a newer term's leader was elected.
  const entries = readJournal(journalPath);
  const elections = entries.filter((e) => e.event === 'role' && e.role === 'leader' && e.term != null);
  const late = entries.filter(
    (run) =>
      run.event === 'run' &&
      elections.some(
        (e) => e.replica !== run.replica && (e.term ?? 0) > (run.term ?? 0) && e.at! <= run.start!,
      ),
  );
  for (const run of late) {
    // A pause between the gate's check and the job's first line: its tick was due when the signal came.
    const signal = signals.find((s) => s.pid === run.pid && s.at <= run.start!);
    const previous = entries
      .filter((e) => e.event === 'run' && e.pid === run.pid && e.start! < (signal?.at ?? 0))
      .at(-1);
    console.log(
      `${config}: late run ${JSON.stringify(run)}; signal at ${signal?.at}; its previous run started ${
        signal && previous ? signal.at - previous.start! : '?'
      } ms before the signal (job every 100 ms)`,
    );
  }
  return { trials, overlaps: late.length };
}

const quantile = (sorted: number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
const all: Trial[] = [];
const overlapsBy: Record<string, number> = {};
try {
  for (const config of CONFIGS) {
    const { trials, overlaps } = await runConfig(config);
    all.push(...trials);
    overlapsBy[config] = overlaps;
  }
} finally {
  for (const child of children) child.kill('SIGKILL');
  await azurite.stop();
}
console.log('\nconfig | kind | n | p50 | p95 | max | overlaps | resumed victim led again');
for (const config of CONFIGS)
  for (const kind of KINDS) {
    const trials = all.filter((t) => t.config === config && t.kind === kind);
    const sorted = trials.map((t) => t.takeoverMs).sort((a, b) => a - b);
    const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
    console.log(
      `${config === 'default' ? 'default (D 15 s)' : `livenessMs ${config}`} | ${{ kill: 'SIGKILL', stop: 'SIGSTOP', term: 'SIGTERM' }[kind]} | ${sorted.length} | ${s(quantile(sorted, 0.5))} | ${s(quantile(sorted, 0.95))} | ${s(sorted[sorted.length - 1])} | ${overlapsBy[config]} | ${kind === 'stop' ? trials.filter((t) => t.victimLedAgain).length : '–'}`,
    );
  }
if (OUT) writeFileSync(OUT, JSON.stringify({ trials: all, overlaps: overlapsBy }, null, 2));
console.log(`journals: ${dir}`);
