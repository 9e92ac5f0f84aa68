// For `npm run mutate` (stryker.jest.config.mjs): the core's rule specs first, so that a mutant they
// catch is reported with their assertion before slower specs that may only hang on it. With
// MUTATE_RULES=record-loss,timing (the files being mutated), their own rule specs run before all others.
// Stryker runs each mutant with a testNamePattern naming the tests that cover it: spec files with none
// of those titles are left out (loading them costs seconds per mutant); a file with a title that is not
// a plain string literal is always kept.
import { readFileSync } from 'node:fs';
import Sequencer from '@jest/test-sequencer';

const own = (process.env.MUTATE_RULES ?? '')
  .split(',')
  .map((name) => name.trim())
  .filter(Boolean);

const titlesByFile = new Map();
/** The literal titles of a spec file's tests, or undefined when some title is not a literal. */
function literalTitles(path) {
  if (!titlesByFile.has(path)) {
    const source = readFileSync(path, 'utf8');
    const calls = source.match(/^\s*(?:it|test)(?:\.\w+)*\(/gm) ?? [];
    const titles = [...source.matchAll(/^\s*(?:it|test)\(\s*(['"])((?:\\.|(?!\1).)*)\1\s*,/gm)].map((match) =>
      match[2].replace(/\\(.)/g, '$1'),
    );
    const dynamic = titles.length !== calls.length; // a template, a concatenation, it.each, …
    titlesByFile.set(path, dynamic ? undefined : titles);
  }
  return titlesByFile.get(path);
}

export default class CoreRulesFirst extends Sequencer {
  constructor(options) {
    super(options);
    const pattern = options?.globalConfig?.testNamePattern;
    // The names in the pattern, unescaped: "(describe title)|(describe title)".
    this.names = pattern ? pattern.replace(/\\(.)/g, '$1') : undefined;
  }

  sort(tests) {
    const rank = (path) => {
      const rules = /core-rules-([^/]*)\.spec\.ts$/.exec(path);
      if (!rules) return 2;
      return own.includes(rules[1]) ? 0 : 1;
    };
    const names = this.names;
    const covering = (path) => {
      if (names === undefined) return true;
      const titles = literalTitles(path);
      return titles === undefined || titles.some((title) => names.includes(`${title})`));
    };
    return tests
      .filter((test) => covering(test.path))
      .sort((a, b) => rank(a.path) - rank(b.path) || a.path.localeCompare(b.path));
  }
}
