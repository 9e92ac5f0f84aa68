import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Controller, Injectable, Post, type INestApplication } from '@nestjs/common';
import { Interval, ScheduleModule } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import { concatMap, from, Observable, Subject } from 'rxjs';
import { LeaderElectionService, LeaderOnly, LeaderTask } from '../../lib/index.js';
import { LeaderElectionTesting, LeaderElectionTestingModule } from '../../lib/testing/index.js';

// Second hostile review of the Nest layer's gate (2026-12-07, issue 19), after the fixes of
// review-nest-gate (Observables end with the tenure, retries take the overlap slot, the shutdown
// exception for Observables). Every test here FAILS on the code it was written against (main at
// 87fbc32). Run them: see test/pending/README.md. Fixed findings moved to
// test/unit/review-gate-2-fixed.spec.ts.

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function bootKit(
  providers: unknown[],
  options: Parameters<typeof LeaderElectionTestingModule.forRoot>[0] = {},
  imports: unknown[] = [],
  controllers: unknown[] = [],
): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [LeaderElectionTestingModule.forRoot(options), ...(imports as never[])],
    providers: providers as never[],
    controllers: controllers as never[],
  }).compile();
  app = moduleRef.createNestApplication();
  await app.init();
  return app;
}

// ---------------------------------------------------------------------------------------------
// Finding 2: an Observable's run is over the moment its tenure's signal aborts (unsubscribed), but
// unsubscribing does not stop work the stream started (a promise inside concatMap/mergeMap: a write
// in flight). A Promise-returning run keeps its overlap slot and holds the drain until it has
// stopped (tests "this holds" in test/unit/review-gate-2.spec.ts); an Observable's in-flight work
// does neither, even when it honours its signal (it needs a moment to stop). So:
// (a) the same replica's next tenure runs the method beside it (overlap), (b) stepDown() / yieldTo()
// release the lease while it still writes, (c) the same for a @LeaderTask Observable at shutdown.
// On the paths that release (stop, step-down, hand-over) the stream could be left to finish within
// the drain, as at shutdown, and cut when the drain gives up (then the lease is left to expire).
// (a) happens at a loss, where the stream must be cut at once: that part may end as a documented
// limitation (work started inside a stream is not tracked once it is unsubscribed).

/** A write that honours its signal but needs a moment to stop (the test lets it finish). */
class Writes {
  running = 0;
  maxRunning = 0;
  private readonly pending: Array<() => void> = [];
  async write(): Promise<void> {
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      await new Promise<void>((resolve) => this.pending.push(resolve));
    } finally {
      this.running--;
    }
  }
  finishAll(): void {
    for (const resolve of this.pending.splice(0)) resolve();
  }
}

@Injectable()
class BatchStream {
  readonly ticks = new Subject<number>();
  readonly writes = new Writes();
  @LeaderOnly()
  stream(): Observable<void> {
    return this.ticks.pipe(concatMap(() => from(this.writes.write())));
  }
}

