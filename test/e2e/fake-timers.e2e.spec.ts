import 'reflect-metadata';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Injectable, Module, type INestApplication } from '@nestjs/common';
import { Interval, ScheduleModule, Timeout } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import {
  LeaderElectionModule,
  LeaderElectionService,
  LeaderOnly,
  MemoryLeaseStore,
} from '../../lib/index.js';

// The real module (not the testing kit) under Jest's fake timers, as users test their own apps:
// time must come from the same fake clock as the timers, so nothing spins and fake hours pass as
// hours for the lease too.

@Injectable()
class OneShot {
  runs = 0;
  @Timeout(50)
  @LeaderOnly()
  warmUp(): void {
    this.runs++;
  }
}

@Injectable()
class Ticker {
  runs = 0;
  @Interval(60_000)
  @LeaderOnly()
  everyMinute(): void {
    this.runs++;
  }
}

@Module({ providers: [OneShot] })
class OneShotModule {}

@Module({ providers: [Ticker] })
class TickerModule {}

let app: INestApplication | undefined;

afterEach(async () => {
  await app?.close();
  app = undefined;
  jest.useRealTimers();
});

async function boot(feature: unknown): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      ScheduleModule.forRoot(),
      LeaderElectionModule.forRoot({ store: new MemoryLeaseStore(), identity: 'solo', logger: false }),
      feature as never,
    ],
  }).compile();
  const created = moduleRef.createNestApplication({ logger: false });
  await created.init();
  return created;
}

describe('the real module under Jest fake timers', () => {
  it('jest.runAllTimers() finishes (no timer re-arming itself against real time) and the one-shot job runs on the leader', async () => {
    jest.useFakeTimers();
    app = await boot(OneShotModule);
    expect(app.get(LeaderElectionService).isLeader()).toBe(true);
    // Before the fix: "Aborting after running 100000 timers" (the deadline timer re-armed itself
    // because the clock read the real performance object while timers were fake).
    expect(() => jest.runAllTimers()).not.toThrow();
    expect(app.get(OneShot).runs).toBe(1);
  });

  it('over a fake hour (advanceTimersByTimeAsync) the leader keeps its lease by renewing in fake time, and the job runs every fake minute', async () => {
    jest.useFakeTimers();
    app = await boot(TickerModule);
    const election = app.get(LeaderElectionService);
    const term = election.getState().term;
    await jest.advanceTimersByTimeAsync(60 * 60_000);
    expect(election.isLeader()).toBe(true);
    expect(election.getState().term).toBe(term); // never lost in between: same tenure
    expect(app.get(Ticker).runs).toBe(60);
  });

  it('fake time ends a leadership too: a leader whose renewals hang steps down at its deadline in fake time', async () => {
    jest.useFakeTimers();
    const store = new MemoryLeaseStore();
    const moduleRef = await Test.createTestingModule({
      imports: [
        ScheduleModule.forRoot(),
        LeaderElectionModule.forRoot({ store, identity: 'solo', logger: false }),
      ],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    const election = app.get(LeaderElectionService);
    expect(election.isLeader()).toBe(true);
    // Storage stops answering.
    store.renew = () => new Promise<void>(() => undefined);
    store.acquire = () => new Promise(() => undefined);
    store.observe = () => new Promise(() => undefined);
    // Before the fix the deadline was measured in real time: no amount of fake time ended it.
    await jest.advanceTimersByTimeAsync(15_000);
    expect(election.isLeader()).toBe(false);
    const closing = app.close(); // waits (bounded, in fake time) for the hung requests
    await jest.advanceTimersByTimeAsync(30_000);
    await closing;
    app = undefined;
  });

  it('leaves no timer behind after app.close()', async () => {
    jest.useFakeTimers();
    app = await boot(TickerModule);
    await jest.advanceTimersByTimeAsync(10 * 60_000);
    const closing = app.close();
    await jest.runOnlyPendingTimersAsync();
    await closing;
    app = undefined;
    expect(jest.getTimerCount()).toBe(0);
  });
});
