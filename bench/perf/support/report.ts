// Tables for the terminal (cli-table3) and for docs/BENCHMARKS.md (Markdown), from one description.
import Table from 'cli-table3';

export interface ReportTable {
  title: string;
  head: string[];
  rows: (string | number)[][];
  notes?: string[];
}

export function renderTerminal(table: ReportTable): string {
  const t = new Table({ head: table.head, style: { head: ['cyan'] } });
  for (const row of table.rows) t.push(row.map(String));
  const notes = (table.notes ?? []).map((note) => `  ${note}`).join('\n');
  return `\n${table.title}\n${t.toString()}${notes ? `\n${notes}` : ''}`;
}

export function renderMarkdown(table: ReportTable): string {
  const escape = (cell: string | number): string => String(cell).replace(/\|/g, '\\|');
  const lines = [
    `**${table.title}**`,
    '',
    `| ${table.head.map(escape).join(' | ')} |`,
    `| ${table.head.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...table.rows.map((row) => `| ${row.map(escape).join(' | ')} |`),
  ];
  if (table.notes?.length) lines.push('', ...table.notes.map((note) => `${note}`));
  return lines.join('\n');
}

/** Formats a number with a fixed number of significant decimals for tables. */
export function fmt(value: number | undefined, digits = 1): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function seconds(ms: number | undefined, digits = 2): string {
  return ms === undefined || !Number.isFinite(ms) ? '–' : `${fmt(ms / 1000, digits)} s`;
}
