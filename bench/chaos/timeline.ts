/**
 * SVG timeline of a chaos run (hand-written SVG, no dependency): one row per replica slot showing
 * process lifetimes, leadership by term (from the replicas' own role changes), job runs, stale writes
 * the fenced register rejected, pauses and network faults; faults are marked across all rows, and
 * Azurite downtime and leadership conflicts as bands.
 */
import { describeFault } from './bounds.js';
import type { ChaosReport } from './checker.js';
import type { FaultKind, JournalEntry, RoleEntry, RunEntry, RunRecord, TaskEntry } from './types.js';

const FAULT_COLOURS: Record<FaultKind, string> = {
  sigkill: '#d62728',
  sigterm: '#2ca02c',
  sigstop: '#9467bd',
  partition: '#8c564b',
  latency: '#ff7f0e',
  'azurite-restart': '#1f77b4',
  block: '#e377c2',
};

function escapeXml(text: string): string {
  return text.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!,
  );
}

function termColour(term: number): string {
  return `hsl(${(term * 67) % 360}, 55%, 58%)`;
}

export function renderTimeline(record: RunRecord, entries: JournalEntry[], report: ChaosReport): string {
  // Wide enough to read: about 8 px per second of run (scroll long runs in a browser).
  const width = Math.round(Math.min(6000, Math.max(1400, ((record.endedAt - record.startedAt) / 1000) * 8)));
  const left = 70;
  const right = 20;
  // Fault labels go on up to six lines above the plot, each on the first line where it fits.
  const labelLines: number[] = [];
  const labels = record.faults.map((fault) => {
    const outcome = report.faults.find((o) => o.id === fault.id);
    const text = `#${fault.id} ${fault.kind}${outcome?.takeoverMs !== undefined ? ` ${(outcome.takeoverMs / 1000).toFixed(1)}s` : ' no leader'}`;
    const fx =
      70 +
      ((fault.at - record.startedAt) / Math.max(1, record.endedAt - record.startedAt)) * (width - 70 - 20);
    let line = labelLines.findIndex((end) => end < fx);
    if (line < 0)
      line = labelLines.length < 6 ? labelLines.length : labelLines.indexOf(Math.min(...labelLines));
    labelLines[line] = fx + 4 + text.length * 5.6;
    return { id: fault.id, text, line };
  });
  const top = 60 + Math.max(1, labelLines.length) * 12;
  const rowHeight = 50;
  const plotWidth = width - left - right;
  const rows = record.slots;
  const plotHeight = rows.length * rowHeight;
  const height = top + plotHeight + 120;
  const t0 = record.startedAt;
  const span = Math.max(1, record.endedAt - t0);
  const x = (at: number): number =>
    left + ((Math.min(Math.max(at, t0), record.endedAt) - t0) / span) * plotWidth;
  const rowY = (slot: string): number => top + rows.indexOf(slot) * rowHeight;
  const out: string[] = [];
  const add = (line: string): void => {
    out.push(line);
  };

  add(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
  );
  add(
    '<defs><pattern id="hatch" width="6" height="6" patternTransform="rotate(45)" patternUnits="userSpaceOnUse"><rect width="3" height="6" fill="#9467bd" opacity="0.45"/></pattern></defs>',
  );
  add(`<rect width="${width}" height="${height}" fill="white"/>`);
  const verdict = report.safetyOk ? 'safe' : 'UNSAFE';
  add(
    `<text x="${left}" y="18" font-size="14" font-weight="bold">${escapeXml(`Chaos run seed ${record.seed}: ${report.counts.faults} faults, ${verdict}; valid overlaps ${report.overlaps.valid}, term regressions ${report.terms.regressions}, stale writes rejected ${report.fencing.rejected}`)}</text>`,
  );
  const t = record.timings;
  add(
    `<text x="${left}" y="34" fill="#555">${escapeXml(`D=${t.leaseSeconds} s, renew ${t.renewIntervalMs} ms, retry ${t.retryIntervalMs} ms ±${Math.round(t.retryJitter * 100)} %, job every ${t.jobIntervalMs} ms for ${t.jobDurationMs} ms`)}</text>`,
  );

  // Rows.
  const pids = new Map<number, string>();
  for (const entry of entries) pids.set(entry.pid, entry.replica);
  for (const op of record.ops) if (op.pid !== undefined && op.slot) pids.set(op.pid, op.slot);
  for (const slot of rows) {
    const y = rowY(slot);
    add(
      `<rect x="${left}" y="${y + 2}" width="${plotWidth}" height="${rowHeight - 4}" fill="${rows.indexOf(slot) % 2 ? '#fafafa' : '#f3f3f3'}"/>`,
    );
    add(
      `<text x="${left - 8}" y="${y + rowHeight / 2 + 4}" text-anchor="end" font-weight="bold">${escapeXml(slot)}</text>`,
    );
  }
  // Azurite downtime bands.
  const azOps = record.ops.filter((op) => op.op === 'azurite-stop' || op.op === 'azurite-start');
  for (const stop of azOps.filter((op) => op.op === 'azurite-stop')) {
    const start = azOps.find((op) => op.op === 'azurite-start' && op.at >= stop.at)?.at ?? record.endedAt;
    add(
      `<rect x="${x(stop.at)}" y="${top}" width="${Math.max(1, x(start) - x(stop.at))}" height="${plotHeight}" fill="#1f77b4" opacity="0.18"><title>Azurite down</title></rect>`,
    );
  }
  // Leadership conflicts (two replicas believed they led).
  for (const conflict of report.leadershipConflicts.details) {
    const colour = conflict.storeLoss ? '#17becf' : '#ff0000';
    add(
      `<rect x="${x(conflict.from)}" y="${top}" width="${Math.max(2, x(conflict.to) - x(conflict.from))}" height="${plotHeight}" fill="${colour}" opacity="0.3"><title>${escapeXml(`${conflict.storeLoss ? 'conflict after store data loss' : 'LEADERSHIP CONFLICT'}: ${conflict.a.replica} t${conflict.a.term} / ${conflict.b.replica} t${conflict.b.term}, ${conflict.to - conflict.from} ms`)}</title></rect>`,
    );
  }

  // Process lifetimes, pauses and proxy faults.
  for (const spawn of record.ops.filter((op) => op.op === 'spawn')) {
    const slot = spawn.slot!;
    const y = rowY(slot);
    const exit = record.ops.find((op) => op.op === 'exit' && op.pid === spawn.pid)?.at ?? record.endedAt;
    add(
      `<line x1="${x(spawn.at)}" y1="${y + rowHeight - 8}" x2="${x(exit)}" y2="${y + rowHeight - 8}" stroke="#888" stroke-width="2"><title>${escapeXml(`${slot} pid ${spawn.pid}`)}</title></line>`,
    );
    add(`<circle cx="${x(spawn.at)}" cy="${y + rowHeight - 8}" r="2.5" fill="#888"/>`);
  }
  for (const stop of record.ops.filter((op) => op.op === 'sigstop')) {
    const cont =
      record.ops.find((op) => op.op === 'sigcont' && op.pid === stop.pid && op.at >= stop.at)?.at ??
      record.endedAt;
    const y = rowY(stop.slot!);
    add(
      `<rect x="${x(stop.at)}" y="${y + 3}" width="${Math.max(1, x(cont) - x(stop.at))}" height="${rowHeight - 6}" fill="url(#hatch)"><title>stopped (SIGSTOP)</title></rect>`,
    );
  }
  const proxyOps = record.ops.filter((op) => op.op === 'proxy');
  for (const start of proxyOps.filter((op) => op.detail !== 'pass')) {
    const end =
      proxyOps.find((op) => op.slot === start.slot && op.detail === 'pass' && op.at >= start.at)?.at ??
      record.endedAt;
    const y = rowY(start.slot!);
    const colour = start.detail === 'blackhole' ? FAULT_COLOURS.partition : FAULT_COLOURS.latency;
    add(
      `<rect x="${x(start.at)}" y="${y + 3}" width="${Math.max(1, x(end) - x(start.at))}" height="6" fill="${colour}" opacity="0.8"><title>${escapeXml(`proxy ${start.detail}`)}</title></rect>`,
    );
  }

  // Leadership as each replica saw it.
  const roles = entries
    .filter((entry): entry is RoleEntry => entry.event === 'role')
    .sort((a, b) => a.at - b.at);
  const byPid = new Map<number, RoleEntry[]>();
  for (const role of roles) {
    let list = byPid.get(role.pid);
    if (!list) byPid.set(role.pid, (list = []));
    list.push(role);
  }
  const validUntil = new Map<string, number>();
  for (const run of entries) {
    if (run.event !== 'run') continue;
    const key = `${run.pid}:${run.term}`;
    const to = run.start + Math.max(0, run.leaseLeftAtStartMs);
    validUntil.set(key, Math.max(validUntil.get(key) ?? 0, run.activeAtEnd ? Math.max(to, run.end) : to));
  }
  for (const [pid, list] of byPid) {
    const slot = pids.get(pid) ?? list[0]!.replica;
    if (!rows.includes(slot)) continue;
    const y = rowY(slot);
    const death =
      record.ops.find((op) => op.pid === pid && (op.op === 'exit' || op.op === 'sigkill'))?.at ??
      record.endedAt;
    for (let i = 0; i < list.length; i++) {
      const role = list[i]!;
      if (role.role !== 'leader') continue;
      const next = list.slice(i + 1).find((entry) => entry.role !== 'leader' || entry.term !== role.term);
      const end = Math.min(next?.at ?? record.endedAt, death);
      // Past the end of the lease validity its runs knew of, the role is stale (a paused process
      // learns that it lost the lease only when it runs again): draw that part faded.
      const validEnd = Math.max(role.at, validUntil.get(`${pid}:${role.term}`) ?? end);
      const solidEnd = Math.min(end, validEnd);
      const w = Math.max(1, x(solidEnd) - x(role.at));
      add(
        `<rect x="${x(role.at)}" y="${y + 12}" width="${w}" height="18" fill="${termColour(role.term ?? 0)}" rx="2"><title>${escapeXml(`${slot} pid ${pid} leader, term ${role.term} (${((role.at - t0) / 1000).toFixed(2)}–${((solidEnd - t0) / 1000).toFixed(2)} s)`)}</title></rect>`,
      );
      if (end > solidEnd) {
        add(
          `<rect x="${x(solidEnd)}" y="${y + 12}" width="${Math.max(1, x(end) - x(solidEnd))}" height="18" fill="${termColour(role.term ?? 0)}" opacity="0.25"><title>${escapeXml(`${slot} still recorded as leader of term ${role.term}, but its lease had expired (process paused or starved)`)}</title></rect>`,
        );
      }
      if (w > 24)
        add(`<text x="${x(role.at) + 3}" y="${y + 25}" fill="white" font-size="10">t${role.term}</text>`);
    }
  }
  // Runs, merged into spans where they follow each other closely.
  const runs = entries
    .filter((entry): entry is RunEntry => entry.event === 'run')
    .sort((a, b) => a.start - b.start);
  const spans = new Map<number, { from: number; to: number; stale: boolean }[]>();
  for (const run of runs) {
    let list = spans.get(run.pid);
    if (!list) spans.set(run.pid, (list = []));
    const stale = !run.activeAtEnd && run.end > run.start + run.leaseLeftAtStartMs;
    const last = list.at(-1);
    if (last && !stale && !last.stale && run.start - last.to < record.timings.jobIntervalMs * 2)
      last.to = run.end;
    else list.push({ from: run.start, to: run.end, stale });
  }
  for (const [pid, list] of spans) {
    const slot = pids.get(pid);
    if (!slot || !rows.includes(slot)) continue;
    const y = rowY(slot);
    for (const span of list) {
      add(
        `<rect x="${x(span.from)}" y="${y + 32}" width="${Math.max(1, x(span.to) - x(span.from))}" height="5" fill="${span.stale ? '#d62728' : '#333'}"${span.stale ? '><title>run that outlived its lease (paused mid-run)</title></rect>' : '/>'}`,
      );
    }
  }
  // Leader-task mode: the task's heartbeats, merged into spans per tenure (teal), and heartbeats
  // written after their tenure ended (red ticks).
  const beats = entries
    .filter((entry): entry is TaskEntry => entry.event === 'task')
    .sort((a, b) => a.at - b.at);
  const beatGap = (record.timings.taskHeartbeatMs ?? 100) * 3;
  const taskSpans = new Map<string, { pid: number; term: number; from: number; to: number }[]>();
  for (const beat of beats) {
    const slot = pids.get(beat.pid);
    if (!slot || !rows.includes(slot)) continue;
    if (!beat.active) {
      add(
        `<rect x="${x(beat.at) - 1}" y="${rowY(slot) + 4}" width="2" height="8" fill="#d62728"><title>${escapeXml(`task heartbeat of term ${beat.term} written after its tenure ended`)}</title></rect>`,
      );
      continue;
    }
    const key = `${beat.pid}:${beat.term}`;
    let list = taskSpans.get(key);
    if (!list) taskSpans.set(key, (list = []));
    const last = list.at(-1);
    if (last && beat.at - last.to <= beatGap) last.to = beat.at;
    else list.push({ pid: beat.pid, term: beat.term, from: beat.at, to: beat.at });
  }
  for (const list of taskSpans.values()) {
    for (const span of list) {
      const slot = pids.get(span.pid)!;
      add(
        `<rect x="${x(span.from)}" y="${rowY(slot) + 8}" width="${Math.max(1, x(span.to) - x(span.from))}" height="3" fill="#1b9e77"><title>${escapeXml(`leader task of term ${span.term}: heartbeats ${((span.from - t0) / 1000).toFixed(2)}–${((span.to - t0) / 1000).toFixed(2)} s`)}</title></rect>`,
      );
    }
  }
  // Stale writes rejected by the fenced register.
  for (const rejected of report.fencing.details) {
    const slot = pids.get(rejected.pid) ?? rejected.replica;
    if (!rows.includes(slot)) continue;
    const cx = x(rejected.at);
    const cy = rowY(slot) + 40;
    add(
      `<path d="M${cx - 4},${cy + 6} L${cx + 4},${cy + 6} L${cx},${cy - 1} Z" fill="#d62728"><title>${escapeXml(`stale write rejected: term ${rejected.term} < ${rejected.highestSeen}`)}</title></path>`,
    );
  }

  // Fault markers.
  for (const fault of record.faults) {
    const colour = FAULT_COLOURS[fault.kind];
    const fx = x(fault.at);
    const label = labels.find((l) => l.id === fault.id)!;
    const labelY = 56 + label.line * 12;
    add(
      `<line x1="${fx}" y1="${labelY - 8}" x2="${fx}" y2="${top + plotHeight}" stroke="${colour}" stroke-width="1.5" stroke-dasharray="4,3"/>`,
    );
    add(
      `<text x="${fx + 3}" y="${labelY}" fill="${colour}" font-size="10"><title>${escapeXml(`${describeFault(fault)}; new leader after ${report.faults.find((o) => o.id === fault.id)?.takeoverMs ?? '—'} ms`)}</title>${escapeXml(label.text)}</text>`,
    );
    if (fault.healedAt && fault.kind !== 'azurite-restart') {
      add(
        `<line x1="${x(fault.healedAt)}" y1="${top + (fault.slot ? rowY(fault.slot) - top : 0)}" x2="${x(fault.healedAt)}" y2="${top + (fault.slot ? rowY(fault.slot) - top + rowHeight : plotHeight)}" stroke="${colour}" stroke-width="1"/>`,
      );
    }
  }

  // Axis.
  const axisY = top + plotHeight + 4;
  add(`<line x1="${left}" y1="${axisY}" x2="${left + plotWidth}" y2="${axisY}" stroke="#333"/>`);
  const spanS = span / 1000;
  const step = [1, 2, 5, 10, 15, 30, 60, 120, 300].find((s) => spanS / s <= 20) ?? 600;
  for (let s = 0; s <= spanS; s += step) {
    const tx = left + (s / spanS) * plotWidth;
    add(
      `<line x1="${tx}" y1="${axisY}" x2="${tx}" y2="${axisY + 5}" stroke="#333"/><text x="${tx}" y="${axisY + 17}" text-anchor="middle">${s}s</text>`,
    );
  }

  // Legend.
  const ly = axisY + 40;
  const legend: [string, string][] = [
    ['leader (colour = term)', termColour(3)],
    ['job runs', '#333'],
    ...(beats.length ? ([['leader task heartbeats', '#1b9e77']] as [string, string][]) : []),
    ['run that outlived its lease', '#d62728'],
    ['SIGSTOPped', '#9467bd'],
    ['partition', FAULT_COLOURS.partition],
    ['latency', FAULT_COLOURS.latency],
    ['Azurite down', '#aec7e8'],
  ];
  let lx = left;
  for (const [text, colour] of legend) {
    add(
      `<rect x="${lx}" y="${ly - 9}" width="14" height="10" fill="${colour}"/><text x="${lx + 18}" y="${ly}">${escapeXml(text)}</text>`,
    );
    lx += 28 + text.length * 6.2;
  }
  add(
    `<path d="M${lx},${ly + 1} L${lx + 8},${ly + 1} L${lx + 4},${ly - 7} Z" fill="#d62728"/><text x="${lx + 12}" y="${ly}">stale write rejected</text>`,
  );
  const kinds = Object.entries(FAULT_COLOURS);
  lx = left;
  for (const [kind, colour] of kinds) {
    add(
      `<line x1="${lx}" y1="${ly + 18}" x2="${lx + 14}" y2="${ly + 18}" stroke="${colour}" stroke-width="2" stroke-dasharray="4,3"/><text x="${lx + 18}" y="${ly + 22}">${kind}</text>`,
    );
    lx += 40 + kind.length * 6.2;
  }
  add(
    `<text x="${left}" y="${ly + 44}" fill="#555">${escapeXml('Grey line: process alive. Red band: two replicas believed they led (must not happen); cyan band: same, after the store lost its data.')}</text>`,
  );
  add('</svg>');
  return `${out.join('\n')}\n`;
}
