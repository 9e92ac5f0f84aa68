import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Prettier cannot wrap comments or long string literals: this keeps lib/ within its printWidth.
describe('line width of the library', () => {
  it("no line in lib/ is longer than Prettier's printWidth", () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const { printWidth } = JSON.parse(readFileSync(join(root, '.prettierrc.json'), 'utf8')) as {
      printWidth: number;
    };
    const long: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (path.endsWith('.ts'))
          readFileSync(path, 'utf8')
            .split('\n')
            .forEach((line, i) => {
              if ([...line].length > printWidth) long.push(`${path.slice(root.length)}:${i + 1}`);
            });
      }
    };
    walk(join(root, 'lib'));
    expect(printWidth).toBe(110);
    expect(long).toEqual([]);
  });
});
