import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// lib/ has no import circle (type-only imports count too: a circle of types still ties the files'
// roles together), and lib/core imports neither Nest nor Azure.

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../lib');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sources(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : [],
  );
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/g;

function importsOf(file: string): { local: string[]; packages: string[] } {
  const text = readFileSync(file, 'utf8');
  const local: string[] = [];
  const packages: string[] = [];
  for (const [, specifier] of text.matchAll(IMPORT)) {
    if (specifier!.startsWith('.')) local.push(resolve(dirname(file), specifier!.replace(/\.js$/, '.ts')));
    else packages.push(specifier!);
  }
  return { local, packages };
}

function findCycles(files: string[]): string[][] {
  const graph = new Map(
    files.map((file) => [file, importsOf(file).local.filter((to) => files.includes(to))]),
  );
  const cycles: string[][] = [];
  const state = new Map<string, 'active' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'active');
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === 'active') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of files) if (!state.has(file)) visit(file);
  return cycles.map((cycle) => cycle.map((file) => relative(root, file)));
}

describe('lib/ import graph', () => {
  const files = sources(root);

  it('finds a circle when there is one (the checker can fail)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nle-cycle-'));
    writeFileSync(join(dir, 'a.ts'), "import type { B } from './b.js';\nexport type A = B;\n");
    writeFileSync(join(dir, 'b.ts'), "import { x } from './a.js';\nexport type B = typeof x;\n");
    expect(findCycles([join(dir, 'a.ts'), join(dir, 'b.ts')])).toHaveLength(1);
  });

  it('has no import circle', () => {
    expect(findCycles(files)).toEqual([]);
  });

  it('lib/core imports neither Nest nor Azure', () => {
    const offenders = files
      .filter((file) => relative(root, file).startsWith('core/'))
      .flatMap((file) =>
        importsOf(file)
          .packages.filter((name) => name.startsWith('@nestjs/') || name.startsWith('@azure/'))
          .map((name) => `${relative(root, file)} -> ${name}`),
      );
    expect(offenders).toEqual([]);
  });

  it('lib/locks imports only lib/core (and Node built-ins): no Nest, no Azure, no store', () => {
    const offenders = files
      .filter((file) => relative(root, file).startsWith('locks/'))
      .flatMap((file) => [
        ...importsOf(file)
          .local.filter((to) => !/^(core|locks)\//.test(relative(root, to)))
          .map((to) => `${relative(root, file)} -> ${relative(root, to)}`),
        ...importsOf(file)
          .packages.filter((name) => !name.startsWith('node:'))
          .map((name) => `${relative(root, file)} -> ${name}`),
      ]);
    expect(files.some((file) => relative(root, file).startsWith('locks/'))).toBe(true);
    expect(offenders).toEqual([]);
  });

  it('lib/core does not import lib/locks (locks build on the core, not the reverse)', () => {
    const offenders = files
      .filter((file) => relative(root, file).startsWith('core/'))
      .flatMap((file) =>
        importsOf(file)
          .local.filter((to) => relative(root, to).startsWith('locks/'))
          .map((to) => `${relative(root, file)} -> ${relative(root, to)}`),
      );
    expect(offenders).toEqual([]);
  });
});
