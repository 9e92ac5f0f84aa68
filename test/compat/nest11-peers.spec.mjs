// Guards the NestJS 11 run (test/compat/nest11/jest.config.mjs) itself: the Nest packages that the
// e2e tests and lib/ load there are the NestJS 11 set of test/compat/nest11, not the repository's
// Nest 12 (a mapping mistake would otherwise pass silently). This file sits outside that folder so
// that, like lib/ and test/e2e/, it gets Nest 12 unless the run maps the peers.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { createConsumer } from '../support/packed-package.js';
import common from '@nestjs/common/package.json' with { type: 'json' };
import core from '@nestjs/core/package.json' with { type: 'json' };
import schedule from '@nestjs/schedule/package.json' with { type: 'json' };
import testing from '@nestjs/testing/package.json' with { type: 'json' };
import terminus from '@nestjs/terminus/package.json' with { type: 'json' };
import config from '@nestjs/config/package.json' with { type: 'json' };
import pinned from './nest11/package.json' with { type: 'json' };

describe('the NestJS 11 peers', () => {
  it.each([common, core, schedule, testing, terminus, config])(
    '$name is the pinned version of test/compat/nest11',
    ({ name, version }) => {
      expect(version).toBe(pinned.dependencies[name]);
    },
  );

  it('are NestJS 11 with @nestjs/schedule 6, @nestjs/terminus 11 and @nestjs/config 4', () => {
    expect([common.version, core.version, testing.version].map((version) => version.split('.')[0])).toEqual([
      '11',
      '11',
      '11',
    ]);
    expect(schedule.version.split('.')[0]).toBe('6');
    expect(terminus.version.split('.')[0]).toBe('11');
    expect(config.version.split('.')[0]).toBe('4');
  });

  it('are what the packed-tarball consumer apps (package-entry, README snippets) get too', async () => {
    const dir = await createConsumer('nest11-peers', {
      'package.json': JSON.stringify({ name: 'consumer-nest11-peers', private: true }),
    });
    const version = (name) =>
      JSON.parse(readFileSync(join(dir, 'node_modules', name, 'package.json'), 'utf8')).version;
    expect(
      ['@nestjs/common', '@nestjs/core', '@nestjs/schedule', '@nestjs/terminus', '@nestjs/config'].map(
        version,
      ),
    ).toEqual(
      ['@nestjs/common', '@nestjs/core', '@nestjs/schedule', '@nestjs/terminus', '@nestjs/config'].map(
        (name) => pinned.dependencies[name],
      ),
    );
  }, 240_000);
});
