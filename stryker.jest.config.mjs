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
  // A mutant that makes a test hang fails it after 2 s instead of 5 s: the run then ends before
  // Stryker's own timeout, and the assertions of the other tests are reported. Kills whose reason is
  // this timeout are counted as hangs, not as assertion kills (docs/mutation/README.md).
  testTimeout: 2_000,
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
