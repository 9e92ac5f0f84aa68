/**
 * The simulation tester's command line: `npm run simulate -- --runs N [--seed S] [--path P]
 * [--profile mixed|handover|recordLoss|slots|all] [--trace]`. Runs N schedules per profile; on a
 * failure prints the seed, the path, the shrunk schedule and its trace, and exits 1. Replays a
 * failure with the printed --seed, --path and --profile.
 */
import fc from 'fast-check';
import { performance } from 'node:perf_hooks';
import type { World } from './world.js';
import {
  toPinned,
  describeScenario,
  PROFILES,
  runScenario,
  scenarioArbitrary,
  type Scenario,
} from './scenario.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

export interface SimulationResult {
  profile: string;
  runs: number;
  failed: boolean;
  seed: number;
  path?: string;
  wallMs: number;
  firstFailure?: { run: number; wallMs: number };
  report?: string;
  virtualMs: number;
}

/** Runs `runs` schedules of a profile; on failure, shrinks and describes the counterexample with its trace. */
export async function simulate(
  profileName: string,
  runs: number,
  seed: number,
  path?: string,
): Promise<SimulationResult> {
  const profile = PROFILES[profileName];
  if (!profile)
    throw new Error(`unknown profile "${profileName}" (known: ${Object.keys(PROFILES).join(', ')})`);
  let executed = 0;
  let virtualMs = 0;
  let firstFailure: SimulationResult['firstFailure'];
  const started = performance.now();
  const property = fc.asyncProperty(scenarioArbitrary(profile), async (scenario: Scenario) => {
    executed += 1;
    try {
      const world = await runScenario(scenario);
      virtualMs += world.stats().virtualMs;
    } catch (error) {
      firstFailure ??= { run: executed, wallMs: performance.now() - started };
      throw error;
    }
  });
  const details = await fc.check(property, {
    numRuns: runs,
    seed,
    ...(path !== undefined ? { path } : {}),
    // Shrinking a long schedule is worth a few hundred attempts, not hours.
    maxSkipsPerRun: 100,
  });
  const wallMs = performance.now() - started;
  if (!details.failed)
    return { profile: profileName, runs: details.numRuns, failed: false, seed, wallMs, virtualMs };
  const scenario = details.counterexample![0] as Scenario;
  let traced: World | undefined;
  // Re-run the shrunk schedule with tracing to show what happened, step by step.
  let replayError = '';
  const world = await runScenario(scenario, true, (w) => (traced = w)).catch((error: unknown) => {
    replayError = error instanceof Error ? error.message : String(error);
    return undefined;
  });
  void world;
  const trace = traced?.traceText ?? '';
  const error =
    details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
  const report = [
    `FAILED (profile ${profileName}) after ${details.numRuns} run(s), ${details.numShrinks} shrink(s)`,
    `replay: npm run simulate -- --profile ${profileName} --seed ${details.seed} --path "${details.counterexamplePath}"`,
    `violation: ${replayError || error}`,
    'schedule (shrunk):',
    describeScenario(scenario),
    `as data (for test/simulation/pinned.ts): ${JSON.stringify(toPinned(scenario))}`,
    'trace (virtual time, replica, store call → result):',
    trace,
  ].join('\n');
  return {
    profile: profileName,
    runs: details.numRuns,
    failed: true,
    seed: details.seed,
    path: details.counterexamplePath ?? undefined,
    wallMs,
    firstFailure,
    report,
    virtualMs,
  };
}

/**
 * Throughput and a census of what breaks, without shrinking: runs `runs` schedules of a profile and
 * counts them by the first invariant each one broke ("ok" when none did).
 */
export async function survey(
  profileName: string,
  runs: number,
  seed: number,
): Promise<{
  wallMs: number;
  virtualMs: number;
  counts: Record<string, number>;
  firstSeen: Record<string, number>;
}> {
  const profile = PROFILES[profileName];
  if (!profile) throw new Error(`unknown profile "${profileName}"`);
  const counts: Record<string, number> = {};
  const firstSeen: Record<string, number> = {};
  let virtualMs = 0;
  const started = performance.now();
  const scenarios = fc.sample(scenarioArbitrary(profile), { seed, numRuns: runs });
  const only = arg('only');
  for (const [i, scenario] of scenarios.entries()) {
    if (only !== undefined && i + 1 !== Number(only)) continue;
    if (only !== undefined) {
      const world = await runScenario(scenario, true, (w) => (current = w)).catch((e: unknown) => e);
      console.log(describeScenario(scenario));
      console.log(`as data: ${JSON.stringify(toPinned(scenario))}`);
      console.log(current?.traceText);
      console.log(String(world));
      break;
    }
    let key = 'ok';
    const world = await runScenario(scenario, false, (w) => (current = w)).catch((error: unknown) => {
      key = (error as { invariant?: string }).invariant ?? `error: ${String(error).slice(0, 60)}`;
      if (process.argv.includes('--verbose'))
        console.log(`  #${i + 1} ${key}: ${String(error).slice(0, 300)}`);
      return undefined;
    });
    virtualMs += (world ?? current)?.stats().virtualMs ?? 0;
    counts[key] = (counts[key] ?? 0) + 1;
    firstSeen[key] ??= i + 1;
  }
  return { wallMs: performance.now() - started, virtualMs, counts, firstSeen };
}
let current: World | undefined;

async function main(): Promise<void> {
  if (process.argv.includes('--survey')) {
    const which = arg('profile') ?? 'all';
    const runs = Number(arg('runs') ?? 1000);
    const seed = Number(arg('seed') ?? 1);
    for (const profile of which === 'all' ? Object.keys(PROFILES) : [which]) {
      const r = await survey(profile, runs, seed);
      console.log(
        `${profile}: ${runs} schedules in ${(r.wallMs / 1000).toFixed(1)} s (${((runs / r.wallMs) * 1000).toFixed(1)}/s, ${(r.virtualMs / 3_600_000).toFixed(1)} h virtual); first broken invariant: ${JSON.stringify(r.counts)}; first seen at schedule ${JSON.stringify(r.firstSeen)}`,
      );
    }
    return;
  }
  const runs = Number(arg('runs') ?? 1000);
  const seed = Number(arg('seed') ?? Date.now() % 0x7fffffff);
  const path = arg('path');
  const which = arg('profile') ?? 'all';
  const profiles = which === 'all' ? Object.keys(PROFILES) : [which];
  let failed = false;
  for (const profile of profiles) {
    const result = await simulate(profile, runs, seed, path);
    const rate = (result.runs / result.wallMs) * 1000;
    console.log(
      `${profile}: ${result.failed ? 'FAILED' : 'passed'} ${result.runs} schedule(s) in ${(result.wallMs / 1000).toFixed(1)} s (${rate.toFixed(1)}/s, ${(result.virtualMs / 3_600_000).toFixed(1)} h virtual), seed ${seed}` +
        (result.firstFailure
          ? `; first failure at run ${result.firstFailure.run} after ${(result.firstFailure.wallMs / 1000).toFixed(1)} s`
          : ''),
    );
    if (result.report) {
      console.log(result.report);
      failed = true;
      if (process.argv.includes('--stop-on-failure')) break;
    }
  }
  process.exit(failed ? 1 : 0);
}

if (process.argv[1] && /run\.ts$/.test(process.argv[1])) void main();
