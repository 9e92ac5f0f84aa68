#!/usr/bin/env node
// Runs the e2e tests of the Nest layer against NestJS 11 (@nestjs/common/core/testing/
// platform-express 11, @nestjs/schedule 6, @nestjs/terminus 11, @nestjs/config 4), the older major
// that the peer range admits, next to the Nest 12 run of `npm run test:jest`, on this machine's Node.
// (scripts/test-matrix.mjs runs a part of it on the other Node majors.)
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
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { compatDir, ensureInstalled, jestBin, root, seconds } from './compat.mjs';

const NEST11_CONFIG = join(compatDir('nest11'), 'jest.config.mjs');
const FILES =
  'test/compat/nest11-peers\\.spec\\.mjs$|test/e2e/(leader-election\\.module|lifecycle|module-scope|package-entry|readme)\\.e2e\\.spec\\.ts$';

ensureInstalled(compatDir('nest11'), 'test-nest11');
const started = performance.now();
const jest = spawnSync(
  process.execPath,
  ['--experimental-vm-modules', jestBin, '-c', NEST11_CONFIG, '--testPathPatterns', FILES],
  { stdio: 'inherit', cwd: root },
);
console.log(
  `test-nest11: ${jest.status === 0 ? 'passed' : `FAILED (exit ${jest.status ?? jest.signal})`} on NestJS 11, Node ${process.versions.node}, in ${seconds(started)}`,
);
process.exit(jest.status === 0 ? 0 : 1);
