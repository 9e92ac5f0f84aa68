import { describe, expect, it } from '@jest/globals';
import { RecordLossRules } from '../../lib/core/record-loss.js';
import { ManualClock } from '../support/manual-clock.js';
import { RecordingLogger } from '../support/recording-logger.js';

// The lost-record rules on their own (docs/GUARANTEES.md, "When the store loses the lease record"):
// whoever notices a loss does not lead for one lease duration D from that moment.

const D = 15_000;

function rules(): { loss: RecordLossRules; clock: ManualClock; logger: RecordingLogger } {
  const clock = new ManualClock();
  const logger = new RecordingLogger();
  const loss = new RecordLossRules(clock, logger, { leaseName: 'jobs', identity: 'me', leaseDurationMs: D });
  return { loss, clock, logger };
}

const held = (term: number, holder: string) => ({ held: true, term, holder });
const warnings = (logger: RecordingLogger) => logger.lines.filter((line) => line.level === 'warn');

describe('record-loss rules', () => {
  it('a term that only grows is no loss: nobody waits', () => {
    const { loss } = rules();
    expect(loss.waitingAfter(held(1, 'a'))).toBe(false);
    expect(loss.waitingAfter(held(2, 'b'))).toBe(false);
    expect(loss.waitingAfter({ held: false, term: 2, holder: 'b' })).toBe(false);
    expect(loss.termOnRecord).toBe(2);
  });

  it('a lower term on a follower poll: no competing for exactly one lease duration from that poll, with one warning naming D in seconds', async () => {
    const { loss, clock, logger } = rules();
    loss.waitingAfter(held(7, 'a'));
    await clock.advance(1_000);
    expect(loss.waitingAfter(held(1, 'b'))).toBe(true);
    expect(loss.termOnRecord).toBe(1); // the term on record follows the new record
    await clock.advance(D - 1);
    expect(loss.waitingAfter(held(1, 'b'))).toBe(true);
    await clock.advance(1);
    expect(loss.waitingAfter(held(1, 'b'))).toBe(false);
    expect(warnings(logger)).toHaveLength(1);
    expect(warnings(logger)[0]!.message).toBe(
      'The lease record of "jobs" was lost (noticed by a follower poll, term 1 now; term 7 recorded before); ' +
        'waiting one lease duration (15 s) before leading so that a holder who still believes in its lease has stopped',
    );
  });

  it('the same term written for another holder is a recreated record that climbed back: a loss', () => {
    const { loss, logger } = rules();
    loss.waitingAfter(held(3, 'a'));
    expect(loss.waitingAfter(held(3, 'b'))).toBe(true);
    expect(warnings(logger)[0]!.message).toContain(
      'noticed by a follower poll, term 3 now written for another holder; term 3 recorded before',
    );
  });

  it('the same term with the same holder, or with no holder known on either side, is no loss', () => {
    const { loss } = rules();
    expect(loss.waitingAfter({ held: false, term: 0 })).toBe(false);
    expect(loss.waitingAfter(held(3, 'a'))).toBe(false);
    expect(loss.waitingAfter(held(3, 'a'))).toBe(false);
    expect(loss.waitingAfter({ held: false, term: 3 })).toBe(false); // holder not shown
    expect(loss.waitingAfter(held(3, 'b'))).toBe(false); // nothing to compare with
    const other = rules().loss;
    other.waitingAfter(held(4, 'a'));
    expect(other.waitingAfter({ held: false, term: 4 })).toBe(false);
  });

  it('a second loss during a wait extends it to D after the second, without a second warning; a loss after the wait warns again', async () => {
    const { loss, clock, logger } = rules();
    loss.waitingAfter(held(9, 'a'));
    expect(loss.waitingAfter(held(2, 'b'))).toBe(true); // wait until D
    await clock.advance(D / 2);
    expect(loss.waitingAfter(held(1, 'c'))).toBe(true); // second loss: wait until 1.5 D
    expect(warnings(logger)).toHaveLength(1);
    await clock.advance(D - 1);
    expect(loss.waitingAfter(held(1, 'c'))).toBe(true);
    await clock.advance(1);
    expect(loss.waitingAfter(held(1, 'c'))).toBe(false);
    expect(loss.waitingAfter({ held: false, term: 0 })).toBe(true); // a third loss, after the wait
    expect(warnings(logger)).toHaveLength(2);
  });

  it('a loss noticed the moment the previous wait ends is a new loss: warned about, and waited out for D', async () => {
    const { loss, clock, logger } = rules();
    loss.promoted(3);
    loss.ownRecordLost(3);
    await clock.advance(D);
    loss.ownRecordLost(3);
    expect(warnings(logger)).toHaveLength(2);
    await clock.advance(D - 1);
    expect(loss.waitingAfter(held(3, 'me'))).toBe(true);
  });

  it('a second loss noticed at acquisition never shortens a running wait', async () => {
    const { loss, clock } = rules();
    loss.waitingAfter(held(9, 'a'));
    loss.ownRecordLost(9); // wait until D
    await clock.advance(D / 2);
    expect(loss.lostAtAcquisition(9, 3, 4)).toBe(true); // wait until 1.5 D
    await clock.advance(D - 1);
    expect(loss.waitingAfter(held(4, 'me'))).toBe(true);
    await clock.advance(1);
    expect(loss.waitingAfter(held(4, 'me'))).toBe(false);
  });

  it('at acquisition: a previous term below the one on record is a loss; an equal or higher one, or none reported, is not', async () => {
    const { loss, clock, logger } = rules();
    loss.waitingAfter(held(5, 'a'));
    expect(loss.lostAtAcquisition(5, undefined, 6)).toBe(false);
    expect(loss.lostAtAcquisition(5, 5, 6)).toBe(false);
    expect(loss.lostAtAcquisition(5, 6, 7)).toBe(false);
    expect(warnings(logger)).toHaveLength(0);
    expect(loss.lostAtAcquisition(5, 4, 5)).toBe(true);
    expect(warnings(logger)[0]!.message).toContain('noticed at acquisition; term 5 recorded before');
    // The record we now hold is the one on record: seeing it is no new loss, and the wait runs D.
    expect(loss.termOnRecord).toBe(5);
    await clock.advance(D - 1);
    expect(loss.waitingAfter(held(5, 'me'))).toBe(true);
    expect(warnings(logger)).toHaveLength(1);
    await clock.advance(1);
    expect(loss.waitingAfter(held(5, 'me'))).toBe(false);
  });

  it('our own 404 keeps the lost term on record: the first poll afterwards notices the loss again and waits D from then', async () => {
    const { loss, clock, logger } = rules();
    loss.promoted(8);
    expect(loss.termOnRecord).toBe(8);
    loss.ownRecordLost(8);
    expect(warnings(logger)[0]!.message).toContain(
      'noticed by our own renewal (404); term 8 recorded before',
    );
    expect(loss.termOnRecord).toBe(8);
    await clock.advance(D - 1_000); // a partition hid the store until now
    expect(loss.waitingAfter(held(1, 'x'))).toBe(true); // wait now runs until 2 D - 1 s
    await clock.advance(D - 1);
    expect(loss.waitingAfter(held(1, 'x'))).toBe(true);
    await clock.advance(1);
    expect(loss.waitingAfter(held(1, 'x'))).toBe(false);
  });

  it('leading with a term settles every earlier loss and records our term and identity', () => {
    const { loss } = rules();
    loss.waitingAfter(held(6, 'a'));
    loss.ownRecordLost(6);
    expect(loss.waitingAfter(held(6, 'a'))).toBe(true);
    loss.promoted(7);
    expect(loss.termOnRecord).toBe(7);
    expect(loss.waitingAfter(held(7, 'me'))).toBe(false);
    expect(loss.waitingAfter(held(7, 'b'))).toBe(true); // term 7 now written for another holder
  });

  it('after a loss found at acquisition, the new term is on record with our identity as its holder', async () => {
    const { loss, clock, logger } = rules();
    loss.waitingAfter(held(5, 'a'));
    expect(loss.lostAtAcquisition(5, 1, 2)).toBe(true);
    expect(loss.termOnRecord).toBe(2);
    await clock.advance(D);
    expect(loss.waitingAfter(held(2, 'me'))).toBe(false);
    expect(warnings(logger)).toHaveLength(1);
    expect(loss.waitingAfter(held(2, 'z'))).toBe(true); // term 2 now written for someone else
    expect(warnings(logger)).toHaveLength(2);
  });
});
