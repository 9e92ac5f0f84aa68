// Catch-up of missed cron ticks (issue 21 part 2): a leader killed (SIGKILL) 1 s before a cron tick.
// Each trial is one lease with two replica processes (bench/perf/app/catch-up-replica.ts, a @Cron
// every 30 s): a leads, b follows; a is killed 1 s before a tick, so the tick falls into the 15 s
// the lease takes to expire. Counts, per trial, how many times that tick ran: with catch-up off the
// tick is lost (0); on, b runs it once on takeover. Trials run in batches aligned on one tick, half
// off and half on. Run under the shared lock, after `npm run build && npm run build:apps`:
//   flock /tmp/nle-heavy.lock npx tsx bench/perf/catch-up.ts [--trials 20] [--batch 5]
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { startAzurite } from '../../test/support/azurite.mjs';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const TRIALS = arg('trials', 20);
const BATCH = arg('batch', 5);
const PERIOD_MS = 30_000;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const dir = mkdtempSync(join(tmpdir(), 'bench-catch-up-'));
const azurite = await startAzurite();
const container = `bench-catchup-${randomUUID().slice(0, 8)}`;
const children: ChildProcess[] = [];

interface Entry {
  event: string;
  replica: string;
  tickAt?: number;
  at: number;
  term?: number;
}

function journalOf(file: string): Entry[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Entry);
}

function replica(trial: string, name: string, catchUp: boolean): ChildProcess {
  const child = spawn(process.execPath, ['dist/bench/perf/app/catch-up-replica.js'], {
    env: {
      ...process.env,
      STORAGE_PORT: String(azurite.port),
      CONTAINER_NAME: container,
      LEASE_NAME: trial,
      REPLICA: name,
      JOURNAL: join(dir, `${trial}.jsonl`),
      CATCH_UP: catchUp ? '1' : '0',
      DEADLINE_MS: '25000',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  return child;
}

async function until(what: string, predicate: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

interface Result {
  catchUp: boolean;
  runsOfTick: number;
  takeoverMs: number | undefined;
  catchUpDelayMs: number | undefined;
}
const results: Result[] = [];

for (let start = 0; start < TRIALS * 2; start += BATCH * 2) {
  const trials = Array.from({ length: Math.min(BATCH * 2, TRIALS * 2 - start) }, (_, i) => ({
    lease: `trial-${start + i}-${randomUUID().slice(0, 6)}`,
    catchUp: i % 2 === 1,
  }));
  const leaders = trials.map((trial) => ({ trial, a: replica(trial.lease, 'a', trial.catchUp) }));
  for (const { trial } of leaders)
    await until(
      `a leads ${trial.lease}`,
      () => journalOf(join(dir, `${trial.lease}.jsonl`)).some((e) => e.event === 'leader'),
      30_000,
    );
  const followers = trials.map((trial) => replica(trial.lease, 'b', trial.catchUp));
  for (const trial of trials)
    await until(
      `b boots ${trial.lease}`,
      () => journalOf(join(dir, `${trial.lease}.jsonl`)).some((e) => e.replica === 'b' && e.event === 'boot'),
      30_000,
    );
  let tick = Math.ceil(Date.now() / PERIOD_MS) * PERIOD_MS;
  if (tick - Date.now() < 3_000) tick += PERIOD_MS;
  await sleep(tick - 1_000 - Date.now());
  const killedAt = Date.now();
  for (const { a } of leaders) a.kill('SIGKILL');
  await sleep(tick + 25_000 - Date.now()); // past takeover (~15 s) and the deadline
  for (const b of followers) b.kill('SIGTERM');
  for (const trial of trials) {
    const journal = journalOf(join(dir, `${trial.lease}.jsonl`));
    const runs = journal.filter((e) => e.event === 'run' && e.tickAt === tick);
    const takeover = journal.find((e) => e.replica === 'b' && e.event === 'leader');
    results.push({
      catchUp: trial.catchUp,
      runsOfTick: runs.length,
      takeoverMs: takeover ? takeover.at - killedAt : undefined,
      catchUpDelayMs: runs[0] ? runs[0].at - tick : undefined,
    });
  }
  console.log(
    `batch at tick ${new Date(tick).toISOString()}: ${JSON.stringify(results.slice(-trials.length))}`,
  );
  await sleep(2_000);
}

for (const catchUp of [false, true]) {
  const mine = results.filter((r) => r.catchUp === catchUp);
  const delays = mine
    .map((r) => r.catchUpDelayMs)
    .filter((ms): ms is number => ms !== undefined)
    .sort((x, y) => x - y);
  console.log(
    `catch-up ${catchUp ? 'on ' : 'off'}: ${mine.length} trials; tick ran once in ${mine.filter((r) => r.runsOfTick === 1).length}, ` +
      `lost in ${mine.filter((r) => r.runsOfTick === 0).length}, ran twice or more in ${mine.filter((r) => r.runsOfTick > 1).length}` +
      (delays.length
        ? `; run ${delays[0]}–${delays[delays.length - 1]} ms after the tick (median ${delays[Math.floor(delays.length / 2)]})`
        : ''),
  );
}
for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
await azurite.stop();
