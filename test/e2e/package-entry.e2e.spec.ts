import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import {
  CONSUMER_COMPILER_OPTIONS,
  compile,
  createConsumer,
  installPackedPackage,
  repoRoot,
  run,
} from '../support/packed-package.js';

const packageJson = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
  exports: Record<string, unknown>;
};

// The package as users get it: `npm pack` of this repository (prepack builds dist/), installed with
// npm into fresh consumer projects that import it by name through package.json "exports".
// (test/support/packed-package.ts: offline, peers linked from this repository's node_modules.)
// The same source, compiled as an ES module app (what the Nest 12 CLI creates) and as a CommonJS app
// (the CLI's CommonJS template: `module: nodenext` in a package without "type": "module"): it
// imports the package by name, boots a Nest app whose @LeaderOnly() @Interval() job must tick, and
// prints what it saw.
const CONSUMER_MAIN = `import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Interval, ScheduleModule } from '@nestjs/schedule';
import { LeaderElectionModule, LeaderElectionService, LeaderOnly, MemoryLeaseStore, currentLeadership } from 'nestjs-leader-election';

let ticked: (term: number) => void = () => undefined;
const firstTick = new Promise<number>((resolve) => (ticked = resolve));

@Injectable()
class Ticker {
  @Interval(50)
  @LeaderOnly()
  tick(): void {
    ticked(currentLeadership()!.term);
  }
}

@Module({
  imports: [ScheduleModule.forRoot(), LeaderElectionModule.forRoot({ store: new MemoryLeaseStore(), identity: 'consumer', logger: false })],
  providers: [Ticker],
})
class AppModule {}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(AppModule, { logger: ['error', 'warn'] });
  const term = await firstTick;
  const leader = app.get(LeaderElectionService).isLeader();
  await app.close();
  console.log(JSON.stringify({ format: typeof require === 'function' ? 'commonjs' : 'module', leader, term }));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
`;

const consumers = [
  {
    kind: 'an ES module',
    name: 'esm',
    type: 'module',
    format: 'module',
    emitted: /^import .* from 'nestjs-leader-election';$/m,
  },
  {
    kind: 'a CommonJS',
    name: 'cjs',
    type: 'commonjs',
    format: 'commonjs',
    emitted: /= require\("nestjs-leader-election"\);$/m,
  },
] as const;

describe('the packed tarball, installed into fresh consumer apps', () => {
  beforeAll(async () => {
    await installPackedPackage();
  }, 240_000);

  it('holds only dist/lib, package.json, README, CHANGELOG and LICENSE', async () => {
    const { tarball } = await installPackedPackage();
    const listing = await run('tar', ['-tzf', tarball], { cwd: repoRoot });
    expect(listing.code).toBe(0);
    const files = listing.stdout.trim().split('\n');
    expect(files).toContain('package/dist/lib/index.js');
    expect(files).toContain('package/dist/lib/index.d.ts');
    expect(files).toContain('package/CHANGELOG.md');
    expect(
      files.filter(
        (file) =>
          !/^package\/(dist\/lib\/.+\.(js|d\.ts|js\.map)|package\.json|README\.md|CHANGELOG\.md|LICENSE)$/.test(
            file,
          ),
      ),
    ).toEqual([]);
  });

  it('every entry point of "exports" loads by import() in an ES module and by require() in CommonJS, with the same exports', async () => {
    const specifiers = Object.keys(packageJson.exports)
      .filter((subpath) => subpath !== './package.json')
      .map((subpath) => `nestjs-leader-election${subpath.slice(1)}`);
    expect(specifiers).toContain('nestjs-leader-election');
    const print =
      'console.log(JSON.stringify(Object.fromEntries(loaded.map(([name, ns]) => [name, Object.keys(ns).sort()]))));';
    const dir = await createConsumer('entry-points', {
      'package.json': JSON.stringify({ name: 'consumer-entry-points', private: true, type: 'module' }),
      'esm.mjs': `import 'reflect-metadata';\nconst loaded = [];\nfor (const name of ${JSON.stringify(specifiers)}) loaded.push([name, await import(name)]);\n${print}\n`,
      'cjs.cjs': `require('reflect-metadata');\nconst loaded = ${JSON.stringify(specifiers)}.map((name) => [name, require(name)]);\n${print}\n`,
    });
    const esm = await run(process.execPath, ['esm.mjs'], { cwd: dir, timeoutMs: 60_000 });
    const cjs = await run(process.execPath, ['cjs.cjs'], { cwd: dir, timeoutMs: 60_000 });
    expect(esm.stderr).toBe('');
    expect(cjs.stderr).toBe('');
    expect(esm.code).toBe(0);
    expect(cjs.code).toBe(0);
    const esmExports = JSON.parse(esm.stdout.trim()) as Record<string, string[]>;
    expect(Object.keys(esmExports)).toEqual(specifiers);
    for (const name of specifiers) expect(esmExports[name]!.length).toBeGreaterThan(0);
    expect(esmExports['nestjs-leader-election']).toEqual(
      expect.arrayContaining(['LeaderElectionModule', 'LeaderOnly', 'LeaderElectionService']),
    );
    // require(esm) gives the module namespace (plus __esModule): the same names.
    const cjsExports = JSON.parse(cjs.stdout.trim()) as Record<string, string[]>;
    expect(
      Object.fromEntries(
        Object.entries(cjsExports).map(([name, keys]) => [name, keys.filter((key) => key !== '__esModule')]),
      ),
    ).toEqual(esmExports);
  }, 120_000);

  it.each(consumers)(
    '$kind app (tsc, module nodenext) imports it by name, boots, and a @LeaderOnly() @Interval() tick runs',
    async ({ name, type, format, emitted }) => {
      const dir = await createConsumer(name, {
        'package.json': JSON.stringify({ name: `consumer-${name}`, private: true, type }),
        'tsconfig.json': JSON.stringify({ compilerOptions: CONSUMER_COMPILER_OPTIONS, include: ['src'] }),
        'src/main.ts': CONSUMER_MAIN,
      });
      const compiled = await compile(dir);
      expect(`${compiled.stdout}${compiled.stderr}`).toBe('');
      expect(compiled.code).toBe(0);
      expect(readFileSync(join(dir, 'dist', 'main.js'), 'utf8')).toMatch(emitted);

      const started = await run(process.execPath, ['dist/main.js'], { cwd: dir, timeoutMs: 60_000 });
      expect(started.stderr).toBe('');
      expect(started.code).toBe(0);
      expect(JSON.parse(started.stdout.trim())).toEqual({ format, leader: true, term: 1 });
    },
    120_000,
  );
});