describe('review-gate-2 finding 2: work in flight in a gated Observable when its tenure ends', () => {
  it('(a) the next tenure runs the method beside the previous run still writing (one replica, allowOverlap false)', async () => {
    const started = await bootKit([BatchStream], { role: 'leader' });
    const job = started.get(BatchStream);
    const testing = started.get(LeaderElectionTesting);
    const first = job.stream().subscribe();
    job.ticks.next(1); // a write starts
    testing.loseLeadership(); // tenure 1 ends: the stream is cut, its write is still finishing
    testing.becomeLeader();
    const second = job.stream().subscribe(); // the next tick, in tenure 2
    job.ticks.next(2);
    await flush();
    job.writes.finishAll();
    first.unsubscribe();
    second.unsubscribe();
    expect(job.writes.maxRunning).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------
// Finding 3: async iterables. The gate knows Promises and Observables; an async iterator (an
// `async *` method, or what a GraphQL @Subscription resolver returns, a kind handler-kind.ts
// recognises) is returned as is: the call "ends" at once and the iterator keeps producing
// leader-only work for ever after the tenure ended, untracked by the drain and outside the
// leadership context. On a follower the skipped call returns undefined, so `for await` throws.
// (Supporting them is the fix these tests expect; a call-time refusal would need them rewritten.)

@Injectable()
class EventFeed {
  produced = 0;
  @LeaderOnly()
  async *events(): AsyncGenerator<number> {
    for (;;) yield ++this.produced; // each value is leader-only work
  }
}

describe('review-gate-2 finding 3: a gated async iterable', () => {
  it('keeps producing leader-only work after its tenure ended', async () => {
    const started = await bootKit([EventFeed], { role: 'leader' });
    const feed = started.get(EventFeed);
    const iterator = feed.events();
    expect((await iterator.next()).value).toBe(1);
    started.get(LeaderElectionTesting).loseLeadership(undefined, { leader: 'pod-b' });
    const after = await iterator.next().catch(() => ({ done: true, value: undefined }));
    await iterator.return?.(undefined);
    expect(after.done).toBe(true);
    expect(feed.produced).toBe(1);
  });

  it('on a follower the skipped call is not iterable: `for await` throws a TypeError', async () => {
    const started = await bootKit([EventFeed], { role: 'follower' });
    const feed = started.get(EventFeed);
    const seen: number[] = [];
    const consume = async (): Promise<void> => {
      for await (const value of feed.events()) seen.push(value);
    };
    await expect(consume()).resolves.toBeUndefined(); // skipped: an empty iteration, as EMPTY for Observables
    expect(seen).toEqual([]);
  });
});

// Finding 4: a @LeaderTask written as an async generator is never iterated: the run "finishes
// while leading" at once and the tenure's work never happens (as issue 19.3 was for Observables).

@Injectable()
class GeneratorConsumer {
  steps = 0;
  @LeaderTask()
  async *consume(): AsyncGenerator<number> {
    for (;;) {
      this.steps++;
      yield this.steps;
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }
}

describe('review-gate-2 finding 4: a @LeaderTask async generator', () => {
  it('is never iterated on the leader, and not refused at boot', async () => {
    let refusedAtBoot = false;
    try {
      await bootKit([GeneratorConsumer], { role: 'leader' });
    } catch {
      refusedAtBoot = true;
    }
    await flush();
    const steps = app?.get(GeneratorConsumer).steps ?? 0;
    expect({ refusedAtBoot, ran: steps > 0 }).not.toEqual({ refusedAtBoot: false, ran: false });
  });
});

// ---------------------------------------------------------------------------------------------
// Finding 5: a method that is both a route and a scheduled job (`@Post('reindex') @Interval(…)
// @LeaderOnly()`: "run the job now" next to its schedule) is classified 'http' for every call, so
// its scheduled ticks get a request's treatment: overlap protection never applies (two ticks run at
// once on the leader) and on a follower every tick throws NotLeaderException into the scheduler's
// error log instead of being skipped and counted. The gate cannot tell who called; refusing the
// shape at boot (naming the method) passes these tests too.

@Controller('jobs')
class ReindexJob {
  calls = 0;
  running = 0;
  maxRunning = 0;
  release!: () => void;
  private readonly hold = new Promise<void>((resolve) => (this.release = resolve));

  @Post('reindex')
  @Interval(5)
  @LeaderOnly()
  async reindex(): Promise<void> {
    this.calls++;
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      await this.hold;
    } finally {
      this.running--;
    }
  }
}

/** The booted app, or undefined when boot refused the shape with a setup error naming it. */
async function refusedOr<T>(boot: () => Promise<T>): Promise<T | undefined> {
  try {
    return await boot();
  } catch (error) {
    expect(String(error)).toContain('reindex');
    app = undefined;
    return undefined;
  }
}

describe('review-gate-2 finding 5: a method that is a route and a scheduled job', () => {
  it('its scheduled ticks overlap on the leader (no overlap slot for "requests")', async () => {
    const started = await refusedOr(() =>
      bootKit([], { role: 'leader' }, [ScheduleModule.forRoot()], [ReindexJob]),
    );
    if (!started) return; // refusing the shape at boot is a fix too
    const job = started.get(ReindexJob);
    const service = started.get(LeaderElectionService);
    // Wait until a second tick came: it either ran (overlap) or was skipped as an overlap.
    for (let i = 0; i < 500 && job.calls < 2 && service.skippedCount() < 1; i++)
      await new Promise((resolve) => setTimeout(resolve, 5));
    job.release();
    expect(job.calls).toBeGreaterThanOrEqual(1);
    expect(job.maxRunning).toBe(1);
  });

  it("on a follower each scheduled tick throws NotLeaderException into the scheduler's error log", async () => {
    const errors: unknown[] = [];
    const logger = {
      log: () => undefined,
      warn: () => undefined,
      debug: () => undefined,
      verbose: () => undefined,
      error: (message: unknown) => errors.push(message),
    };
    const moduleRef = await Test.createTestingModule({
      imports: [LeaderElectionTestingModule.forRoot({ role: 'follower' }), ScheduleModule.forRoot()],
      controllers: [ReindexJob],
    }).compile();
    app = moduleRef.createNestApplication({ logger });
    const started = await refusedOr(() => app!.init());
    if (!started) return; // refusing the shape at boot is a fix too
    const service = app.get(LeaderElectionService);
    for (let i = 0; i < 500 && service.skippedCount() < 3; i++)
      await new Promise((resolve) => setTimeout(resolve, 5));
    await flush();
    expect(service.skippedCount()).toBeGreaterThanOrEqual(3);
    expect(errors).toEqual([]); // skipped and counted, never an error (docs/leader-work.md)
  });
});

// ---------------------------------------------------------------------------------------------
// Finding 9 (low, a design inconsistency): at shutdown a run in flight may finish within the drain
// (docs/leader-work.md; commit 87fbc32 lets a gated Observable go on emitting for that reason), but
// a run that recurses (processPage(n + 1), "not an overlap") has its nested call skipped the moment
// shutdown begins: the skip returns undefined, so the run "finishes" early and silently with a
// truncated result, although the lease is held until the drain ends either way.

@Injectable()
class Paging {
  pages: number[] = [];
  resume!: () => void;
  @LeaderOnly()
  async process(page: number): Promise<void> {
    this.pages.push(page);
    if (page === 1) await new Promise<void>((resolve) => (this.resume = resolve));
    if (page < 3) await this.process(page + 1);
  }
}

describe('review-gate-2 finding 9: recursion of a run in flight at shutdown', () => {
  it('is skipped (the run ends early and silently), while a gated Observable may go on within the drain', async () => {
    const started = await bootKit([Paging], { role: 'leader', shutdownTimeoutMs: 1_000 });
    const paging = started.get(Paging);
    const run = paging.process(1);
    const closing = started.close();
    app = undefined;
    await flush();
    paging.resume(); // page 1 done: the run goes on to page 2 within the drain
    await run;
    await closing;
    expect(paging.pages).toEqual([1, 2, 3]);
  });
});
