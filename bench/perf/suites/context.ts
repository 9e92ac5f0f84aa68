import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startAzurite, type RunningAzurite } from '../../../test/support/azurite.mjs';
import { onCleanup, spawnTracked, type Tracked } from '../support/processes.js';
import type { ReportTable } from '../support/report.js';

export interface BenchSettings {
  full: boolean;
  seed: number;
  /** Takeover trials per kind (crash, graceful) at D = 15 s and D = 60 s. */
  takeoverTrials15: number;
  takeoverTrials60: number;
  /** Priorities suite: trials per kind (crash, graceful) with priorities 3/2/1 and failback. */
  prioritiesTrials: number;
  gateBenchTimeMs: number;
  gateRounds: number;
  lockRuns: number;
  tickWindowMs: number;
  requestsWindowMs: number;
  lockSimWindowMs: number;
  candidates: number;
  candidatesDurationMs: number;
  leases: number;
  leasesWarmupMs: number;
  leasesDurationMs: number;
  /** Follower poll intervals to run the 1 000-lease scenario with (the default 2 000 first). */
  leasesRetryIntervalsMs: number[];
  stallFactors: number[];
  stallTrials: number;
  /** Who renews in the stall suite: the main event loop (default), the renewalThread option's worker, or both in turn. */
  stallRenewal: ('main' | 'thread')[];
  /** renewalThread.maxBlockedMs for the stall suite's thread runs (undefined = library default). */
  stallMaxBlockedMs?: number;
  /** renewalThread.exitOnBlockedDeadline for the stall suite's thread runs. */
  stallExitOnBlockedDeadline: boolean;
  /** renewal-cost suite: leadership settles this long before the window, then the window. */
  renewalCostWarmupMs: number;
  renewalCostWindowMs: number;
}

export interface SuiteContext {
  settings: BenchSettings;
  /** Folder for this run's raw files (journals, logs, worker results). */
  runDir: string;
  /** Repository root. */
  root: string;
  random: () => number;
  log(message: string): void;
  /** Starts a fresh in-memory Azurite for the suite (stopped at cleanup or with the returned stop()). */
  azurite(): Promise<RunningAzurite>;
  /** Runs a compiled worker (dist/bench/perf/app/<name>.js) with env; resolves when it exits. */
  spawnApp(name: string, script: string, env: NodeJS.ProcessEnv, nodeArgs?: string[]): Tracked;
}

/** A failIf probe for JournalReader.waitFor: names the first of `processes` that has exited. */
export function anyExited(
  processes: Iterable<Tracked> | (() => Iterable<Tracked>),
): () => string | undefined {
  const list = typeof processes === 'function' ? processes : () => processes;
  return () => {
    for (const tracked of list())
      if (!tracked.isRunning()) return `${tracked.name} exited unexpectedly (see its log)`;
    return undefined;
  };
}

export interface SuiteOutput {
  data: unknown;
  tables: ReportTable[];
}

export interface Suite {
  name: string;
  description: string;
  run(ctx: SuiteContext): Promise<SuiteOutput>;
}

/** Small seeded PRNG (mulberry32) so trial phases are reproducible with --seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function createContext(
  settings: BenchSettings,
  root: string,
  runDir: string,
  log: (message: string) => void,
): SuiteContext {
  mkdirSync(join(runDir, 'journals'), { recursive: true });
  mkdirSync(join(runDir, 'logs'), { recursive: true });
  return {
    settings,
    root,
    runDir,
    random: seededRandom(settings.seed),
    log,
    async azurite() {
      const azurite = await startAzurite();
      onCleanup(() => azurite.stop());
      return azurite;
    },
    spawnApp(name, script, env, nodeArgs = []) {
      return spawnTracked(
        name,
        process.execPath,
        ['--enable-source-maps', ...nodeArgs, join(root, 'dist', script)],
        {
          env: { NO_COLOR: '1', FORCE_COLOR: '0', ...env },
          logFile: join(runDir, 'logs', `${name}.log`),
        },
      );
    },
  };
}
