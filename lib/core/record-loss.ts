import type { Clock } from './clock.js';
import type { LeaseObservation } from './lease-store.js';
import type { ElectionLogger } from './logger.js';

/**
 * The rules for a lost lease record (blob or container deleted, storage reset), in one place. See
 * docs/GUARANTEES.md, "When the store loses the lease record".
 *
 * The holder at the moment of the loss (the pre-loss holder) may still believe in its lease for up
 * to D after its last renewal, which was before the loss, and the store can no longer tell anyone.
 * A replica that notices a loss therefore does not lead for one lease duration from that moment.
 * The wait ends earlier only when it protects no one:
 *   - this replica was itself that holder (its renewal found the record gone inside its deadline)
 *     and has stepped down: nobody else can believe in the lost lease;
 *   - the new record says its writer was that holder (`recoveredTerm` at least the highest term we
 *     saw on the lost record; the holder's term was at least that): its old belief ended when it
 *     stepped down to re-acquire.
 * A newer record written by anyone else does not end the wait: a follower's picture of who held the
 * lost record can be one poll stale, so it cannot tell whether that writer was the pre-loss holder.
 */
export class RecordLossRules {
  /**
   * Highest term seen on the lease record as it is now. A term below it means the record was lost
   * and recreated. It follows the new record after a loss, so that a second loss is noticed against
   * the new record's terms (unlike the highest term ever seen, which only grows).
   */
  private recordTerm = 0;
  private wait?: { until: number; termBefore: number };
  /**
   * This replica held the record when it was lost: its term, and when the lost lease had surely
   * expired on the server (last send + D). Only that loss is ours, and only until then: by that time
   * another replica may have led on a newer record this replica never saw.
   */
  private ownLoss?: { term: number; until: number };

  constructor(
    private readonly clock: Clock,
    private readonly logger: ElectionLogger,
    private readonly lease: { leaseName: string; identity: string; leaseDurationMs: number },
  ) {}

  /** The recorded term this replica last saw: an acquisition reporting a lower previous term found a lost record. */
  get termOnRecord(): number {
    return this.recordTerm;
  }

  /** The term to write as `recoveredTerm` with the next acquire: set only after our own record was lost. */
  get recoveredTerm(): number | undefined {
    return this.currentOwnLoss()?.term;
  }

  private currentOwnLoss(): { term: number; until: number } | undefined {
    if (this.ownLoss && this.clock.now() >= this.ownLoss.until) this.ownLoss = undefined;
    return this.ownLoss;
  }

  /** Applied to every follower observation. True while this replica must not compete. */
  waitingAfter(observation: LeaseObservation): boolean {
    const termBefore = this.recordTerm;
    const ownLoss = this.currentOwnLoss();
    if (ownLoss && observation.held && observation.holder !== this.lease.identity) {
      // Someone else leads on the new record: from here on the ordinary rules apply to us.
      this.ownLoss = undefined;
    }
    this.recordTerm = observation.term;
    if (observation.term < termBefore) {
      // Ours only if the record that dropped is the one we held (same term) and still in time.
      if (this.ownLoss && this.ownLoss.term === termBefore) this.wait = undefined;
      else this.start(termBefore, `by a follower poll, term ${observation.term} now`);
    }
    const wait = this.wait;
    if (!wait) return false;
    if (observation.recoveredTerm !== undefined && observation.recoveredTerm >= wait.termBefore) {
      this.wait = undefined;
      this.logger.log(
        `The holder of "${this.lease.leaseName}" at the time its record was lost (term ${observation.recoveredTerm}) has re-acquired it: ending the wait early`,
      );
      return false;
    }
    if (this.clock.now() < wait.until) return true;
    this.wait = undefined;
    return false;
  }

  /**
   * After a successful acquire. True when it found a lost record (`previousTerm` below the term on
   * record): the caller must neither lead on it nor release it (holding it unused keeps everyone out
   * for the same lease duration the wait lasts).
   */
  lostAtAcquisition(
    termBefore: number,
    previousTerm: number | undefined,
    newTerm: number,
    recovering: boolean,
  ): boolean {
    if (recovering || previousTerm === undefined || previousTerm >= termBefore) return false;
    this.start(termBefore, 'at acquisition');
    this.recordTerm = newTerm;
    return true;
  }

  /** Our renewal found our own record gone while our lease was valid: we were the pre-loss holder. */
  ownRecordLost(term: number, leaseExpiredBy: number): void {
    this.ownLoss = { term, until: leaseExpiredBy };
  }

  /** We lead with `term`: our acquisition wrote the newest record, any earlier loss is settled. */
  promoted(term: number): void {
    this.recordTerm = term;
    this.wait = undefined;
    this.ownLoss = undefined;
  }

  private start(termBefore: number, how: string): void {
    const until = this.clock.now() + this.lease.leaseDurationMs;
    if (this.wait) {
      this.wait = {
        until: Math.max(this.wait.until, until),
        termBefore: Math.max(this.wait.termBefore, termBefore),
      };
      return;
    }
    this.wait = { until, termBefore };
    this.logger.warn(
      `The lease record of "${this.lease.leaseName}" was lost (noticed ${how}; term ${termBefore} recorded before); waiting one lease duration (${this.lease.leaseDurationMs / 1000} s) before leading so that a holder who still believes in its lease has stopped`,
    );
  }
}
