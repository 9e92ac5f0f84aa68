import 'reflect-metadata';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Controller, Injectable, Module, Post, type INestApplication } from '@nestjs/common';
import { Interval, ScheduleModule, Timeout } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import {
  LeaderElection,
  LeaderElectionHealthIndicator,
  LeaderElectionService,
  LeaderOnly,
  LeaderTask,
  currentLeadership,
  type Leadership,
  type LeadershipLostEvent,
  type OnLeadershipLost,
} from 'nestjs-leader-election';
import { LeaderElectionTesting, LeaderElectionTestingModule } from 'nestjs-leader-election/testing';
import * as otel from '@opentelemetry/api';
import { METRIC_NAMES } from '../../lib/metrics/metric-names.js';
import { TestMetrics } from '../support/metrics-reader.js';

// The testing kit as a user's own suite would use it: no storage, jobs under Jest fake timers,
// leadership driven by the test.

@Injectable()
class Jobs {
  ticks: (number | undefined)[] = [];
  warmUps = 0;

  @Interval(60_000)
  @LeaderOnly()
  everyMinute(): void {
    this.ticks.push(currentLeadership()?.term);
  }

  @Timeout(1_000)
  @LeaderOnly()
  warmUp(): void {
    this.warmUps++;
  }
}

@Injectable()
@LeaderElection()
class Consumer implements OnLeadershipLost {
  runs: { term: number; aborted?: string }[] = [];
  lost: LeadershipLostEvent['reason'][] = [];

  @LeaderTask()
  async consume(leadership: Leadership): Promise<void> {
    const run: { term: number; aborted?: string } = { term: leadership.term };
    this.runs.push(run);
    await new Promise<void>((resolve) =>
      leadership.signal.addEventListener('abort', () => resolve(), { once: true }),
    );
    run.aborted = (leadership.signal.reason as Error).message;
  }

  onLeadershipLost(event: LeadershipLostEvent): void {
    this.lost.push(event.reason);
  }
}

@Controller()
class AdminController {
  @Post('reindex')
  @LeaderOnly()
  reindex(): { ok: true } {
    return { ok: true };
  }
}

@Module({ providers: [Jobs, Consumer], controllers: [AdminController] })
class FeatureModule {}

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
  jest.useRealTimers();
});

async function boot(role: 'leader' | 'follower'): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [ScheduleModule.forRoot(), LeaderElectionTestingModule.forRoot({ role }), FeatureModule],
  }).compile();
  const created = moduleRef.createNestApplication({ logger: false });
  await created.init();
  return created;
}

describe('LeaderElectionTestingModule under Jest fake timers', () => {
  it('leader mode: jobs run as without the decorator over fake hours (sync advanceTimersByTime), with term 1', async () => {
    jest.useFakeTimers();
    app = await boot('leader');
    jest.advanceTimersByTime(3 * 60 * 60_000);
    expect(app.get(Jobs).ticks).toHaveLength(180);
    expect(new Set(app.get(Jobs).ticks)).toEqual(new Set([1]));
    expect(app.get(Jobs).warmUps).toBe(1);
  });

  it('leader mode: runOnlyPendingTimers behaves as without the decorator (only the app timers exist); no timer left after close', async () => {
    jest.useFakeTimers();
    app = await boot('leader');
    const before = jest.getTimerCount();
    jest.runOnlyPendingTimers();
    expect(app.get(Jobs).warmUps).toBe(1);
    expect(jest.getTimerCount()).toBe(before - 1); // the one-shot is gone, the interval re-armed; nothing of ours
    await app.close();
    app = undefined;
    expect(jest.getTimerCount()).toBe(0);
  });

  it('follower mode: jobs are skipped and counted, routes answer 503 naming the leader, health says follower', async () => {
    jest.useFakeTimers();
    app = await boot('follower');
    jest.advanceTimersByTime(10 * 60_000);
    jest.useRealTimers();
    expect(app.get(Jobs).ticks).toHaveLength(0);
    const election = app.get(LeaderElectionService);
    expect(election.skippedCount()).toBe(11); // 10 minutes of the interval + the one-shot
    const response = await request(app.getHttpServer()).post('/reindex');
    expect(response.status).toBe(503);
    expect(response.body).toMatchObject({ leader: 'other-replica', term: 1 });
    expect(app.get(LeaderElectionHealthIndicator).isHealthy('le')).toMatchObject({
      le: { status: 'up', role: 'follower', leader: 'other-replica' },
    });
  });

  it('the test drives tenures: becomeLeader with a term, loseLeadership with a reason, setLeader; tasks, hooks and gates follow', async () => {
    jest.useFakeTimers();
    app = await boot('follower');
    const testing = app.get(LeaderElectionTesting);
    const consumer = app.get(Consumer);
    const jobs = app.get(Jobs);
    expect(consumer.runs).toHaveLength(0);

    testing.becomeLeader(undefined, { term: 7 });
    expect(consumer.runs).toEqual([{ term: 7 }]);
    jest.advanceTimersByTime(60_000);
    expect(jobs.ticks).toEqual([7]);

    testing.loseLeadership(undefined, { reason: 'deadline', leader: 'replica-b', term: 8 });
    expect(consumer.runs[0]!.aborted).toBeUndefined(); // the abort listener runs after this turn
    await Promise.resolve();
    expect(consumer.runs[0]!.aborted).toMatch(/deadline/);
    expect(consumer.lost).toEqual(['deadline']);
    jest.advanceTimersByTime(60_000);
    expect(jobs.ticks).toEqual([7]);
    expect(app.get(LeaderElectionService).currentLeader()).toMatchObject({
      identity: 'replica-b',
      term: 8,
      self: false,
    });

    testing.becomeLeader();
    expect(app.get(LeaderElectionService).getState().term).toBe(9);
    // The new tenure's run starts once the previous run has settled (never two at once).
    for (let i = 0; i < 10; i++) await Promise.resolve();
    expect(consumer.runs.map((run) => run.term)).toEqual([7, 9]);
    testing.setLeader('replica-c', { term: 12 });
    expect(consumer.lost).toEqual(['deadline', 'lost']);
    expect(app.get(LeaderElectionService).isLeader()).toBe(false);
  });
});

