import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { catchUpScenarioArbitrary, runCatchUpScenario, stats, type Mutation } from './catch-up-sim.js';

/**
 * @LeaderOnly({ catchUp }) in the simulation tester: random tenures with gaps, late crons, slow and
 * failing ledger requests, on the real Azure tick ledger (see catch-up-sim.ts for the invariants).
 * SIM_SEED / SIM_RUNS_SCALE as for the election profiles.
 */
const SEED = Number(process.env.SIM_SEED ?? 20261207);
const SCALE = Number(process.env.SIM_RUNS_SCALE ?? 1);
const RUNS = Math.max(1, Math.round(500 * SCALE));

async function check(runs: number, mutation: Mutation = 'none'): Promise<string | undefined> {
  const details = await fc.check(
    fc.asyncProperty(catchUpScenarioArbitrary(), async (scenario) => {
      await runCatchUpScenario(scenario, mutation);
    }),
    { numRuns: runs, seed: SEED, endOnFailure: true },
  );
  return details.failed
    ? `seed ${SEED}, path ${details.counterexamplePath}: ${String(details.errorInstance)}`
    : undefined;
}

describe('simulation: catch-up of missed cron ticks', () => {
  it(`${RUNS} schedules: no tick runs twice, runs only inside tenures, no tick lost when a leader comes within the deadline`, async () => {
    expect((await check(RUNS)) ?? 'no invariant broken').toBe('no invariant broken');
    // Not vacuous: ticks ran, some of them as catch-ups.
    expect(stats.runs).toBeGreaterThan(RUNS);
    expect(stats.caughtUp).toBeGreaterThan(RUNS / 10);
  }, 180_000);

  it('the checker finds a lost tick when a new leader does not catch up (it can fail)', async () => {
    expect(await check(2_000, 'no-catch-up')).toMatch(/\[liveness\]/);
  }, 180_000);

  it('the checker finds a tick caught up past its deadline when the deadline is ignored (it can fail)', async () => {
    expect(await check(2_000, 'no-deadline')).toMatch(/\[deadline\]/);
  }, 180_000);

  it('the checker finds a tick run twice when the run starts before its claim (it can fail)', async () => {
    expect(await check(2_000, 'run-before-claim')).toMatch(/\[once\]/);
  }, 180_000);

  it('the checker finds a tick run twice on a store that ignores If-Match (it can fail)', async () => {
    expect(await check(2_000, 'ignore-if-match')).toMatch(/\[once\]/);
  }, 180_000);
});
