// The unit tests of the core, for `npm run mutate` (no Azurite, no projects: Stryker's per-test
// coverage needs one plain config).
/** @type {import('jest').Config} */
export default {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }] },
  testEnvironment: 'node',
  testMatch: [
    '<rootDir>/test/unit/leader-elector*.spec.ts',
    '<rootDir>/test/unit/leader-task.spec.ts',
    '<rootDir>/test/unit/presence-priorities.spec.ts',
    '<rootDir>/test/unit/tenure.spec.ts',
  ],
};
