import type { LeaseRow } from '../leases.js';
import { describeHolder, type EndLeaseKind } from './end-lease.js';

/** Longest break period Azure accepts: with it, Azure keeps the lease until its current period ends. */
export const GENTLE_BREAK_PERIOD_SECONDS = 60;

/**
 * `release <lease>`: a real Release Lease needs the lease id, which only the holder knows. For an
 * operator, release means a gentle break: Break Lease with a 60 s break period. Azure uses the
 * shorter of the break period and the time left on the lease (at most D ≤ 60 s), so the lease ends
 * exactly when it would have expired anyway: the holder cannot renew and steps down at its next
 * renewal, and no one else can acquire it before its current period ends. No overlap.
 */
export const RELEASE: EndLeaseKind = {
  verb: 'release',
  breakPeriodSeconds: GENTLE_BREAK_PERIOD_SECONDS,
  actOnBreaking: false,
  consequence: (row: LeaseRow, where: string) =>
    [
      `Releasing lease "${row.lease}" (${describeHolder(row)}) in ${where}.`,
      `Only the holder knows the lease id, so this breaks the lease gently (Break Lease, break period ` +
        `${GENTLE_BREAK_PERIOD_SECONDS} s):`,
      'it ends when its current period runs out (at most D, 60 s).',
      'Safety: no overlap. The holder cannot renew any more and steps down at its next renewal (within ' +
        'renewInterval,',
      '5 s by default); no other replica can acquire the lease before its period ends. After that any ' +
        'replica (the same',
      `one included) may take it, with term ${row.term === null ? 'n+1' : row.term + 1} or higher. ` +
        `Leader-only jobs pause until then.`,
    ].join('\n'),
  done: (row: LeaseRow, secondsLeft: number | undefined) =>
    `Lease "${row.lease}" is breaking: it ends in ` +
    `${secondsLeft === undefined ? 'at most 60' : secondsLeft} s, then any replica may acquire it.`,
};
