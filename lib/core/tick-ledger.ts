import { LeaderElectionError } from './errors.js';

/**
 * The tick ledger port: for each lease, the last scheduled tick each catch-up job started, and the
 * term of the leader that started it. A tick is recorded BEFORE its run starts, so a tick is run at
 * most once across tenures (docs/leader-work.md, "Missed cron ticks"). Implementations: memory
 * (stores/memory), Azure blob (stores/azure-blob); a custom LeaseStore may implement it too.
 */
export interface TickLedger {
  /** The record of `job` under `leaseName`, or undefined when the job never recorded a tick. */
  lastTick(leaseName: string, job: string, signal: AbortSignal): Promise<TickRecord | undefined>;
  /**
   * Records that `job` starts tick `tickAt` under `term`, atomically (compare-and-set on the stored
   * record) and only as {@link decideClaim} allows. Throws {@link TickLedgerError} when the answer is
   * unknown: the caller must then not run the tick.
   */
  claim(request: TickClaim, signal: AbortSignal): Promise<ClaimResult>;
}

export interface TickRecord {
  /** Scheduled instant of the tick, epoch ms (whole seconds for cron ticks). */
  tickAt: number;
  /** Term of the leader that recorded it. */
  term: number;
}

export interface TickClaim extends TickRecord {
  leaseName: string;
  job: string;
}

export type ClaimResult =
  | { claimed: true }
  /** already-run: a tick at or after tickAt is recorded; stale-term: a later leader has written. */
  | { claimed: false; reason: 'already-run' | 'stale-term'; recorded: TickRecord };

/** The ledger could not give an answer (network, storage, malformed record): transient, never fatal. */
export class TickLedgerError extends LeaderElectionError {}

/**
 * The claim rule every ledger applies to the record it read (then writes the new record only if the
 * stored one did not change in between). A writer whose term is below the highest term the ledger
 * has seen for the lease is refused, so an ex-leader's late write cannot overwrite its successor's;
 * a tick at or before the recorded one is refused, so a tick runs once.
 */
export function decideClaim(
  recorded: TickRecord | undefined,
  leaseTerm: number,
  claim: TickRecord,
): ClaimResult {
  if (claim.term < leaseTerm)
    return { claimed: false, reason: 'stale-term', recorded: recorded ?? { tickAt: 0, term: leaseTerm } };
  if (recorded && recorded.tickAt >= claim.tickAt) return { claimed: false, reason: 'already-run', recorded };
  return { claimed: true };
}

/** What one lease's ledger holds: the highest term that wrote, and each job's last tick. */
export interface LedgerDocument {
  term: number;
  jobs: Record<string, TickRecord>;
}

/** The document after a claim, when {@link decideClaim} allowed it. */
export function withClaim(document: LedgerDocument, claim: TickClaim): LedgerDocument {
  return {
    term: Math.max(document.term, claim.term),
    jobs: { ...document.jobs, [claim.job]: { tickAt: claim.tickAt, term: claim.term } },
  };
}

/** Reads a stored document, refusing anything that is not one (a corrupt blob must not run ticks twice). */
export function parseLedgerDocument(text: string, where: string): LedgerDocument {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new TickLedgerError(`tick ledger ${where} is not JSON`);
  }
  const doc = parsed as Partial<LedgerDocument> | null;
  if (!doc || typeof doc !== 'object' || !isWhole(doc.term) || !doc.jobs || typeof doc.jobs !== 'object')
    throw new TickLedgerError(`tick ledger ${where} is not a ledger document { term, jobs }`);
  const jobs: Record<string, TickRecord> = Object.create(null) as Record<string, TickRecord>;
  for (const [job, record] of Object.entries(doc.jobs as Record<string, Partial<TickRecord>>)) {
    if (!record || !isWhole(record.tickAt) || !isWhole(record.term))
      throw new TickLedgerError(`tick ledger ${where} has a malformed record for job ${JSON.stringify(job)}`);
    jobs[job] = { tickAt: record.tickAt, term: record.term };
  }
  return { term: doc.term, jobs };
}

export const EMPTY_LEDGER: LedgerDocument = Object.freeze({ term: 0, jobs: Object.freeze({}) });

function isWhole(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * Whether a new leader catches up `latestTick` (the latest scheduled instant at or before `now`):
 * only while it is at most `deadlineMs` old, and only when it is later than the recorded tick. With
 * no record the job never ran under the ledger (first deploy of the job, or of catchUp): the tick is
 * run only when this replica saw it fire and skipped it, so a fresh deploy does not run a past tick.
 */
export function catchUpDue(input: {
  latestTick: number | undefined;
  now: number;
  deadlineMs: number;
  recorded: TickRecord | undefined;
  latestSkipped: number | undefined;
}): boolean {
  const { latestTick, now, deadlineMs, recorded, latestSkipped } = input;
  if (latestTick === undefined || now - latestTick > deadlineMs) return false;
  if (recorded) return recorded.tickAt < latestTick;
  return latestSkipped !== undefined && latestSkipped >= latestTick;
}
