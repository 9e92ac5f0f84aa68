import 'reflect-metadata';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Injectable, Module, type INestApplication } from '@nestjs/common';
import { Interval, ScheduleModule } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import { LeaderElectionModule, LeaderOnly, MemoryLeaseStore } from '../../lib/index.js';
import { LeaderElectionTesting, LeaderElectionTestingModule } from '../../lib/testing/index.js';

// Issue 19 item 7, the "testing your app" recipe: a spec that imports the real AppModule replaces
// LeaderElectionModule with the testing kit through overrideModule. Nest matches the module to
// replace by identity, so the app keeps its forRoot()/forRootAsync() result in an exported constant.

@Injectable()
class ReportJob {
  runs = 0;
  @Interval(60_000)
  @LeaderOnly()
  report(): void {
    this.runs++;
  }
}

// app.module.ts
export const leaderElection = LeaderElectionModule.forRoot({ store: new MemoryLeaseStore() });

@Module({ imports: [ScheduleModule.forRoot(), leaderElection], providers: [ReportJob] })
class AppModule {}

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
  jest.useRealTimers();
});

describe('testing your app: overrideModule with the testing kit', () => {
  it('runs the real AppModule with leadership driven by the test, under fake timers', async () => {
    jest.useFakeTimers();
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
      .overrideModule(leaderElection)
      .useModule(LeaderElectionTestingModule.forRoot({ role: 'follower' }))
      .compile();
    app = moduleRef.createNestApplication();
    await app.init();
    const job = app.get(ReportJob);

    await jest.advanceTimersByTimeAsync(60_000);
    expect(job.runs).toBe(0); // follower: skipped

    app.get(LeaderElectionTesting).becomeLeader();
    await jest.advanceTimersByTimeAsync(60 * 60_000); // an hour: the kit's tenure never expires
    expect(job.runs).toBe(60);
  });
});
