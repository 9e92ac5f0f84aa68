import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Controller, Injectable, Post, type INestApplication } from '@nestjs/common';
import { Timeout } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import { Observable, Subject, tap } from 'rxjs';
import {
  currentLeadership,
  LeaderElectionModule,
  LeaderElectionService,
  LeaderOnly,
  MemoryLeaseStore,
  NotLeaderException,
} from '../../lib/index.js';
import { LeaderElectionTesting, LeaderElectionTestingModule } from '../../lib/testing/index.js';
import { bootTestingApp, flush } from '../support/nest-testing.js';

// Second hostile review of the gate (2026-12-07, issue 19): rules that held under attack, pinned
// here. The defects it proved are in test/pending/review-gate-2.spec.ts.

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function bootKit(
  options: Parameters<typeof LeaderElectionTestingModule.forRoot>[0],
  providers: unknown[],
  controllers: unknown[] = [],
): Promise<INestApplication> {
  app = await bootTestingApp({
    imports: [LeaderElectionTestingModule.forRoot(options)],
    providers: providers as never[],
    controllers: controllers as never[],
  });
  return app;
}

/** A MemoryLeaseStore that records, at each release, what the test says is still running. */
class WatchedStore extends MemoryLeaseStore {
  runningAtRelease: number[] = [];
  running = (): number => 0;
  override async release(...args: Parameters<MemoryLeaseStore['release']>): Promise<void> {
    this.runningAtRelease.push(this.running());
    return super.release(...args);
  }
}

async function bootReal(store: WatchedStore, providers: unknown[]): Promise<INestApplication> {
  app = await bootTestingApp({
    imports: [LeaderElectionModule.forRoot({ store, identity: 'pod-a', presence: false, logger: false })],
    providers: providers as never[],
  });
  return app;
}

/** A Promise-returning job whose run honours its signal but needs a moment to stop (the test ends it). */
@Injectable()
class SlowSync {
  calls = 0;
  running = 0;
  maxRunning = 0;
  sawAbort = false;
  private readonly pending: Array<() => void> = [];
  @LeaderOnly()
  async sync(): Promise<void> {
    this.calls++;
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    const signal = currentLeadership()!.signal;
    try {
      await new Promise<void>((resolve) => {
        this.pending.push(resolve);
        signal.addEventListener('abort', () => (this.sawAbort = true), { once: true });
      });
    } finally {
      this.running--;
    }
  }
  finishAll(): void {
    for (const resolve of this.pending.splice(0)) resolve();
  }
}

describe('review-gate-2 (holds): a Promise run that outlives its tenure', () => {
  it("keeps its overlap slot: the same replica's next tenure skips the method until that run ended", async () => {
    const started = await bootKit({ role: 'leader' }, [SlowSync]);
    const job = started.get(SlowSync);
    const testing = started.get(LeaderElectionTesting);
    const service = started.get(LeaderElectionService);
    const first = job.sync();
    testing.loseLeadership();
    expect(job.sawAbort).toBe(true);
    testing.becomeLeader();
    await job.sync(); // tenure 2's tick while tenure 1's run is still stopping: an overlap
    expect(job.calls).toBe(1);
    expect(service.skippedCount()).toBe(1);
    job.finishAll();
    await first;
    const third = job.sync(); // the slot is free again
    job.finishAll();
    await third;
    expect(job.calls).toBe(2);
    expect(job.maxRunning).toBe(1);
  });

  it('holds the release at stepDown() until it has stopped (real elector, memory store)', async () => {
    const store = new WatchedStore();
    const started = await bootReal(store, [SlowSync]);
    const job = started.get(SlowSync);
    const service = started.get(LeaderElectionService);
    expect(service.isLeader()).toBe(true);
    store.running = () => job.running;
    const run = job.sync();
    const stepping = service.stepDown();
    for (let i = 0; i < 5; i++) await flush();
    expect(job.sawAbort).toBe(true);
    expect(store.runningAtRelease).toEqual([]); // still draining
    job.finishAll();
    await run;
    await stepping;
    expect(store.runningAtRelease).toEqual([0]);
    expect(service.isLeader()).toBe(false);
  });

  it('holds the hand-over at yieldTo() until it has stopped; the lease is then released naming the successor', async () => {
    const store = new WatchedStore();
    const boot = async (identity: string, providers: unknown[]): Promise<INestApplication> => {
      const moduleRef = await Test.createTestingModule({
        imports: [LeaderElectionModule.forRoot({ store, identity, logger: false })],
        providers: providers as never[],
      }).compile();
      const pod = moduleRef.createNestApplication();
      await pod.init();
      return pod;
    };
    const started = await boot('pod-a', [SlowSync]);
    app = started;
    const podB = await boot('pod-b', []);
    try {
      const job = started.get(SlowSync);
      const service = started.get(LeaderElectionService);
      expect(service.isLeader()).toBe(true);
      store.running = () => job.running;
      const run = job.sync();
      const yielding = service.yieldTo('pod-b');
      for (let i = 0; i < 5; i++) await flush();
      expect(job.sawAbort).toBe(true);
      expect(store.runningAtRelease).toEqual([]); // still draining
      job.finishAll();
      await run;
      await yielding;
      expect(store.runningAtRelease).toEqual([0]);
      expect((await store.observe('leader', new AbortController().signal)).successor).toBe('pod-b');
    } finally {
      await podB.close();
    }
  });

  it('holds the release at shutdown; calls made during the drain skip (background) or answer 503 (route)', async () => {
    const store = new WatchedStore();
    const started = await bootReal(store, [SlowSync, ReportsController]);
    const job = started.get(SlowSync);
    const reports = started.get(ReportsController);
    store.running = () => job.running;
    const run = job.sync();
    const closing = started.close();
    app = undefined;
    for (let i = 0; i < 5; i++) await flush();
    expect(store.runningAtRelease).toEqual([]);
    await job.sync(); // a tick during the drain
    expect(job.calls).toBe(1);
    expect(() => reports.rebuild()).toThrow(NotLeaderException); // never a success without running
    expect(reports.rebuilt).toBe(0);
    job.finishAll();
    await run;
    await closing;
    expect(store.runningAtRelease).toEqual([0]);
  });
});

