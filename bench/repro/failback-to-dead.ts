/**
 * Reproduction (docs/BENCHMARKS.md §6, finding 1): failback hands the lease to a replica that
 * crashed, while its presence record is still within presence.staleAfterMs.
 *
 *   npm run build:apps && npx tsx bench/repro/failback-to-dead.ts [afterStableMs, default 0]
 *
 * Two replicas of bench/app/replica.ts on an in-memory Azurite: r1 priority 3, r2 priority 2, both
 * with failback after `afterStableMs`. r1 leads; SIGKILL r1 (never restarted); for 70 s print r2's
 * role changes and the gaps in the job's runs. Expected if failback is sound: r2 leads once and keeps
 * the lease. Observed with afterStableMs 0: r2 leads, hands over to the dead "r1", and no job runs
 * for a preference window until r2 takes the lease back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { azuriteConnectionString, startAzurite } from '../../test/support/azurite.mjs';

interface Entry {
  event: string;
  replica: string;
  at?: number;
  start?: number;
  end?: number;
  role?: string;
  term?: number | null;
  leader?: string | null;
}

const root = fileURLToPath(new URL('../..', import.meta.url));
const script = join(root, 'dist/bench/app/replica.js');
if (!existsSync(script)) throw new Error(`${script} is missing: run "npm run build:apps" first`);
const afterStableMs = process.argv[2] ?? '0';
const journal = join(tmpdir(), `failback-to-dead-${process.pid}.jsonl`);
rmSync(journal, { force: true });
const azurite = await startAzurite();
const children: ChildProcess[] = [];
const start = (id: string, priority: number): ChildProcess => {
  const child = spawn(process.execPath, [script], {
    env: {
      ...process.env,
      AZURE_STORAGE_CONNECTION_STRING: azuriteConnectionString(azurite.port),
      JOURNAL: journal,
      INSTANCE_ID: id,
      PRIORITY: String(priority),
      FAILBACK_AFTER_MS: afterStableMs,
      JOB_INTERVAL_MS: '200',
      JOB_DURATION_MS: '0',
      LOG_LEVELS: 'warn,error',
      EXIT_WITH_PARENT: '1',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  children.push(child);
  return child;
};
const entries = (): Entry[] =>
  existsSync(journal)
    ? readFileSync(journal, 'utf8')
        .split('\n')
        .filter((line) => line.trim())
        .map((line) => JSON.parse(line) as Entry)
    : [];
try {
  const r1 = start('r1', 3);
  start('r2', 2);
  const deadline = Date.now() + 60_000;
  while (!entries().some((e) => e.event === 'role' && e.role === 'leader' && e.replica === 'r1')) {
    if (Date.now() > deadline) throw new Error('r1 did not lead within 60 s');
    await sleep(200);
  }
  await sleep(3_000);
  const t0 = Date.now();
  r1.kill('SIGKILL');
  console.log(
    `SIGKILL r1 (priority 3, leading) at t0; r2 (priority 2) has failback after ${afterStableMs} ms; watching for 70 s`,
  );
  await sleep(70_000);
  const since = (ms: number): string => `t0 + ${((ms - t0) / 1000).toFixed(1)} s`;
  for (const e of entries())
    if (e.event === 'role' && e.replica === 'r2' && e.at! >= t0)
      console.log(`${since(e.at!)}  r2 ${e.role} (term ${e.term}, leader ${e.leader ?? 'none'})`);
  let last = t0;
  for (const run of entries().filter((e) => e.event === 'run' && e.start! >= t0)) {
    if (run.start! - last > 1_000) console.log(`no job run from ${since(last)} to ${since(run.start!)}`);
    last = run.end!;
  }
} finally {
  for (const child of children) child.kill('SIGKILL');
  await azurite.stop();
  rmSync(journal, { force: true });
}
