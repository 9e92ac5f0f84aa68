/**
 * `npm run bench`: benchmarks of nestjs-leader-election on a real Azurite with real processes.
 *
 *   npm run bench                       quick run of every suite (≈ 17 min on 2 cores)
 *   npm run bench -- --full             more trials and longer windows (≈ 1 h)
 *   npm run bench -- --only gate,scale  some suites (takeover, priorities, gate, requests, scale, stall)
 *   npm run bench -- --help             every option
 *
 * Results: a table per measurement on the terminal, and under bench/results/<run>/ the raw JSON
 * (results.json), the same tables in Markdown (tables.md), journals and child logs.
 * Every child process (Azurite, replicas, workers) is stopped at the end, on error and on Ctrl-C.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cleanupAll } from './support/processes.js';
import { renderMarkdown, renderTerminal } from './support/report.js';
import { createContext, type BenchSettings, type Suite } from './suites/context.js';
import { gateSuite } from './suites/gate.js';
import { prioritiesSuite } from './suites/priorities.js';
import { requestsSuite } from './suites/requests.js';
import { scaleSuite } from './suites/scale.js';
import { renewalCostSuite } from './suites/renewal-cost.js';
import { stallSuite } from './suites/stall.js';
import { takeoverSuite } from './suites/takeover.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SUITES: Suite[] = [
  takeoverSuite,
  prioritiesSuite,
  gateSuite,
  requestsSuite,
  scaleSuite,
  stallSuite,
  renewalCostSuite,
];

const HELP = `Usage: npm run bench -- [options]

  --only <list>            suites to run, comma-separated: ${SUITES.map((s) => s.name).join(', ')} (default: all)
  --skip <list>            suites to leave out
  --full                   the long profile: more trials, longer windows
  --takeover-trials <n>    trials per kind (SIGKILL, SIGTERM) at D = 15 s   (quick 5, full 15)
  --takeover-trials-60 <n> trials per kind (SIGKILL, SIGTERM) at D = 60 s   (quick 3, full 8)
  --priorities-trials <n>  trials per kind (SIGKILL, SIGTERM) with priorities 3/2/1 and failback (quick 3, full 8)
  --requests-minutes <m>   window of the requests-per-hour measurement      (quick 2, full 10)
  --scale-seconds <s>      window of each scale measurement                 (quick 60, full 300)
  --stall-factors <list>   event-loop stall lengths as multiples of D       (default 0.5,1,2)
  --stall-trials <n>       trials per stall factor                          (quick 1, full 3)
  --renewal <list>         stall suite: who renews, main and/or thread (the renewalThread option)
                                                                            (default main)
  --max-blocked-ms <ms>    stall suite, thread runs: renewalThread.maxBlockedMs (default the library's, 60000)
  --exit-on-blocked-deadline  stall suite, thread runs: renewalThread.exitOnBlockedDeadline
  --cost-seconds <s>       renewal-cost suite: idle-leadership window per case (quick 60, full 300)
  --seed <n>               seed for the random trial phases                 (default 42)
  --out <dir>              results folder                                   (default bench/results)
  -h, --help               this text
`;

function parseList(value: string | undefined): string[] | undefined {
  return value === undefined
    ? undefined
    : value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
}

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${value}`);
  return n;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      skip: { type: 'string' },
      full: { type: 'boolean', default: false },
      'takeover-trials': { type: 'string' },
      'takeover-trials-60': { type: 'string' },
      'priorities-trials': { type: 'string' },
      'requests-minutes': { type: 'string' },
      'scale-seconds': { type: 'string' },
      'stall-factors': { type: 'string' },
      'stall-trials': { type: 'string' },
      renewal: { type: 'string' },
      'max-blocked-ms': { type: 'string' },
      'exit-on-blocked-deadline': { type: 'boolean', default: false },
      'cost-seconds': { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const full = values.full ?? false;
  const only = parseList(values.only);
  const skip = parseList(values.skip) ?? [];
  for (const name of [...(only ?? []), ...skip]) {
    if (!SUITES.some((suite) => suite.name === name))
      throw new Error(`unknown suite "${name}"; known: ${SUITES.map((s) => s.name).join(', ')}`);
  }
  const selected = SUITES.filter(
    (suite) => (only ? only.includes(suite.name) : true) && !skip.includes(suite.name),
  );
  const scaleMs = positive('scale-seconds', values['scale-seconds'], full ? 300 : 60) * 1000;
  const stallFactors = (parseList(values['stall-factors']) ?? ['0.5', '1', '2']).map((f) =>
    positive('stall-factors', f, 1),
  );
  const stallRenewal = parseList(values.renewal) ?? ['main'];
  for (const mode of stallRenewal)
    if (mode !== 'main' && mode !== 'thread')
      throw new Error(`--renewal takes main and/or thread, got "${mode}"`);
  const settings: BenchSettings = {
    full,
    seed: positive('seed', values.seed, 42),
    takeoverTrials15: Math.round(positive('takeover-trials', values['takeover-trials'], full ? 15 : 5)),
    takeoverTrials60: Math.round(positive('takeover-trials-60', values['takeover-trials-60'], full ? 8 : 3)),
    prioritiesTrials: Math.round(positive('priorities-trials', values['priorities-trials'], full ? 8 : 3)),
    gateBenchTimeMs: 1000,
    gateRounds: full ? 7 : 3,
    lockRuns: full ? 1000 : 300,
    tickWindowMs: full ? 60_000 : 20_000,
    requestsWindowMs: positive('requests-minutes', values['requests-minutes'], full ? 10 : 2) * 60_000,
    lockSimWindowMs: full ? 120_000 : 60_000,
    candidates: 100,
    candidatesDurationMs: scaleMs,
    leases: 1000,
    leasesWarmupMs: 20_000,
    leasesDurationMs: scaleMs,
    leasesRetryIntervalsMs: [2_000, 10_000],
    stallFactors,
    stallTrials: Math.round(positive('stall-trials', values['stall-trials'], full ? 3 : 1)),
    renewalCostWarmupMs: 10_000,
    renewalCostWindowMs: positive('cost-seconds', values['cost-seconds'], full ? 300 : 60) * 1000,
    stallExitOnBlockedDeadline: values['exit-on-blocked-deadline'] ?? false,
    stallRenewal: stallRenewal as ('main' | 'thread')[],
    ...(values['max-blocked-ms'] !== undefined
      ? { stallMaxBlockedMs: positive('max-blocked-ms', values['max-blocked-ms'], 60_000) }
      : {}),
  };

  const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace('T', '_').slice(0, 19);
  const outDir = resolve(values.out ?? join(root, 'bench', 'results'));
  const runDir = join(outDir, `${stamp}${full ? '-full' : ''}`);
  mkdirSync(runDir, { recursive: true });
  const started = Date.now();
  const log = (message: string): void => {
    const t = ((Date.now() - started) / 1000).toFixed(0).padStart(5);
    process.stdout.write(`[${t} s] ${message}\n`);
  };

  const machine = describeMachine();
  log(
    `nestjs-leader-election benchmarks (${full ? 'full' : 'quick'} profile), suites: ${selected.map((s) => s.name).join(', ')}`,
  );
  log(
    `${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}, Azurite ${machine.azurite}; results in ${relative(process.cwd(), runDir) || '.'}`,
  );

  const ctx = createContext(settings, root, runDir, log);
  const results: Record<string, unknown> = {};
  const markdown: string[] = [];
  let failed = 0;
  for (const suite of selected) {
    const t0 = Date.now();
    const load0 = loadavg();
    log(`▶ ${suite.name}: ${suite.description} (load average ${load0.map((l) => l.toFixed(2)).join(' ')})`);
    try {
      const output = await suite.run(ctx);
      // Load average before/after: other work on the machine would skew timings.
      results[suite.name] = {
        durationMs: Date.now() - t0,
        loadAverage: { before: load0, after: loadavg() },
        ...(output.data as object),
      };
      for (const table of output.tables) process.stdout.write(`${renderTerminal(table)}\n`);
      markdown.push(`### ${suite.name}\n\n${output.tables.map(renderMarkdown).join('\n\n')}`);
      log(`✔ ${suite.name} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    } catch (error) {
      failed++;
      results[suite.name] = { error: error instanceof Error ? error.stack : String(error) };
      log(`✘ ${suite.name} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    await cleanupAll(); // nothing of one suite survives into the next
    writeResults();
  }

  function writeResults(): void {
    writeFileSync(
      join(runDir, 'results.json'),
      JSON.stringify(
        {
          startedAt: new Date(started).toISOString(),
          durationMs: Date.now() - started,
          machine,
          settings,
          results,
        },
        null,
        2,
      ),
    );
    writeFileSync(
      join(runDir, 'tables.md'),
      `<!-- ${stamp} ${full ? 'full' : 'quick'} -->\n\n${markdown.join('\n\n')}\n`,
    );
  }
  writeResults();
  log(
    `done in ${((Date.now() - started) / 60_000).toFixed(1)} min: ${join(relative(process.cwd(), runDir), 'results.json')}, tables.md${failed ? `; ${failed} suite(s) FAILED` : ''}`,
  );
  return failed ? 1 : 0;
}

function describeMachine(): {
  cpus: number;
  cpuModel: string;
  memoryGB: number;
  node: string;
  azurite: string;
  os: string;
} {
  const pkg = (name: string): string => {
    try {
      return (
        JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as {
          version: string;
        }
      ).version;
    } catch {
      return '?';
    }
  };
  let os = process.platform;
  try {
    os = execFileSync('uname', ['-sr'], { encoding: 'utf8' }).trim() as NodeJS.Platform;
  } catch {
    // keep the platform name
  }
  return {
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? '?',
    memoryGB: Math.round(totalmem() / 2 ** 30),
    node: process.versions.node,
    azurite: pkg('azurite'),
    os,
  };
}

main().then(
  async (code) => {
    await cleanupAll();
    process.exit(code);
  },
  async (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    await cleanupAll();
    process.exit(1);
  },
);
