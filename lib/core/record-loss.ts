import type { Clock } from './clock.js';
import type { LeaseObservation } from './lease-store.js';
import type { ElectionLogger } from './logger.js';
import { recordLossWaitUntil } from './timing.js';

/**
 * The rules for a lost lease record (blob or container deleted, storage reset), in one place. See
 * docs/GUARANTEES.md, "When the store loses the lease record".
 *
 * The holder at the moment of the loss (the pre-loss holder) may still believe in its lease for up
 * to D after its last renewal, which was before the loss, and the store can no longer tell anyone.
 * A replica that notices a loss (a lower term on a follower poll or at acquisition, or a 404 on its
 * own renewal) therefore does not lead for one lease duration from that moment. Nobody ends the wait
 * early, not even the holder whose renewal got the 404: between its record's loss and its 404 another
 * record may have been created and lost, and its holder may still believe in it (an empty record
 * cannot tell "nothing since" from "a record came and went").
 */
export class RecordLossRules {
  /**
   * Highest term seen on the lease record as it is now. A term below it means the record was lost
   * and recreated. It follows the new record after a loss, so that a second loss is noticed against
   * the new record's terms (unlike the highest term ever seen, which only grows).
   */
  private recordTerm = 0;
  /** Who that term was written for: one acquisition writes a term and its holder together. */
  private recordHolder?: string;
  private waitUntil?: number;

  constructor(
    private readonly clock: Clock,
    private readonly logger: ElectionLogger,
    private readonly lease: { leaseName: string; identity: string; leaseDurationMs: number },
  ) {}

  /**
   * The recorded term this replica last saw: an acquisition reporting a lower previous term found a
   * lost record.
   */
  get termOnRecord(): number {
    return this.recordTerm;
  }

  /** Applied to every follower observation. True while this replica must not compete. */
  waitingAfter(observation: LeaseObservation): boolean {
    const termBefore = this.recordTerm;
    const holderBefore = this.recordHolder;
    this.recordTerm = observation.term;
    this.recordHolder = observation.holder;
    if (observation.term < termBefore)
      this.start(termBefore, `by a follower poll, term ${observation.term} now`);
    else if (
      observation.term === termBefore &&
      termBefore > 0 &&
      holderBefore !== undefined &&
      observation.holder !== undefined &&
      observation.holder !== holderBefore
    )
      // The same term under another holder: a recreated record climbed back to the lost one's term.
      this.start(termBefore, `by a follower poll, term ${termBefore} now written for another holder`);
    if (this.waitUntil === undefined) return false;
    if (this.clock.now() < this.waitUntil) return true;
    this.waitUntil = undefined;
    return false;
  }

  /**
   * After a successful acquire. True when it found a lost record (`previousTerm` below the term on
   * record): the caller must neither lead on it nor release it (holding it unused keeps everyone out
   * for the same lease duration the wait lasts).
   */
  lostAtAcquisition(termBefore: number, previousTerm: number | undefined, newTerm: number): boolean {
    if (previousTerm === undefined || previousTerm >= termBefore) return false;
    this.start(termBefore, 'at acquisition');
    this.recordTerm = newTerm;
    this.recordHolder = this.lease.identity;
    return true;
  }

  /**
   * Our renewal found our record gone (404): a loss noticed like any other. The term on record stays
   * the lost one, so our first observation afterwards notices the loss again and the wait runs D from
   * then: a partition between the 404 and that observation may have hidden a whole record's life.
   */
  ownRecordLost(term: number): void {
    this.start(term, 'by our own renewal (404)');
  }

  /** We lead with `term`: our acquisition wrote the newest record, any earlier loss is settled. */
  promoted(term: number): void {
    this.recordTerm = term;
    this.recordHolder = this.lease.identity;
    this.waitUntil = undefined;
  }

  private start(termBefore: number, how: string): void {
    const until = recordLossWaitUntil(this.clock.now(), this.lease);
    const waiting = this.waitUntil !== undefined && this.clock.now() < this.waitUntil;
    this.waitUntil = Math.max(this.waitUntil ?? -Infinity, until);
    if (waiting) return;
    this.logger.warn(
      `The lease record of "${this.lease.leaseName}" was lost ` +
        `(noticed ${how}; term ${termBefore} recorded before); ` +
        `waiting one lease duration (${this.lease.leaseDurationMs / 1000} s) before leading ` +
        'so that a holder who still believes in its lease has stopped',
    );
  }
}
