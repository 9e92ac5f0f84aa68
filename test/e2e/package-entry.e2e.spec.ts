import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';

// The package is consumed by name, from the built output (`npm test` builds dist/ first), the way
// an app that installed it does: through package.json "exports" (package self-reference).
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function run(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('package entry point', () => {
  it('imports by name from an ES module', () => {
    const out = run(['--input-type=module', '-e', "const m = await import('nestjs-leader-election'); console.log(typeof m.LeaderElectionModule, typeof m.LeaderOnly, typeof m.AzureBlobLeaseStore)"]);
    expect(out.trim()).toBe('function function function');
  });

  it('requires by name from a CommonJS module (most Nest apps are CommonJS; Node ≥ 20.19 loads ESM from require)', () => {
    const out = run(['--no-warnings', '-e', "const m = require('nestjs-leader-election'); console.log(typeof m.LeaderElectionModule, typeof m.LeaderElectionService, typeof m.MemoryLeaseStore)"]);
    expect(out.trim()).toBe('function function function');
  });
});
