import { describe, expect, it } from '@jest/globals';
import { ElectorStoppedError, LeadershipEndedError } from '../../lib/core/errors.js';
import type { LeadershipEvent } from '../../lib/core/leadership-events.js';
import type { LeadershipState } from '../../lib/core/leadership.js';
import { ManualLeaderElector } from '../../lib/testing/manual-leader-elector.js';
import { RecordingLogger } from '../support/recording-logger.js';

// The testing kit's elector drives the core's transitions without a store (LeaderElector's hooks for
// test doubles): what a user's test sees must be what the real elector shows.

function manual() {
  const logger = new RecordingLogger();
  const elector = new ManualLeaderElector({ leaseName: 'jobs', identity: 'me', presence: false }, { logger });
  const states: LeadershipState[] = [];
  const events: LeadershipEvent[] = [];
  elector.state$.subscribe((state) => states.push(state));
  elector.events$.subscribe((event) => events.push(event));
  return { elector, logger, states, events };
}

describe('testing kit: transitions through the core', () => {
  it('grant() makes this replica leader with the term; a second grant ends the first tenure (lost) first', async () => {
    const { elector, events, logger } = manual();
    await elector.start();
    const first = elector.grant();
    expect(elector.isLeader()).toBe(true);
    expect(first.term).toBe(1);
    const second = elector.grant(5);
    expect(first.signal.aborted).toBe(true);
    expect((first.signal.reason as LeadershipEndedError).kind).toBe('lost');
    expect(second.term).toBe(5);
    expect(events.map((e) => [e.type, 'term' in e ? e.term : undefined])).toEqual([
      ['acquired', 1],
      ['leader-changed', 1],
      ['lost', 1],
      ['acquired', 5],
      ['leader-changed', 5],
    ]);
    expect(logger.text()).toContain('warn: Stepped down from "jobs" (term 1): tenure replaced by the test');
  });

  it('revoke() ends the tenure with the reason given; follow() shows another leader with its term', async () => {
    const { elector, states } = manual();
    await elector.start();
    const tenure = elector.grant(2);
    elector.revoke('deadline', 'too slow');
    expect((tenure.signal.reason as LeadershipEndedError).kind).toBe('deadline');
    expect(elector.isLeader()).toBe(false);
    elector.follow('other', 9);
    expect(states.at(-1)).toMatchObject({ role: 'follower', leader: 'other', term: 9 });
    elector.follow(undefined);
    expect(states.at(-1)?.leader).toBeUndefined();
    expect(states.at(-1)?.term).toBe(9); // the last term seen stays
  });

  it('after stop() nothing can be granted, and the streams complete', async () => {
    const { elector, states } = manual();
    await elector.start();
    elector.grant();
    let completed = false;
    elector.state$.subscribe({ complete: () => (completed = true) });
    await elector.stop();
    expect(states.at(-1)?.role).toBe('stopped');
    expect(completed).toBe(true);
    expect(() => elector.grant()).toThrow(ElectorStoppedError);
  });
});
