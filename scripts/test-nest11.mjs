#!/usr/bin/env node
// Runs the e2e tests of the Nest layer against NestJS 11 (@nestjs/common/core/testing/
// platform-express 11, @nestjs/schedule 6, @nestjs/terminus 11, @nestjs/config 4), the older major
// that the peer range admits, next to the Nest 12 run of `npm run test:jest`.
//
// The Nest 11 set is pinned in test/compat/nest11/package.json + package-lock.json and installed
// there with `npm ci --prefix`. Jest then runs with test/compat/nest11/jest.config.mjs, which maps
// every @nestjs/*, rxjs and reflect-metadata import (tests, lib/, and the Nest packages' own) to
// that install, and links the same peers into the packed-tarball consumer apps. The files:
// - test/compat/nest11-peers.spec.mjs: the loaded Nest packages are the pinned Nest 11 ones;
// - test/e2e/leader-election.module, lifecycle, module-scope: the module, gates (@LeaderOnly on
//   @Interval/@Timeout in both orders, the interceptor), health, forRootAsync, shutdown, on Azurite;
// - test/e2e/package-entry and readme: the packed tarball in fresh ESM and CommonJS apps, and the
//   README's snippets (with @nestjs/terminus 11 and @nestjs/config 4) compiled with tsc and booted.
//
// Usage: node scripts/test-nest11.mjs
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const compat = join(root, 'test', 'compat', 'nest11');
const FILES = ['test/compat/nest11-peers\\.spec\\.mjs$', 'test/e2e/(leader-election\\.module|lifecycle|module-scope|package-entry|readme)\\.e2e\\.spec\\.ts$'];

function seconds(since) {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`;
}

/** True when node_modules holds exactly the versions the lock file pins (then `npm ci` is skipped). */
function installed() {
  const lock = JSON.parse(readFileSync(join(compat, 'package-lock.json'), 'utf8'));
  return Object.entries(lock.packages)
    .filter(([path]) => path.startsWith('node_modules/'))
    .every(([path, entry]) => {
      const manifest = join(compat, path, 'package.json');
      return existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).version === entry.version;
    });
}

if (!installed()) {
  const started = performance.now();
  const install = spawnSync('npm', ['ci', '--prefix', compat, '--no-audit', '--no-fund', '--loglevel', 'error'], { stdio: 'inherit', cwd: root });
  if (install.status !== 0) {
    console.error(`test-nest11: npm ci --prefix ${compat} exited with ${install.status}`);
    process.exit(1);
  }
  console.log(`test-nest11: installed the NestJS 11 peers in ${seconds(started)}`);
}

const started = performance.now();
const jest = spawnSync(
  process.execPath,
  ['--experimental-vm-modules', join(root, 'node_modules', 'jest', 'bin', 'jest.js'), '-c', join(compat, 'jest.config.mjs'), '--testPathPatterns', FILES.join('|')],
  { stdio: 'inherit', cwd: root },
);
console.log(`test-nest11: ${jest.status === 0 ? 'passed' : `FAILED (exit ${jest.status ?? jest.signal})`} on NestJS 11 in ${seconds(started)}`);
process.exit(jest.status === 0 ? 0 : 1);
