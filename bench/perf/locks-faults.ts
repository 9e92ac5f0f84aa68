// Per-run jobs under process faults (issue 22): 3 replica processes (bench/perf/locks-replica.ts)
// tick once per second with wall clocks offset by 0, +1.2 s and −2.5 s; every 20 s one replica gets
// a fault in turn: SIGSTOP for 20 s (then SIGCONT), or SIGKILL and a restart. The journal then shows
// every tick's runs: doubled ticks (must be 0), missed ticks, share per replica.
//   flock /tmp/nle-heavy.lock npx tsx bench/perf/locks-faults.ts [--seconds 180]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { startAzurite } from '../../test/support/azurite.mjs';

const i = process.argv.indexOf('--seconds');
const SECONDS = i >= 0 ? Number(process.argv[i + 1]) : 180;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const azurite = await startAzurite();
const dir = mkdtempSync(join(tmpdir(), 'locks-faults-'));
const journal = join(dir, 'journal.jsonl');
const job = `faults-${randomUUID().slice(0, 8)}`;
const offsets = [0, 1_200, -2_500];
const children: (ChildProcess | undefined)[] = [];
const faults: string[] = [];

function start(index: number): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/perf/locks-replica.ts'], {
    env: {
      ...process.env,
      AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
      CONTAINER_NAME: 'bench-locks-faults',
      JOB: job,
      REPLICA: `replica-${index}`,
      OFFSET_MS: String(offsets[index]),
      JOURNAL: journal,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  children[index] = child;
  return child;
}

const startedAt = Date.now();
try {
  offsets.forEach((_, index) => start(index));
  await sleep(10_000);
  let round = 0;
  while (Date.now() - startedAt < SECONDS * 1000 - 30_000) {
    const index = round % 3;
    const child = children[index]!;
    if (round % 2 === 0) {
      faults.push(`${Math.round((Date.now() - startedAt) / 1000)} s: SIGSTOP replica-${index} for 20 s`);
      child.kill('SIGSTOP');
      await sleep(20_000);
      child.kill('SIGCONT');
    } else {
      faults.push(`${Math.round((Date.now() - startedAt) / 1000)} s: SIGKILL replica-${index}, restart`);
      child.kill('SIGKILL');
      await sleep(2_000);
      start(index);
      await sleep(18_000);
    }
    round++;
  }
  while (Date.now() - startedAt < SECONDS * 1000) await sleep(1_000);
} finally {
  for (const child of children) child?.kill('SIGKILL');
  await sleep(500);
  await azurite.stop();
}

const entries = readFileSync(journal, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((line) => JSON.parse(line) as { event: string; tickAt?: number; replica: string; term?: number });
const runs = new Map<number, string[]>();
for (const entry of entries)
  if (entry.event === 'run') runs.set(entry.tickAt!, [...(runs.get(entry.tickAt!) ?? []), entry.replica]);
const first = Math.ceil((startedAt + 15_000) / 1000) * 1000;
const last = Math.floor((startedAt + SECONDS * 1000 - 5_000) / 1000) * 1000;
let missed = 0;
let doubled = 0;
const missedAt: number[] = [];
const share = new Map<string, number>();
for (let t = first; t <= last; t += 1000) {
  const ran = runs.get(t) ?? [];
  if (ran.length === 0) {
    missed++;
    missedAt.push(Math.round((t - startedAt) / 1000));
  }
  if (ran.length > 1) doubled++;
  for (const name of ran) share.set(name, (share.get(name) ?? 0) + 1);
}
const ticks = (last - first) / 1000 + 1;
console.log(`\n## Per-run under faults: 3 replica processes, ${SECONDS} s, offsets ${offsets.join(', ')} ms`);
console.log(faults.join('\n'));
console.log(`ticks checked: ${ticks}; doubled: ${doubled}; missed: ${missed} (at ${missedAt.join(', ')} s)`);
console.log(`errors journaled: ${entries.filter((e) => e.event === 'error').length}`);
console.log(
  `share: ${[...share]
    .sort()
    .map(([n, c]) => `${n} ${((100 * c) / ticks).toFixed(1)} %`)
    .join(', ')}`,
);
console.log(`journal: ${journal}`);
