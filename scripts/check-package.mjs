#!/usr/bin/env node
// Checks the package as npm would publish it: `npm pack` (prepack builds dist/) in a staged copy of
// the sources, then, on the tarball, offline:
// - its file list: only the built library (dist/lib: .js, .d.ts, .js.map with inlined sources),
//   package.json, README.md, CHANGELOG.md and LICENSE; every file that "exports" names is in it;
// - publint --strict (package.json fields, exports, file formats);
// - that what package.json claims is what the tests run: every Node major in "engines" is the one
//   `npm test` runs on or one of test/compat/node's pinned runtimes (scripts/test-matrix.mjs), and
//   back; every @nestjs/common, core and schedule major in "peerDependencies" is the repository's own
//   devDependency (Nest 12) or test/compat/nest11's (scripts/test-nest11.mjs), and back;
// - @arethetypeswrong/cli (types for every entry point of "exports", under the node10, node16-cjs,
//   node16-esm and bundler resolutions), and this script checks that its report covers every
//   subpath of "exports" (so a new entry point such as "./testing" is checked with no change here).
//
// One attw rule is ignored: cjs-resolves-to-esm. attw (its bundled TypeScript 5.6) reports that a
// CommonJS `require` of this ESM-only package needs a dynamic import. That was true before
// require(esm): Node 20.19+ and 22.12+ (this package's engines) loads ESM with require(), and TypeScript
// >= 5.8 (module nodenext) compiles it. test/e2e/package-entry.e2e.spec.ts proves it on the packed
// tarball: a CommonJS Nest app compiled with tsc requires every entry point and boots.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const IGNORED_ATTW_RULES = ['cjs-resolves-to-esm'];
const IGNORED_ATTW_PROBLEMS = new Set(['CJSResolvesToESM']);
const ALLOWED_FILE = /^(dist\/lib\/.+\.(js|d\.ts|js\.map)|package\.json|README\.md|CHANGELOG\.md|LICENSE)$/;
const REQUIRED_FILES = ['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE'];
/** What `npm pack` needs to build and pack the package (as in test/support/packed-package.ts). */
const STAGED = [
  'package.json',
  'README.md',
  'CHANGELOG.md',
  'LICENSE',
  'tsconfig.json',
  'tsconfig.build.json',
  'lib',
];

const failures = [];
function check(ok, message) {
  if (!ok) failures.push(message);
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    ...options,
  });
  if (result.error) throw result.error;
  return result;
}

/** Every file path named in an "exports" value (conditions and arrays included). */
function exportTargets(value) {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(exportTargets);
  if (value && typeof value === 'object') return Object.values(value).flatMap(exportTargets);
  return [];
}

/** The majors of a range made of `^X.Y.Z` alternatives; undefined for any other form. */
function caretMajors(range) {
  const parts = String(range)
    .split('||')
    .map((part) => /^\^(\d+)\.\d+\.\d+$/.exec(part.trim()));
  return parts.every(Boolean) ? parts.map((match) => Number(match[1])).sort((a, b) => a - b) : undefined;
}

const sameMajors = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const majorOf = (version) =>
  Number(
    String(version)
      .replace(/^[^\d]*/, '')
      .split('.')[0],
  );

// 0. Claims = tests.
{
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const runtimes = JSON.parse(
    readFileSync(join(root, 'test', 'compat', 'node', 'package-lock.json'), 'utf8'),
  ).packages;
  const tested = [
    majorOf(process.version),
    ...Object.entries(runtimes)
      .filter(([path]) => path !== '')
      .map(([, entry]) => majorOf(entry.version)),
  ];
  const testedNode = [...new Set(tested)].sort((a, b) => a - b);
  const claimedNode = caretMajors(pkg.engines?.node);
  check(
    claimedNode !== undefined,
    `engines.node ${JSON.stringify(pkg.engines?.node)} is not a list of ^X.Y.Z ranges`,
  );
  check(
    sameMajors(claimedNode, testedNode),
    `engines.node claims Node ${claimedNode} but the tests run on Node ${testedNode} (this process and test/compat/node)`,
  );
  const nest11 = JSON.parse(
    readFileSync(join(root, 'test', 'compat', 'nest11', 'package.json'), 'utf8'),
  ).dependencies;
  for (const name of ['@nestjs/common', '@nestjs/core', '@nestjs/schedule']) {
    const testedNest = [majorOf(nest11[name]), majorOf(pkg.devDependencies[name])].sort((a, b) => a - b);
    const claimedNest = caretMajors(pkg.peerDependencies[name]);
    check(
      sameMajors(claimedNest, testedNest),
      `peerDependencies ${name} claims ${claimedNest} but the tests run ${testedNest}`,
    );
  }
}

