import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { CONSUMER_COMPILER_OPTIONS, compile, createConsumer, installPackedPackage, repoRoot, run } from '../support/packed-package.js';

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
  { kind: 'an ES module', name: 'esm', type: 'module', format: 'module', emitted: /^import .* from 'nestjs-leader-election';$/m },
  { kind: 'a CommonJS', name: 'cjs', type: 'commonjs', format: 'commonjs', emitted: /= require\("nestjs-leader-election"\);$/m },
] as const;

describe('the packed tarball, installed into fresh consumer apps', () => {
  beforeAll(async () => {
    await installPackedPackage();
  }, 240_000);

  it('holds only dist/lib, package.json, README and LICENSE', async () => {
    const { tarball } = await installPackedPackage();
    const listing = await run('tar', ['-tzf', tarball], { cwd: repoRoot });
    expect(listing.code).toBe(0);
    const files = listing.stdout.trim().split('\n');
    expect(files).toContain('package/dist/lib/index.js');
    expect(files).toContain('package/dist/lib/index.d.ts');
    expect(files.filter((file) => !/^package\/(dist\/lib\/.+\.(js|d\.ts|js\.map)|package\.json|README\.md|LICENSE)$/.test(file))).toEqual([]);
  });

  it.each(consumers)('$kind app (tsc, module nodenext) imports it by name, boots, and a @LeaderOnly() @Interval() tick runs', async ({ name, type, format, emitted }) => {
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
  }, 120_000);
});