@Controller('reports')
class ReportsController {
  rebuilt = 0;
  @Post('rebuild')
  @LeaderOnly()
  rebuild(): void {
    this.rebuilt++;
  }
}

@Injectable()
class Throwing {
  calls = 0;
  @LeaderOnly()
  run(): void {
    this.calls++;
    throw new Error('boom');
  }
}

describe('review-gate-2 (holds): errors and shapes', () => {
  it('a run that throws synchronously: the error reaches the caller, the slot and the run count are freed', async () => {
    const started = await bootKit({ role: 'leader' }, [Throwing]);
    const job = started.get(Throwing);
    const service = started.get(LeaderElectionService);
    expect(() => job.run()).toThrow('boom');
    expect(service.runningCount()).toBe(0);
    expect(() => job.run()).toThrow('boom'); // not skipped as an overlap
    expect(job.calls).toBe(2);
  });

  it('leaderOnly(fn): a synchronous throw reaches the caller and frees the slot', async () => {
    const started = await bootKit({ role: 'leader' }, []);
    const service = started.get(LeaderElectionService);
    let calls = 0;
    const gated = service.leaderOnly(() => {
      calls++;
      throw new Error('boom');
    });
    expect(() => gated()).toThrow('boom');
    expect(() => gated()).toThrow('boom');
    expect(calls).toBe(2);
    expect(service.runningCount()).toBe(0);
  });
});

@Injectable()
class Feed {
  readonly source = new Subject<number>();
  seen: number[] = [];
  @LeaderOnly()
  stream(): Observable<number> {
    return this.source.pipe(tap((value) => this.seen.push(value)));
  }
}

describe('review-gate-2 (holds): Observables and tenures', () => {
  it('an Observable returned in one tenure and subscribed in the next is skipped (it never runs under the new tenure)', async () => {
    const started = await bootKit({ role: 'leader' }, [Feed]);
    const feed = started.get(Feed);
    const testing = started.get(LeaderElectionTesting);
    const stale = feed.stream(); // returned in tenure 1
    testing.loseLeadership();
    testing.becomeLeader();
    let completed = false;
    stale.subscribe({ complete: () => (completed = true) });
    feed.source.next(1);
    expect(completed).toBe(true);
    expect(feed.seen).toEqual([]);
  });
});

@Injectable()
class Pages {
  pages: number[] = [];
  resume!: () => void;
  @LeaderOnly()
  async process(page: number): Promise<void> {
    this.pages.push(page);
    if (page === 1) await new Promise<void>((resolve) => (this.resume = resolve));
    if (page < 3) await this.process(page + 1);
  }
}

describe('review-gate-2 (holds): re-entry', () => {
  it('a nested call made by a run whose tenure ended is skipped while this replica follows (re-entry is not leadership)', async () => {
    const started = await bootKit({ role: 'leader' }, [Pages]);
    const pages = started.get(Pages);
    const testing = started.get(LeaderElectionTesting);
    const run = pages.process(1);
    testing.loseLeadership(undefined, { leader: 'pod-b' });
    pages.resume();
    await run;
    expect(pages.pages).toEqual([1]); // page 2 was not processed by the follower
  });

  it('recursion within a run in progress is not an overlap', async () => {
    const started = await bootKit({ role: 'leader' }, [Pages]);
    const pages = started.get(Pages);
    const run = pages.process(1);
    pages.resume();
    await run;
    expect(pages.pages).toEqual([1, 2, 3]);
  });
});

@Injectable()
class OneShot {
  runs: number[] = [];
  @Timeout(3_600_000)
  @LeaderOnly()
  once(): void {
    this.runs.push(currentLeadership()!.term);
  }
}

describe('review-gate-2 (holds): a missed @Timeout', () => {
  it('runs once when this replica leads; a tenure that ends before the deferred run does not run it as a follower', async () => {
    const started = await bootKit({ role: 'follower' }, [OneShot]);
    const job = started.get(OneShot);
    const testing = started.get(LeaderElectionTesting);
    job.once(); // the @Timeout tick fires on a follower (called here: ScheduleModule is not imported)
    expect(job.runs).toEqual([]);
    testing.becomeLeader(undefined, { term: 5 });
    testing.loseLeadership(undefined, { leader: 'pod-b', term: 6 }); // before the deferred run
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(job.runs).toEqual([]);
    testing.becomeLeader(undefined, { term: 7 });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(job.runs).toEqual([7]);
    testing.loseLeadership();
    testing.becomeLeader(undefined, { term: 8 });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(job.runs).toEqual([7]); // once
  });
});
