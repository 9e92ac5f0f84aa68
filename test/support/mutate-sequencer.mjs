// For `npm run mutate` (stryker.jest.config.mjs): the core's rule specs first, so that a mutant they
// catch is reported with their assertion before slower specs that may only hang on it. With
// MUTATE_RULES=record-loss,timing (the files being mutated), their own rule specs run before all others:
// jest bails after the first failing spec file, so an elector spec that only hangs never runs.
import Sequencer from '@jest/test-sequencer';

const own = (process.env.MUTATE_RULES ?? '')
  .split(',')
  .map((name) => name.trim())
  .filter(Boolean);

export default class CoreRulesFirst extends Sequencer {
  sort(tests) {
    const rank = (path) => {
      const rules = /core-rules-([^/]*)\.spec\.ts$/.exec(path);
      if (!rules) return 2;
      return own.includes(rules[1]) ? 0 : 1;
    };
    return [...tests].sort((a, b) => rank(a.path) - rank(b.path) || a.path.localeCompare(b.path));
  }
}
