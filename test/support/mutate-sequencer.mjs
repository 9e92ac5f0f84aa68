// For `npm run mutate` (stryker.jest.config.mjs): the core's rule specs first, so that a mutant they
// catch is reported with their assertion before slower specs that may only hang on it.
import Sequencer from '@jest/test-sequencer';

export default class CoreRulesFirst extends Sequencer {
  sort(tests) {
    const rank = (path) => (/core-rules-[^/]*\.spec\.ts$/.test(path) ? 0 : 1);
    return [...tests].sort((a, b) => rank(a.path) - rank(b.path) || a.path.localeCompare(b.path));
  }
}
