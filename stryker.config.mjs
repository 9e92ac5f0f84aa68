// npm run mutate: StrykerJS over the core's rule files, each mutant judged by the unit tests that
// cover it (not part of npm test: minutes of CPU). Results: reports/mutation/, score in docs/GUARANTEES.md.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'jest',
  testRunnerNodeArgs: ['--experimental-vm-modules'],
  jest: { configFile: 'stryker.jest.config.mjs', enableFindRelatedTests: false },
  coverageAnalysis: 'perTest',
  mutate: [
    'lib/core/candidacy.ts',
    'lib/core/free-lease-preference.ts',
    'lib/core/leader-elector.ts',
    'lib/core/leader-task.ts',
    'lib/core/presence-agent.ts',
    'lib/core/record-loss.ts',
    'lib/core/store-tenure-keeper.ts',
    'lib/core/tenure.ts',
    'lib/core/tenure-keeper.ts',
    'lib/core/timing.ts',
  ],
  concurrency: 2,
  timeoutMS: 10_000,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  ignorePatterns: ['dist', 'reports', 'bench', 'sample-app', 'test/e2e', 'test/integration', 'test/vitest'],
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
};
