import type { LeaseRow } from '../leases.js';
import { describeHolder, type EndLeaseKind } from './end-lease.js';

/**
 * `break <lease>`: Break Lease with break period 0. The lease ends now and any replica may take it
 * at once, while the old holder may still believe it leads: for a holder known to be dead or stuck.
 */
export const BREAK: EndLeaseKind = {
  verb: 'break',
  breakPeriodSeconds: 0,
  actOnBreaking: true,
  consequence: (row: LeaseRow, where: string) =>
    [
      `Breaking lease "${row.lease}" (${describeHolder(row)}) in ${where} ends it now (Break Lease, ` +
        `break period 0).`,
      'Safety: another replica may acquire the lease and lead at once, while the current holder keeps ' +
        'believing it leads',
      'until its next renewal fails (within renewInterval, 5 s by default) or, if it cannot reach ' +
        'storage, until its',
      'deadline (up to D - safetyMargin after its last renewal: 14 s by default, 59 s at most). Jobs ' +
        'may run twice in',
      `that window unless they fence their writes with the term (the next leader gets term ` +
        `${row.term === null ? 'n+1' : row.term + 1} or higher).`,
      'Prefer `release` unless the holder is known to be dead or stuck.',
    ].join('\n'),
  done: (row: LeaseRow) =>
    `Lease "${row.lease}" is broken: any replica may acquire it now. ` +
    `${row.holder === null ? 'The old holder' : `"${row.holder}"`} steps down when its next renewal ` +
    `fails.`,
};