describe('LeaderElectionTestingModule metrics', () => {
  it('records nothing by default, and with { meterProvider } the test-driven tenures and gated calls show up as in production', async () => {
    jest.useFakeTimers();
    const metrics = new TestMetrics();
    try {
      const moduleRef = await Test.createTestingModule({
        imports: [
          ScheduleModule.forRoot(),
          LeaderElectionTestingModule.forRoot({
            role: 'follower',
            metrics: { meterProvider: metrics.provider },
          }),
          FeatureModule,
        ],
      }).compile();
      app = moduleRef.createNestApplication({ logger: false });
      await app.init();
      const testing = app.get(LeaderElectionTesting);
      jest.advanceTimersByTime(2 * 60_000); // two skipped ticks as a follower
      expect(Object.fromEntries(await metrics.series(METRIC_NAMES.isLeader))).toEqual({ 'lease=leader': 0 });
      expect(
        Object.fromEntries(await metrics.series(METRIC_NAMES.gatedRuns))['lease=leader,outcome=run'],
      ).toBe(0);

      testing.becomeLeader(undefined, { term: 4 });
      jest.advanceTimersByTime(60_000); // one run as leader
      expect(Object.fromEntries(await metrics.series(METRIC_NAMES.isLeader))).toEqual({ 'lease=leader': 1 });
      const gated = Object.fromEntries(await metrics.series(METRIC_NAMES.gatedRuns));
      expect(gated['lease=leader,outcome=run']).toBeGreaterThanOrEqual(1); // the minute job (and whatever else FeatureModule gates)
      expect(gated['lease=leader,outcome=skipped,reason=not_leader']).toBeGreaterThanOrEqual(2);

      testing.loseLeadership(undefined, { reason: 'deadline' });
      const transitions = Object.fromEntries(await metrics.series(METRIC_NAMES.transitions));
      expect(transitions['lease=leader,type=acquired']).toBe(1);
      expect(transitions['lease=leader,reason=deadline,type=lost']).toBe(1);
      expect(Object.fromEntries(await metrics.series(METRIC_NAMES.isLeader))).toEqual({ 'lease=leader': 0 });
    } finally {
      await app?.close();
      app = undefined;
      await metrics.shutdown();
    }

    // Default: off, even with @opentelemetry/api installed and a global MeterProvider registered
    // (the real module would record through it): a test app stays hermetic.
    const silent = new TestMetrics();
    otel.metrics.setGlobalMeterProvider(silent.provider);
    try {
      const moduleRef = await Test.createTestingModule({
        imports: [LeaderElectionTestingModule.forRoot()],
      }).compile();
      app = moduleRef.createNestApplication({ logger: false });
      await app.init();
      expect((await silent.collect()).size).toBe(0);
      expect(app.get(LeaderElectionService).isLeader()).toBe(true);
    } finally {
      otel.metrics.disable();
      await silent.shutdown();
    }
  });
});
