import 'reflect-metadata';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Injectable, type INestApplication } from '@nestjs/common';
import { Cron, Interval, Timeout } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import {
  currentLeadership,
  LeaderElectionService,
  LeaderElectionSetupError,
  LeaderOnly,
  TickLedgerError,
} from '../../lib/index.js';
import { LeaderElectionTesting, LeaderElectionTestingModule } from '../../lib/testing/index.js';
import { LeaderGateRunner } from '../../lib/nest/leader-gate.js';
import type { GatedRunEvent } from '../../lib/nest/interfaces/leader-gate.interface.js';
import { RecordingLogger } from '../support/recording-logger.js';

// @LeaderOnly({ catchUp }) (issue 21 part 2): a @Cron tick that fell into a leadership gap runs once
// on the next leader, recorded in the tick ledger before it runs. Only Date is faked: cron ticks are
// wall-clock instants, and the testing kit has no timers of its own.

const MINUTE = 60_000;
const T0 = Date.UTC(2026, 11, 7, 12, 0, 0); // a whole minute: a tick of '0 * * * * *'

let app: INestApplication | undefined;
let logger: RecordingLogger;

beforeEach(() => {
  logger = new RecordingLogger();
  jest.useFakeTimers({
    now: T0,
    doNotFake: [
      'hrtime',
      'nextTick',
      'performance',
      'queueMicrotask',
      'setImmediate',
      'clearImmediate',
      'setInterval',
      'clearInterval',
      'setTimeout',
      'clearTimeout',
    ],
  });
});

afterEach(async () => {
  jest.useRealTimers();
  await app?.close();
  app = undefined;
});

const at = (ms: number): void => jest.setSystemTime(ms);
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
};

@Injectable()
class MinuteJob {
  readonly runs: { term: number | undefined; at: number; recorded: number | undefined }[] = [];
  ledgerProbe?: () => Promise<number | undefined>;

  @Cron('0 * * * * *')
  @LeaderOnly({ catchUp: { deadlineMs: 30_000 } })
  async tick(): Promise<void> {
    this.runs.push({ term: currentLeadership()?.term, at: Date.now(), recorded: await this.ledgerProbe?.() });
  }
}

async function boot(
  role: 'leader' | 'follower',
  providers: unknown[] = [MinuteJob],
): Promise<{ job: MinuteJob; testing: LeaderElectionTesting; events: GatedRunEvent[] }> {
  const moduleRef = await Test.createTestingModule({
    imports: [LeaderElectionTestingModule.forRoot({ role, logger })],
    providers: providers as never[],
  }).compile();
  app = moduleRef.createNestApplication();
  await app.init();
  const events: GatedRunEvent[] = [];
  app.get(LeaderGateRunner).gatedRuns$.subscribe((event) => events.push(event));
  return { job: app.get(MinuteJob), testing: app.get(LeaderElectionTesting), events };
}

describe('catchUp: options refused at startup', () => {
  it.each([0, -1, 1.5, Number.NaN, '60000', null])('deadlineMs %p is refused, naming the option', (value) => {
    expect(() => LeaderOnly({ catchUp: { deadlineMs: value as never } })).toThrow(LeaderElectionSetupError);
    expect(() => LeaderOnly({ catchUp: { deadlineMs: value as never } })).toThrow(
      /"catchUp\.deadlineMs" got .*allowed: \{ deadlineMs \} with deadlineMs a whole number of milliseconds ≥ 1/,
    );
  });

  it('catchUp that is no object, or has an unknown key, is refused', () => {
    expect(() => LeaderOnly({ catchUp: true as never })).toThrow(/option "catchUp" got true/);
    expect(() => LeaderOnly({ catchUp: { deadline: 5 } as never })).toThrow(
      /unknown option "deadline" \(did you mean "deadlineMs"\?\)/,
    );
  });

  it('leaderOnly(fn) does not take catchUp (a function has no cron schedule)', async () => {
    await boot('leader');
    expect(() =>
      app!.get(LeaderElectionService).leaderOnly(() => 1, { catchUp: { deadlineMs: 1 } } as never),
    ).toThrow(/unknown option "catchUp"/);
  });

  it('catchUp on @Interval is refused at boot, naming the method and what is allowed', async () => {
    @Injectable()
    class IntervalJob {
      @Interval(1000)
      @LeaderOnly({ catchUp: { deadlineMs: 5000 } })
      poll(): void {}
    }
    await expect(boot('leader', [IntervalJob])).rejects.toThrow(
      /catchUp on IntervalJob\.poll: catchUp is allowed on @Cron methods only, and IntervalJob\.poll is an @Interval method/,
    );
  });

  it('catchUp on @Timeout is refused at boot, pointing to runMissedTimeout', async () => {
    @Injectable()
    class TimeoutJob {
      @Timeout(1000)
      @LeaderOnly({ catchUp: { deadlineMs: 5000 } })
      once(): void {}
    }
    await expect(boot('leader', [TimeoutJob])).rejects.toThrow(
      /TimeoutJob\.once is a @Timeout method.*runMissedTimeout/,
    );
  });

  it('catchUp on a method that is not scheduled is refused at boot', async () => {
    @Injectable()
    class PlainJob {
      @LeaderOnly({ catchUp: { deadlineMs: 5000 } })
      work(): void {}
    }
    await expect(boot('leader', [PlainJob])).rejects.toThrow(/PlainJob\.work is not a @Cron method/);
  });

  it('two different catch-up methods with one Class.method key on one lease are refused at boot', async () => {
    const nightlyJobs = () => {
      @Injectable()
      class NightlyJobs {
        @Cron('0 * * * * *')
        @LeaderOnly({ catchUp: { deadlineMs: 5000 } })
        report(): void {}
      }
      return NightlyJobs;
    };
    await expect(boot('leader', [MinuteJob, nightlyJobs(), nightlyJobs()])).rejects.toThrow(
      /catchUp on NightlyJobs\.report: two different methods of that name .* would share one tick record/,
    );
  });

  it('catchUp on a @Cron at a Date (one shot) is refused at boot', async () => {
    @Injectable()
    class DateJob {
      @Cron(new Date(T0 + 3_600_000))
      @LeaderOnly({ catchUp: { deadlineMs: 5000 } })
      once(): void {}
    }
    await expect(boot('leader', [DateJob])).rejects.toThrow(/must be a cron expression string/);
  });
});

