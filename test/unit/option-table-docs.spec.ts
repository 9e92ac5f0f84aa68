import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MODULE_OPTION_KEYS, MODULE_OPTION_TABLE } from '../../lib/nest/options/module-option-table.js';

// docs/options.md's table and the option table in the code say the same: every option is listed
// once, nothing else is, and each default is the one the code's row documents.

const page = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../../docs/options.md'), 'utf8');

function documentedRows(): Map<string, string> {
  const rows = new Map<string, string>();
  const start = page.indexOf('| option | default | meaning |');
  expect(start).toBeGreaterThan(-1);
  for (const line of page.slice(start).split('\n').slice(2)) {
    if (!line.startsWith('|')) break;
    const [keys, defaultText] = line.split(' | ').map((cell) => cell.replace(/^\| /, ''));
    // "`accountUrl` + `credential`" documents two options in one row.
    for (const [, key] of keys!.matchAll(/`(\w+)`/g)) rows.set(key!, defaultText!.trim());
  }
  return rows;
}

describe('docs/options.md against the option table', () => {
  const rows = documentedRows();

  it('lists every option of the table, and no other', () => {
    expect([...rows.keys()].sort()).toEqual([...MODULE_OPTION_KEYS].sort());
  });

  it("gives each option the default of the table's row", () => {
    for (const key of MODULE_OPTION_KEYS) {
      expect({ key, default: rows.get(key) }).toEqual({ key, default: MODULE_OPTION_TABLE[key].default });
    }
  });
});