const work = mkdtempSync(join(tmpdir(), 'nle-check-package-'));
try {
  // 1. Pack (runs prepack: the build) in a staged copy of the package sources, as
  // test/support/packed-package.ts does: a fresh dist/ (no stale files of an earlier build), and
  // the repository's dist/, which the runnable apps use, is left alone.
  const stage = join(work, 'stage');
  mkdirSync(stage);
  for (const entry of STAGED) cpSync(join(root, entry), join(stage, entry), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(stage, 'node_modules'), 'dir');
  const packed = run('npm', ['pack', '--json', '--pack-destination', work, '--loglevel', 'error'], {
    cwd: stage,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (packed.status !== 0) throw new Error(`npm pack exited with ${packed.status}`);
  // prepack's own output goes to stdout before the JSON.
  const report = JSON.parse(
    packed.stdout.slice(packed.stdout.indexOf('\n[') + 1 || packed.stdout.indexOf('[')),
  )[0];
  const tarball = join(work, report.filename);
  const files = report.files.map((file) => file.path).sort();
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const subpaths = Object.keys(pkg.exports ?? {});
  console.log(
    `check-package: ${report.filename}: ${files.length} files, ${(report.size / 1024).toFixed(0)} kB packed, ${(report.unpackedSize / 1024).toFixed(0)} kB unpacked; exports: ${subpaths.join(', ')}`,
  );

  // 2. The file list.
  const unexpected = files.filter((file) => !ALLOWED_FILE.test(file));
  check(unexpected.length === 0, `files users do not need are in the tarball: ${unexpected.join(', ')}`);
  for (const file of REQUIRED_FILES) check(files.includes(file), `${file} is missing from the tarball`);
  check(subpaths.length > 0, 'package.json has no "exports"');
  for (const target of [pkg.main, pkg.types, ...exportTargets(pkg.exports)].filter(Boolean)) {
    check(
      files.includes(target.replace(/^\.\//, '')),
      `${target} (named in package.json) is not in the tarball`,
    );
  }

  // 3. publint, strict: warnings fail too.
  const publint = run(bin('publint'), ['run', tarball, '--strict', '--level', 'suggestion'], {
    stdio: 'inherit',
  });
  check(publint.status === 0, `publint exited with ${publint.status}`);

  // 4. arethetypeswrong on the tarball (no registry: no DefinitelyTyped look-up).
  const attwArgs = [tarball, '--no-definitely-typed', '--ignore-rules', ...IGNORED_ATTW_RULES];
  const table = run(bin('attw'), [...attwArgs, '--format', 'table-flipped', '--no-color'], {
    stdio: 'inherit',
  });
  check(table.status === 0, `attw exited with ${table.status}`);
  const json = run(bin('attw'), [...attwArgs, '--format', 'json']);
  const analysis = JSON.parse(json.stdout).analysis;
  for (const subpath of subpaths) {
    const entry = analysis.entrypoints[subpath];
    check(entry !== undefined, `attw did not analyse the entry point "${subpath}"`);
    if (!entry || subpath === './package.json') continue;
    for (const kind of ['node16-esm', 'node16-cjs', 'bundler']) {
      const resolution = entry.resolutions[kind];
      check(
        /\.d\.ts$/.test(resolution?.resolution?.fileName ?? ''),
        `"${subpath}" has no types under ${kind} resolution`,
      );
      check(
        /\.js$/.test(resolution?.implementationResolution?.fileName ?? ''),
        `"${subpath}" has no JavaScript under ${kind} resolution`,
      );
    }
  }
  const problems = (analysis.problems ?? []).filter((problem) => !IGNORED_ATTW_PROBLEMS.has(problem.kind));
  check(problems.length === 0, `attw problems: ${JSON.stringify(problems)}`);
} catch (error) {
  failures.push(error instanceof Error ? error.message : String(error));
} finally {
  rmSync(work, { recursive: true, force: true });
}

if (failures.length > 0) {
  console.error(`check-package: FAILED\n${failures.map((failure) => `  - ${failure}`).join('\n')}`);
  process.exit(1);
}
console.log('check-package: the packed tarball passed the file list, publint and attw checks');
