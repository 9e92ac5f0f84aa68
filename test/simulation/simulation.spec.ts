import { describe, expect, it } from '@jest/globals';
import { PINNED } from './pinned.js';
import { simulate } from './run.js';
import { describeScenario, PROFILES, runScenario } from './scenario.js';

/**
 * The simulation tester's budget in `npm test` (about a minute on a quiet machine): a fixed number
 * of schedules per profile from a fixed seed (SIM_SEED overrides it, SIM_RUNS_SCALE scales the
 * counts), then the pinned regression schedules. A failure prints the seed, the path, the shrunk
 * schedule and its trace; replay it with `npm run simulate -- --profile P --seed S --path "…"`.
 * `npm run simulate -- --runs N` explores further.
 */
const SEED = Number(process.env.SIM_SEED ?? 20261207);
const SCALE = Number(process.env.SIM_RUNS_SCALE ?? 1);
const BUDGET: Record<string, number> = {
  mixed: 1000,
  stepdown: 400,
  handover: 400,
  successor: 400,
  recordLoss: 1500,
  slots: 60,
  listing: 600,
  drainFails: 600,
  fast: 600,
};

describe('simulation: random schedules keep every invariant', () => {
  for (const [profile, runs] of Object.entries(BUDGET)) {
    it(`${profile}: ${Math.max(1, Math.round(runs * SCALE))} schedules (seed ${SEED})`, async () => {
      const result = await simulate(profile, Math.max(1, Math.round(runs * SCALE)), SEED);
      expect(result.report ?? 'no invariant broken').toBe('no invariant broken');
      expect(result.runs).toBe(Math.max(1, Math.round(runs * SCALE)));
    }, 180_000);
  }

  it('every profile is in the budget', () => {
    expect(Object.keys(BUDGET).sort()).toEqual(Object.keys(PROFILES).sort());
  });
});

describe('simulation: pinned schedules (each broke an invariant on the core of 039637a)', () => {
  for (const pinned of PINNED) {
    it(
      pinned.name,
      async () => {
        let error: unknown;
        await runScenario(pinned.scenario()).catch((e: unknown) => (error = e));
        expect(
          error === undefined
            ? 'no invariant broken'
            : `${String(error)}\n${describeScenario(pinned.scenario())}`,
        ).toBe('no invariant broken');
      },
      60_000,
    );
  }
});
