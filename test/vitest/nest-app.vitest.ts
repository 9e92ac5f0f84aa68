import 'reflect-metadata';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Inject, Injectable, Module } from '@nestjs/common';
import { Interval, ScheduleModule } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
// The built package, as an app gets it: vitest.config.ts points these two names at dist (which has
// the library's decorator metadata; `npm run test:vitest` builds it first). Vitest transforms this
// file with esbuild, which emits no decorator metadata: the app's own classes below inject with
// @Inject(Token), as Vitest users do (or they add unplugin-swc).
import {
  LeaderElectionModule,
  LeaderElectionService,
  LeaderOnly,
  MemoryLeaseStore,
} from 'nestjs-leader-election';
import { LeaderElectionTesting, LeaderElectionTestingModule } from 'nestjs-leader-election/testing';

// A Nest app with @Interval + @LeaderOnly under Vitest's fake timers: with the testing kit (no
// timers of its own), and with the real module on a memory store (its clock follows the fake one).

@Injectable()
class ReportJob {
  runs = 0;
  constructor(@Inject(LeaderElectionService) readonly election: LeaderElectionService) {}

  @Interval(1_000)
  @LeaderOnly()
  report(): void {
    this.runs += 1;
  }
}

@Module({ providers: [ReportJob] })
class JobsModule {}

afterEach(() => {
  vi.useRealTimers();
});

describe('a Nest app under Vitest fake timers', () => {
  it('testing kit: a follower skips the job for an hour of fake time, a leader runs it every second, and app.close() leaves no timer', async () => {
    vi.useFakeTimers();
    const moduleRef = await Test.createTestingModule({
      imports: [
        ScheduleModule.forRoot(),
        LeaderElectionTestingModule.forRoot({ role: 'follower' }),
        JobsModule,
      ],
    }).compile();
    const app = await moduleRef.createNestApplication({ logger: false }).init();
    const job = app.get(ReportJob);

    vi.advanceTimersByTime(60 * 60_000);
    expect(job.runs).toBe(0);
    expect(job.election.skippedCount()).toBe(3_600);

    app.get(LeaderElectionTesting).becomeLeader(undefined, { term: 7 });
    vi.advanceTimersByTime(10_000);
    expect(job.runs).toBe(10);
    expect(job.election.getState().term).toBe(7);

    await app.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('real module on a memory store: leads at boot, runs the job as fake time passes, and closes under fake timers', async () => {
    vi.useFakeTimers();
    const moduleRef = await Test.createTestingModule({
      imports: [
        ScheduleModule.forRoot(),
        LeaderElectionModule.forRoot({ store: new MemoryLeaseStore(), presence: false, logger: false }),
        JobsModule,
      ],
    }).compile();
    const app = await moduleRef.createNestApplication({ logger: false }).init();
    const job = app.get(ReportJob);
    expect(job.election.isLeader()).toBe(true);

    await vi.advanceTimersByTimeAsync(10 * 60_000); // renewals run on the fake clock: still leader after 10 min
    expect(job.election.isLeader()).toBe(true);
    expect(job.runs).toBe(600);

    const closing = app.close();
    await vi.advanceTimersByTimeAsync(30_000);
    await closing;
  });
});
