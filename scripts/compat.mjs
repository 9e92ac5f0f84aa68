// Shared by scripts/test-matrix.mjs and scripts/test-nest11.mjs: the compatibility installs under
// test/compat/ (each folder has its own package.json and package-lock.json, installed there with
// `npm ci --prefix`, never into the root node_modules).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const compatDir = (name) => join(root, 'test', 'compat', name);
export const jestBin = join(root, 'node_modules', 'jest', 'bin', 'jest.js');

export function seconds(since) {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`;
}

/** The lock file's packages: path (node_modules/…) → entry. */
export function lockedPackages(dir) {
  const lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8'));
  return Object.fromEntries(
    Object.entries(lock.packages).filter(([path]) => path.startsWith('node_modules/')),
  );
}

/** True when node_modules holds exactly the versions the lock file pins. */
function installed(dir) {
  return Object.entries(lockedPackages(dir)).every(([path, entry]) => {
    const manifest = join(dir, path, 'package.json');
    return existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).version === entry.version;
  });
}

/** `npm ci --prefix dir`, unless node_modules already matches the lock file. Exits on failure. */
export function ensureInstalled(dir, label) {
  if (installed(dir)) return;
  const started = performance.now();
  const install = spawnSync(
    'npm',
    ['ci', '--prefix', dir, '--no-audit', '--no-fund', '--loglevel', 'error'],
    { stdio: 'inherit', cwd: root },
  );
  if (install.status !== 0 || !installed(dir)) {
    console.error(`${label}: npm ci --prefix ${dir} exited with ${install.status}`);
    process.exit(1);
  }
  console.log(`${label}: installed ${dir} in ${seconds(started)}`);
}
