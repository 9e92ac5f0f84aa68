// Jest in ESM mode (Nest 12 is ESM-only): run through `node --experimental-vm-modules`.
/** @type {import('ts-jest').TsJestTransformerOptions} */
const tsJest = { useESM: true, tsconfig: 'tsconfig.json' };

const shared = {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
    '^nestjs-leader-election$': '<rootDir>/lib/index.ts',
    '^nestjs-leader-election/testing$': '<rootDir>/lib/testing/index.ts',
  },
  transform: { '^.+\\.ts$': ['ts-jest', tsJest] },
  testEnvironment: 'node',
};

/** @type {import('jest').Config} */
export default {
  ...shared,
  // One in-memory Azurite for the whole run, on a free port; tests read AZURITE_CONNECTION_STRING.
  globalSetup: '<rootDir>/test/support/global-setup.mjs',
  globalTeardown: '<rootDir>/test/support/global-teardown.mjs',
  projects: [
    { ...shared, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.spec.ts'] },
    { ...shared, displayName: 'integration', testMatch: ['<rootDir>/test/integration/**/*.spec.ts'] },
    {
      ...shared,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.spec.ts'],
      testPathIgnorePatterns: ['/node_modules/', '/test/e2e/chaos\\.e2e\\.spec\\.ts$'],
    },
    // The seeded fault-harness run (about 2 min of real time): in `npm run test:all`, not `npm test`.
    { ...shared, displayName: 'chaos', testMatch: ['<rootDir>/test/e2e/chaos.e2e.spec.ts'] },
    // Deterministic simulation (virtual time only): a bounded budget of schedules plus pinned regressions.
    { ...shared, displayName: 'simulation', testMatch: ['<rootDir>/test/simulation/**/*.spec.ts'] },
  ],
};