describe('catchUp: a leader records each tick before it runs', () => {
  it('the tick is in the ledger, under the tenure term, when the method starts', async () => {
    const { job, testing } = await boot('leader');
    job.ledgerProbe = async () => (await testing.tickLedger.lastTick('leader', 'MinuteJob.tick'))?.tickAt;
    at(T0 + 150); // the scheduler fires a little after the tick
    await job.tick();
    expect(job.runs).toEqual([{ term: 1, at: T0 + 150, recorded: T0 }]);
    expect(await testing.tickLedger.lastTick('leader', 'MinuteJob.tick')).toEqual({ tickAt: T0, term: 1 });
  });

  it('a tick recorded already (started by an earlier leader, maybe dead mid-run) is not run again', async () => {
    const { job, testing, events } = await boot('leader');
    await testing.tickLedger.claim({ leaseName: 'leader', job: 'MinuteJob.tick', tickAt: T0, term: 1 });
    at(T0 + 900);
    await job.tick();
    expect(job.runs).toEqual([]);
    expect(events).toEqual([{ leaseName: 'leader', outcome: 'skipped', reason: 'tick_already_run' }]);
    at(T0 + MINUTE + 5); // the next tick runs
    await job.tick();
    expect(job.runs.map((run) => run.at)).toEqual([T0 + MINUTE + 5]);
  });

  it('a leader whose term is below the ledger term (a later leader wrote) does not run the tick', async () => {
    const { job, testing } = await boot('leader'); // term 1
    await testing.tickLedger.claim({
      leaseName: 'leader',
      job: 'MinuteJob.tick',
      tickAt: T0 - MINUTE,
      term: 5,
    });
    at(T0 + 10);
    await job.tick();
    expect(job.runs).toEqual([]);
    expect(await testing.tickLedger.lastTick('leader', 'MinuteJob.tick')).toEqual({
      tickAt: T0 - MINUTE,
      term: 5,
    });
  });

  it('when the ledger cannot record the tick, the run does not start; warned once; runs again once it answers', async () => {
    const { job, testing, events } = await boot('leader');
    const claim = jest
      .spyOn(testing.tickLedger, 'claim')
      .mockRejectedValue(new TickLedgerError('storage down (test)'));
    at(T0 + 10);
    await expect(job.tick()).resolves.toBeUndefined();
    at(T0 + MINUTE + 10);
    await expect(job.tick()).resolves.toBeUndefined();
    expect(job.runs).toEqual([]);
    expect(events.map((event) => event.reason)).toEqual(['ledger_unavailable', 'ledger_unavailable']);
    const warnings = logger.lines.filter((line) => line.level === 'warn' && /Tick ledger/.test(line.message));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toMatch(/storage down \(test\)/);
    claim.mockRestore();
    at(T0 + 2 * MINUTE + 10);
    await job.tick();
    expect(job.runs.map((run) => run.at)).toEqual([T0 + 2 * MINUTE + 10]);
    expect(logger.text()).toMatch(/Tick ledger of lease "leader" answers again/);
  });

  it('a tick fired twice (a late timer) runs once', async () => {
    const { job } = await boot('leader');
    at(T0 + 10);
    await Promise.all([job.tick(), job.tick()]);
    at(T0 + 20);
    await job.tick();
    expect(job.runs).toHaveLength(1);
  });
});

