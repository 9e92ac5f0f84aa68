// The unit tests of the core, for `npm run mutate` (no Azurite, no projects: Stryker's per-test
// coverage needs one plain config).
import { fileURLToPath } from 'node:url';

const simulation = process.env.MUTATE_SIMULATION === '1';
/** @type {import('jest').Config} */
export default {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
    '^nestjs-leader-election$': '<rootDir>/lib/index.ts',
    '^nestjs-leader-election/testing$': '<rootDir>/lib/testing/index.ts',
  },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }] },
  // Skips the rest of a mutant's run after its first failing test (test/support/mutate-environment.cjs).
  testEnvironment: fileURLToPath(new URL('test/support/mutate-environment.cjs', import.meta.url)),
  // Jest's default 5 s: a 2 s bound failed elector specs by timeout under a loaded machine on mutants
  // that change nothing (2026-12-07 night run). A hang costs one timeout: the rest of its run is skipped
  // (mutate-environment.cjs). Kills whose reason is a timeout count as hangs (docs/mutation/README.md).
  testTimeout: 5_000,
  testSequencer: '<rootDir>/test/support/mutate-sequencer.mjs',
  testMatch: [
    '<rootDir>/test/unit/core-rules-*.spec.ts',
    '<rootDir>/test/unit/leader-elector*.spec.ts',
    '<rootDir>/test/unit/leader-task.spec.ts',
    '<rootDir>/test/unit/presence-priorities.spec.ts',
    '<rootDir>/test/unit/review-core.spec.ts',
    '<rootDir>/test/unit/tenure.spec.ts',
    // MUTATE_SIMULATION=1: also the deterministic simulation, on a small budget (SIM_RUNS_SCALE).
    ...(simulation ? ['<rootDir>/test/simulation/simulation.spec.ts'] : []),
  ],
};
