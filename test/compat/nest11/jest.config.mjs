// The e2e tests of the Nest layer, run against the NestJS 11 peers installed in this folder
// (test/compat/nest11/package.json: @nestjs/* 11, @nestjs/schedule 6, @nestjs/terminus 11,
// @nestjs/config 4) instead of the repository's Nest 12 ones. Started by ./run.mjs.
// Every @nestjs/*, rxjs and reflect-metadata import, in the tests, in lib/ and inside the Nest
// packages themselves, is mapped here, so one copy of Nest 11 is loaded and no Nest 12 module is.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import base from '../../../jest.config.js';

const here = dirname(fileURLToPath(import.meta.url));
const nodeModules = join(here, 'node_modules');

// The packed-tarball tests (package-entry, README snippets) link these peers into their consumer
// apps (test/support/packed-package.ts), which then run on plain Node against NestJS 11 too.
process.env.NEST_PEERS_NODE_MODULES = nodeModules;

const peers = {
  '^@nestjs/(.*)$': `${nodeModules}/@nestjs/$1`,
  '^rxjs$': `${nodeModules}/rxjs`,
  '^rxjs/(.*)$': `${nodeModules}/rxjs/$1`,
  '^reflect-metadata$': `${nodeModules}/reflect-metadata`,
};

const rootDir = join(here, '..', '..', '..');
const project = (e2e) => ({
  ...e2e,
  rootDir,
  displayName: 'e2e-nest11',
  testMatch: [...e2e.testMatch, '<rootDir>/test/compat/nest11-peers.spec.mjs'],
  moduleNameMapper: { ...peers, ...e2e.moduleNameMapper },
});

/** @type {import('jest').Config} */
export default {
  ...base,
  rootDir,
  projects: base.projects.filter((p) => p.displayName === 'e2e').map(project),
};
