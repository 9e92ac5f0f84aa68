import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';

// Issue 14, closing remarks: a peer dependency is a promise that the library uses the package.
// @azure/identity was listed (optional) but never imported: users bring their own credential.

const root = process.cwd();
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  peerDependencies: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
};

/** Peers the library needs without importing them, and why. */
const USED_WITHOUT_IMPORT: Record<string, string> = {
  'reflect-metadata':
    'the Reflect metadata API that Nest decorators and @LeaderOnly (copying method metadata) rely on',
  '@nestjs/schedule': 'optional: the @Cron/@Interval/@Timeout jobs that @LeaderOnly gates',
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sources(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : [],
  );
}

const imported = new Set(
  sources(join(root, 'lib')).flatMap((file) =>
    // Static imports and dynamic import('…') (optional peers are loaded that way).
    [
      ...readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'((?:@[^/']+\/)?[^/'.][^/']*)[^']*'/g),
    ].map((match) => match[1]!),
  ),
);

describe('peer dependencies', () => {
  it('lists only packages the library imports (or needs at run time, each with a reason)', () => {
    for (const peer of Object.keys(pkg.peerDependencies)) {
      expect([peer, imported.has(peer) || peer in USED_WITHOUT_IMPORT]).toEqual([peer, true]);
    }
  });

  it("does not list @azure/identity: DefaultAzureCredential is the application's own import", () => {
    expect(pkg.peerDependencies).not.toHaveProperty(['@azure/identity']);
    expect(pkg.peerDependenciesMeta ?? {}).not.toHaveProperty(['@azure/identity']);
    expect(imported.has('@azure/identity')).toBe(false);
  });

  it('keeps @opentelemetry/api optional: an optional peer, loaded only with a dynamic import (an app without it still loads the library)', () => {
    expect(pkg.peerDependenciesMeta?.['@opentelemetry/api']).toEqual({ optional: true });
    const staticImports = sources(join(root, 'lib')).filter((file) =>
      /^\s*import\s+(?!type\b)[^;]*from\s+'@opentelemetry\//m.test(readFileSync(file, 'utf8')),
    );
    expect(staticImports).toEqual([]);
    expect(imported.has('@opentelemetry/api')).toBe(true);
  });
});
