import { describe, expect, it } from '@jest/globals';
import { LeadershipEndedError } from '../../lib/core/leadership.js';
import { Tenure, type ReleaseChannel, type TenureEnvironment } from '../../lib/core/tenure.js';
import {
  deadlineAfter,
  leaseExpiredBy,
  permanentErrorBackoff,
  renewalBudget,
} from '../../lib/core/timing.js';
import { ManualClock } from '../support/manual-clock.js';
import { RecordingLogger } from '../support/recording-logger.js';

// Issue 18: the tenure as a unit. Releasing is a method of the tenure: it drains first (bounded),
// and it never frees a lease a later tenure holds.

const timings = {
  leaseDurationMs: 15_000,
  safetyMarginMs: 1_000,
  renewIntervalMs: 5_000,
  renewRetryIntervalMs: 500,
  requestTimeoutMs: 5_000,
  retryIntervalMs: 2_000,
  maxErrorBackoffMs: 30_000,
};

function tenureAt(sentAt = 0) {
  const clock = new ManualClock();
  const logger = new RecordingLogger();
  const deadlines: Tenure[] = [];
  const env: TenureEnvironment = {
    clock,
    logger,
    timings,
    leaseName: 'jobs',
    drainTimeoutMs: 10_000,
    onDeadline: (t) => deadlines.push(t),
  };
  const tenure = new Tenure(1, sentAt, env);
  const sent: (string | undefined)[] = [];
  const channel = (current?: Tenure): ReleaseChannel => ({
    current: () => current,
    send: async (successor) => void sent.push(successor),
  });
  return { clock, logger, tenure, sent, channel, deadlines, env };
}

describe('Tenure', () => {
  it('is valid only while leading and before sentAt + D − safetyMargin; a renewal moves the deadline from its send time', async () => {
    const { clock, tenure } = tenureAt(0);
    expect(tenure.deadline).toBe(14_000);
    expect(tenure.isValid(13_999)).toBe(true);
    expect(tenure.isValid(14_000)).toBe(false);
    await clock.advanceTo(5_000);
    tenure.renewed(4_900);
    expect(tenure.deadline).toBe(18_900);
    tenure.renewed(4_000); // an older send time never moves it back
    expect(tenure.deadline).toBe(18_900);
    expect(tenure.remainingMs()).toBe(13_900);
  });

  it('the deadline timer reports the tenure once due, not after it ended', async () => {
    const { clock, tenure, deadlines } = tenureAt(0);
    tenure.armDeadlineTimer();
    await clock.advanceTo(13_999);
    expect(deadlines).toHaveLength(0);
    await clock.advanceTo(14_000);
    expect(deadlines).toEqual([tenure]);
    tenure.armDeadlineTimer();
    tenure.end('deadline', 'gone');
    await clock.advance(60_000);
    expect(deadlines).toHaveLength(1);
  });

  it('ends once: the signal aborts with the typed reason; a second end changes nothing', () => {
    const { tenure } = tenureAt();
    expect(tenure.end('step-down', 'bye')).toBe(true);
    expect(tenure.end('lost', 'again')).toBe(false);
    expect(tenure.signal.reason).toBeInstanceOf(LeadershipEndedError);
    expect((tenure.signal.reason as LeadershipEndedError).kind).toBe('step-down');
    expect(tenure.isValid(0)).toBe(false);
  });

  it('releases only after it ended and after its drain finished, naming the successor', async () => {
    const { clock, tenure, sent, channel } = tenureAt();
    expect(await tenure.release(channel())).toBe('leading'); // must end first
    expect(sent).toEqual([]);
    tenure.end('step-down', 'hand-over');
    let drained = false;
    const releasing = tenure.release(
      channel(),
      async () => {
        await clock.advance(0);
        drained = true;
      },
      'b',
    );
    expect(tenure.state).toBe('draining');
    await clock.advance(1);
    expect(await releasing).toBe('released');
    expect(drained).toBe(true);
    expect(sent).toEqual(['b']);
  });

  it('never frees a lease a later tenure holds', async () => {
    const { tenure, sent, channel, env } = tenureAt();
    tenure.end('step-down', 'bye');
    const later = new Tenure(2, 0, env);
    expect(await tenure.release(channel(later))).toBe('superseded');
    expect(sent).toEqual([]);
  });

  it('leaves the lease to expire when the drain says work still runs, or does not end within the bound', async () => {
    const vetoed = tenureAt();
    vetoed.tenure.end('stopped', 'stop');
    expect(await vetoed.tenure.release(vetoed.channel(), async () => false)).toBe('left-to-expire');
    expect(vetoed.sent).toEqual([]);
    expect(vetoed.logger.text()).toMatch(
      /Not releasing lease "jobs": work of the ended tenure is still running/,
    );

    const stuck = tenureAt();
    stuck.tenure.end('step-down', 'bye');
    const releasing = stuck.tenure.release(stuck.channel(), () => new Promise<void>(() => undefined));
    await stuck.clock.advance(9_999);
    expect(stuck.tenure.state).toBe('draining');
    await stuck.clock.advance(1);
    expect(await releasing).toBe('left-to-expire');
    expect(stuck.sent).toEqual([]);
  });
});

describe('timing rules (lib/core/timing.ts)', () => {
  it('are each written once', () => {
    expect(deadlineAfter(1_000, timings)).toBe(15_000);
    expect(leaseExpiredBy(1_000, timings)).toBe(16_000);
    expect(renewalBudget(15_000, 12_000, timings)).toBe(3_000);
    expect(renewalBudget(15_000, 1_000, timings)).toBe(5_000);
    expect([1, 2, 3, 5, 20].map((n) => permanentErrorBackoff(n, timings))).toEqual([
      2_000, 4_000, 8_000, 30_000, 30_000,
    ]);
  });
});
