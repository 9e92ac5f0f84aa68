import Table from 'cli-table3';
import type { LeaseRow } from './leases.js';

/** The JSON output: a stable array (sorted by lease name, keys in a fixed order, null when absent). */
export function renderJson(rows: readonly LeaseRow[], pretty = true): string {
  const stable = rows.map((row) => ({
    lease: row.lease,
    state: row.state,
    held: row.held,
    holder: row.holder,
    term: row.term,
    acquiredAt: row.acquiredAt,
    recoveredTerm: row.recoveredTerm,
    members: row.members,
  }));
  return `${JSON.stringify(stable, null, pretty ? 2 : undefined)}\n`;
}

/** The table output, with a summary line above it. Every cell is already sanitised. */
export function renderTable(rows: readonly LeaseRow[], where: string, now = Date.now()): string {
  const held = rows.filter((row) => row.held).length;
  const summary = `${where}: ${plural(rows.length, 'lease')}, ${held} held`;
  if (rows.length === 0) return `${summary}\n`;
  const table = new Table({
    head: ['lease', 'state', 'holder', 'term', 'acquired at', 'recovered from', 'members'],
    style: { head: [], border: [] }, // no colours: the same bytes on a terminal, in a pipe or a log
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' }, // no line between rows
    wordWrap: false,
  });
  for (const row of rows) {
    table.push([
      row.lease,
      row.state,
      holderCell(row),
      row.term === null ? '–' : String(row.term),
      row.acquiredAt === null
        ? '–'
        : `${row.acquiredAt.replace(/\.\d{3}Z$/, 'Z')} (${age(now - Date.parse(row.acquiredAt))})`,
      row.recoveredTerm === null ? '' : String(row.recoveredTerm),
      row.members === null ? '' : String(row.members),
    ]);
  }
  return `${summary}\n${table.toString()}\n`;
}

function holderCell(row: LeaseRow): string {
  if (row.holder === null) return '–';
  // Metadata outlives the lease: when nobody holds it, the name is the last holder, not a leader.
  return row.held ? row.holder : `none (last: ${row.holder})`;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** "42s ago", "3m 5s ago", "2h 4m ago", "3d 1h ago" (wall clock of this machine vs the holder's). */
export function age(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  if (ms < 0) return 'in the future';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s ago`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m ago`;
  return `${Math.floor(h / 24)}d ${h % 24}h ago`;
}
