// For `npm run mutate` (stryker.jest.config.mjs): once a test has failed for the active mutant, the
// remaining tests of that run are skipped. Stryker's jest runner turns jest's bail off, so without this
// every covering test runs, and each one a mutant makes hang costs the full jest timeout. The first
// failing test (the one Stryker reports) is unchanged: it failed before anything was skipped.
/* global require, module */
// CommonJS: Stryker's jest runner loads the test environment with require().
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { TestEnvironment } = require('jest-environment-node');

let failedMutant; // the active mutant for which a test has already failed, in this Stryker worker

class SkipAfterFirstFailure extends TestEnvironment {
  async handleTestEvent(event) {
    const mutant = process.env.__STRYKER_ACTIVE_MUTANT__;
    if (mutant === undefined) return;
    if (event.name === 'test_start' && failedMutant === mutant) event.test.mode = 'skip';
    if (event.name === 'test_done' && event.test.errors.length > 0) failedMutant = mutant;
  }
}

module.exports = SkipAfterFirstFailure;