describe('catchUp: a new leader runs the missed tick', () => {
  it('a tick a follower skipped runs once when it becomes leader within the deadline, under the new term', async () => {
    const { job, testing } = await boot('follower');
    at(T0 + 5);
    await job.tick(); // skipped: another replica leads (or led, and just died)
    expect(job.runs).toEqual([]);
    at(T0 + 15_000);
    testing.becomeLeader(undefined, { term: 7 });
    await settle();
    expect(job.runs).toEqual([{ term: 7, at: T0 + 15_000, recorded: undefined }]);
    expect(await testing.tickLedger.lastTick('leader', 'MinuteJob.tick')).toEqual({ tickAt: T0, term: 7 });
    at(T0 + 15_100);
    await job.tick(); // the same tick fired late on this replica: not run twice
    expect(job.runs).toHaveLength(1);
    expect(logger.text()).toMatch(/Catching up MinuteJob\.tick: its tick 2026-12-07T12:00:00\.000Z/);
  });

  it('a tick older than deadlineMs when leadership begins is dropped', async () => {
    const { job, testing } = await boot('follower');
    at(T0 + 5);
    await job.tick();
    at(T0 + 30_001); // deadlineMs is 30 000
    testing.becomeLeader();
    await settle();
    expect(job.runs).toEqual([]);
  });

  it('exactly at the deadline the tick still runs', async () => {
    const { job, testing } = await boot('follower');
    at(T0 + 5);
    await job.tick();
    at(T0 + 30_000);
    testing.becomeLeader();
    await settle();
    expect(job.runs).toHaveLength(1);
  });

  it('only the latest missed tick runs, not one per missed tick', async () => {
    const { job, testing } = await boot('follower');
    await testing.tickLedger.claim({
      leaseName: 'leader',
      job: 'MinuteJob.tick',
      tickAt: T0 - MINUTE,
      term: 1,
    });
    for (let i = 0; i < 3; i++) {
      at(T0 + i * MINUTE + 5);
      await job.tick();
    }
    at(T0 + 2 * MINUTE + 10_000);
    testing.becomeLeader(undefined, { term: 2 });
    await settle();
    expect(job.runs).toHaveLength(1);
    expect(await testing.tickLedger.lastTick('leader', 'MinuteJob.tick')).toEqual({
      tickAt: T0 + 2 * MINUTE,
      term: 2,
    });
  });

  it('a tick recorded by the old leader (it died mid-run) is not run again by the new leader', async () => {
    const { job, testing } = await boot('follower');
    await testing.tickLedger.claim({ leaseName: 'leader', job: 'MinuteJob.tick', tickAt: T0, term: 1 });
    at(T0 + 5);
    await job.tick();
    at(T0 + 15_000);
    testing.becomeLeader(undefined, { term: 2 });
    await settle();
    expect(job.runs).toEqual([]);
  });

  it('a tick no replica saw (cluster down at the tick) runs when the ledger shows an earlier tick', async () => {
    const { job, testing } = await boot('follower');
    await testing.tickLedger.claim({
      leaseName: 'leader',
      job: 'MinuteJob.tick',
      tickAt: T0 - MINUTE,
      term: 1,
    });
    at(T0 + 20_000);
    testing.becomeLeader(undefined, { term: 2 });
    await settle();
    expect(job.runs.map((run) => run.term)).toEqual([2]);
  });

  it('a job with no record, whose tick this replica did not see, is not run (a fresh deploy runs no past tick)', async () => {
    const { job, testing } = await boot('follower');
    at(T0 + 20_000);
    testing.becomeLeader();
    await settle();
    expect(job.runs).toEqual([]);
  });

  it('a catch-up run that throws is logged (never thrown into the election), and does not hold back other jobs', async () => {
    @Injectable()
    class TwoJobs {
      readonly ran: string[] = [];
      @Cron('0 * * * * *')
      @LeaderOnly({ catchUp: { deadlineMs: 30_000 } })
      async failing(): Promise<void> {
        this.ran.push('failing');
        throw new Error('report failed (test)');
      }
      @Cron('0 * * * * *')
      @LeaderOnly({ catchUp: { deadlineMs: 30_000 } })
      async slow(): Promise<void> {
        this.ran.push('slow');
        await new Promise(() => undefined); // never ends
      }
      @Cron('0 * * * * *')
      @LeaderOnly({ catchUp: { deadlineMs: 30_000 } })
      after(): void {
        this.ran.push('after');
      }
    }
    const moduleRef = await Test.createTestingModule({
      imports: [LeaderElectionTestingModule.forRoot({ role: 'follower', logger, shutdownTimeoutMs: 100 })],
      providers: [TwoJobs],
    }).compile();
    app = moduleRef.createNestApplication();
    await app.init();
    const jobs = app.get(TwoJobs);
    at(T0 + 5);
    await jobs.failing();
    await jobs.slow();
    jobs.after();
    at(T0 + 10_000);
    app.get(LeaderElectionTesting).becomeLeader();
    await settle();
    expect(jobs.ran.sort()).toEqual(['after', 'failing', 'slow']);
    expect(logger.text()).toMatch(/error: Catch-up run of TwoJobs\.failing failed: report failed \(test\)/);
  });

  it('a tenure that ends before the catch-up starts runs nothing', async () => {
    const { job, testing } = await boot('follower');
    at(T0 + 5);
    await job.tick();
    at(T0 + 10_000);
    testing.becomeLeader();
    testing.loseLeadership(undefined, { leader: 'other', term: 9 });
    await settle();
    expect(job.runs).toEqual([]);
  });
});
