import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Controller, Injectable, Post, Sse, type INestApplication, type MessageEvent } from '@nestjs/common';
import { Interval, ScheduleModule } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { concatMap, from, map, Observable, Subject, tap } from 'rxjs';
import {
  LeaderElectionModule,
  LeaderElectionSetupError,
  LeaderElectionService,
  LeaderOnly,
  LeaderOnlyInterceptor,
  LeaderElector,
  LeaderTask,
  MemoryLeaseStore,
  silentLogger,
} from '../../lib/index.js';
import { LeaderElectionTesting, LeaderElectionTestingModule, ManualClock } from '../../lib/testing/index.js';
import { bootTestingApp, flush } from '../support/nest-testing.js';
import { BatchStream, Writes } from '../support/gated-writes.js';

// Findings of the second hostile review of the gate (2026-12-07, issue 19) that are fixed: each test
// here failed on main at 9f4e17a (moved from test/pending/review-gate-2.spec.ts, titles now say the
// rule that holds). The findings still open stay in test/pending/review-gate-2.spec.ts.

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function bootKit(
  providers: unknown[],
  options: Parameters<typeof LeaderElectionTestingModule.forRoot>[0] = {},
  imports: unknown[] = [],
  controllers: unknown[] = [],
): Promise<INestApplication> {
  app = await bootTestingApp({
    imports: [LeaderElectionTestingModule.forRoot(options), ...(imports as never[])],
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
    imports: [
      LeaderElectionModule.forRoot({
        store,
        identity: 'pod-a',
        presence: false,
        logger: false,
        shutdownTimeoutMs: 200,
      }),
    ],
    providers: providers as never[],
  });
  return app;
}

// ---------------------------------------------------------------------------------------------
// Finding 1: at shutdown a gated Observable is left running (abort reason 'stopped', commit
// 87fbc32) so that it may finish within the drain, but nothing ever cuts it when the drain gives up
// (shutdownTimeoutMs passed, or the unrenewed lease ran out): the stream keeps doing leader-only
// work after app.close() resolved, while the lease is left to expire and another replica takes
// over. docs/leader-work.md: "At shutdown it is left to finish within shutdownTimeoutMs".

@Injectable()
class EndlessStream {
  readonly source = new Subject<number>();
  writes: number[] = [];
  @LeaderOnly()
  stream(): Observable<number> {
    return this.source.pipe(tap((value) => this.writes.push(value)));
  }
}

@Controller('live')
class LiveFeedController {
  readonly source = new Subject<number>();
  @Sse('events')
  @LeaderOnly()
  events(): Observable<MessageEvent> {
    return this.source.pipe(map((value): MessageEvent => ({ data: String(value) })));
  }
}

describe('review-gate-2 fixed, finding 1: a gated Observable at shutdown is cut when the drain gives up', () => {
  it('ends when the shutdown drain gives up: no leader-only work after app.close()', async () => {
    const started = await bootKit([EndlessStream], { role: 'leader', shutdownTimeoutMs: 20 });
    const job = started.get(EndlessStream);
    let ended = false;
    const subscription = job
      .stream()
      .subscribe({ complete: () => (ended = true), error: () => (ended = true) });
    job.source.next(1); // while leading
    await started.close(); // the drain waits 20 ms for the stream, then gives up (lease left to expire)
    app = undefined;
    job.source.next(2); // the app is closed, the tenure over: this is leader work outside any tenure
    subscription.unsubscribe();
    expect(job.writes).toEqual([1]);
    expect(ended).toBe(true);
  });

  it('a leader-only SSE route stops streaming once the drain gave up', async () => {
    const warnings: string[] = [];
    const logger = {
      log: () => undefined,
      warn: (line: string) => warnings.push(line),
      error: () => undefined,
    };
    const moduleRef = await Test.createTestingModule({
      imports: [LeaderElectionTestingModule.forRoot({ role: 'leader', shutdownTimeoutMs: 20, logger })],
      controllers: [LiveFeedController],
    }).compile();
    const pod = moduleRef.createNestApplication({ logger: false });
    await pod.init();
    const feed = pod.get(LiveFeedController);
    let body = '';
    const response = request(pod.getHttpServer())
      .get('/live/events')
      .buffer(true)
      .parse((res, done) => {
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => done(null, body));
      })
      .then(
        () => undefined,
        () => undefined,
      );
    for (let i = 0; i < 200 && !feed.source.observed; i++) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 20)); // the SSE headers are committed on the next macrotask
    let closed = false;
    const closing = pod.close().then(() => (closed = true));
    for (let i = 0; i < 400 && !warnings.some((line) => line.includes('left to expire')); i++)
      await new Promise((r) => setTimeout(r, 5));
    expect(warnings.some((line) => line.includes('left to expire'))).toBe(true); // the drain gave up
    await new Promise((r) => setTimeout(r, 50));
    feed.source.next(7); // the tenure is over and the lease left to expire
    await new Promise((r) => setTimeout(r, 50));
    const streamedAfterDrain = body.includes('data: 7');
    const closedBeforeStreamEnded = closed; // false today: close() waits for the HTTP stream (not asserted: timing)
    feed.source.complete(); // let the test end either way
    await closing;
    await response;
    expect({ streamedAfterDrain, closedBeforeStreamEnded }).toMatchObject({ streamedAfterDrain: false });
  });

  it('with the real elector: the lease is left to expire, and the stream is cut before another replica can lead', async () => {
    const storeClock = new ManualClock(); // the store's view of time: the lease expires when the test says
    const store = new MemoryLeaseStore(storeClock);
    const moduleRef = await Test.createTestingModule({
      imports: [
        LeaderElectionModule.forRoot({
          store,
          identity: 'pod-a',
          presence: false,
          logger: false,
          shutdownTimeoutMs: 20,
        }),
      ],
      providers: [EndlessStream],
    }).compile();
    const podA = moduleRef.createNestApplication();
    await podA.init();
    const job = podA.get(EndlessStream);
    expect(podA.get(LeaderElectionService).isLeader()).toBe(true);
    const subscription = job.stream().subscribe();
    job.source.next(1);
    await podA.close(); // drain gives up after 20 ms: "Not releasing lease", left to expire
    expect((await store.observe('leader', new AbortController().signal)).held).toBe(true); // not released
    await storeClock.advance(16_000); // the unrenewed lease runs out
    const podB = new LeaderElector(
      store,
      { leaseName: 'leader', identity: 'pod-b', presence: false },
      {
        logger: silentLogger,
      },
    );
    await podB.start();
    expect(podB.isLeader()).toBe(true);
    job.source.next(2); // pod-a's stream, while pod-b leads
    subscription.unsubscribe();
    await podB.stop();
    expect(job.writes).toEqual([1]);
  });
});

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

@Injectable()
class StreamConsumer {
  readonly ticks = new Subject<number>();
  readonly writes = new Writes();
  @LeaderTask()
  consume(): Observable<void> {
    return this.ticks.pipe(concatMap(() => from(this.writes.write())));
  }
}

describe('review-gate-2 fixed, finding 2 (b)(c): a stream at step-down or shutdown finishes within the drain or is cut', () => {
  it('(b) stepDown() never releases the lease while the stream of the ended tenure still writes', async () => {
    const store = new WatchedStore();
    const started = await bootReal(store, [BatchStream]);
    const job = started.get(BatchStream);
    const service = started.get(LeaderElectionService);
    expect(service.isLeader()).toBe(true);
    store.running = () => job.writes.running;
    const subscription = job.stream().subscribe();
    job.ticks.next(1);
    expect(job.writes.running).toBe(1);
    const stepping = service.stepDown();
    for (let i = 0; i < 5; i++) await flush();
    job.writes.finishAll();
    await stepping;
    subscription.unsubscribe();
    // Released after the write stopped, or left to expire: never released beside it.
    expect(store.runningAtRelease.filter((running) => running > 0)).toEqual([]);
  });

  it('the testing kit: stepDown() lets the stream go on within the drain and cuts it when the drain gives up', async () => {
    const started = await bootKit([EndlessStream], { role: 'leader', shutdownTimeoutMs: 20 });
    const job = started.get(EndlessStream);
    let ended = false;
    job.stream().subscribe({ complete: () => (ended = true) });
    job.source.next(1);
    const steppingDown = started.get(LeaderElectionService).stepDown();
    job.source.next(2); // within the drain (the real elector holds the lease until it ends)
    await steppingDown; // as on the real elector: resolves once the drain is over (here: it gave up)
    expect(ended).toBe(true);
    job.source.next(3); // after the drain gave up
    expect(job.writes).toEqual([1, 2]);
  });

  it('(c) a @LeaderTask Observable: shutdown never releases the lease while its write still runs', async () => {
    const store = new WatchedStore();
    const started = await bootReal(store, [StreamConsumer]);
    const consumer = started.get(StreamConsumer);
    expect(started.get(LeaderElectionService).isLeader()).toBe(true);
    store.running = () => consumer.writes.running;
    consumer.ticks.next(1);
    expect(consumer.writes.running).toBe(1);
    const closing = started.close();
    app = undefined;
    for (let i = 0; i < 5; i++) await flush();
    consumer.writes.finishAll();
    await closing;
    expect(store.runningAtRelease.filter((running) => running > 0)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Finding 6: the tenure-end cut runs inside an AbortSignal 'abort' listener, and a teardown that
// throws there (a cursor whose close() throws once its connection is gone: RxJS rethrows it from
// unsubscribe() as an UnsubscriptionError) aborts the cut half-way: the run is never marked ended.
// - @LeaderTask: untilTenureEnds never resolves, so the task "still runs" for ever: the next tenure's
//   run waits for it (never two runs at once) and never starts (a silent stop); at shutdown the
//   drain waits for it until shutdownTimeoutMs and the lease is left to expire.
// - @LeaderOnly: finish() is never called: the overlap slot stays taken (every later tick skipped as
//   an overlap, for ever) and runningCount() never returns to 0.
// And the error escapes into Node's EventTarget, which reports it as an uncaught exception: the
// process crashes on a loss of leadership ("never a crash of the app", docs/leader-work.md). Jest
// reports that as an error of the test too.

/** An Observable whose teardown throws, as a cursor's close() may once its connection is gone. */
function cursorStream(state: { subscribed: number; tornDown: number }): Observable<number> {
  return new Observable<number>(() => {
    state.subscribed++;
    return () => {
      state.tornDown++;
      throw new Error('cursor already closed');
    };
  });
}

@Injectable()
class CursorConsumer {
  readonly state = { subscribed: 0, tornDown: 0 };
  @LeaderTask()
  consume(): Observable<number> {
    return cursorStream(this.state);
  }
}

@Injectable()
class CursorJob {
  readonly state = { subscribed: 0, tornDown: 0 };
  @LeaderOnly()
  stream(): Observable<number> {
    return cursorStream(this.state);
  }
}

describe('review-gate-2 fixed, finding 6: a throwing teardown at tenure end still ends the run', () => {
  it('@LeaderTask Observable: the run ends, and the next tenure starts the task again', async () => {
    const started = await bootKit([CursorConsumer], { role: 'leader', shutdownTimeoutMs: 50 });
    const consumer = started.get(CursorConsumer);
    const testing = started.get(LeaderElectionTesting);
    expect(consumer.state.subscribed).toBe(1);
    testing.loseLeadership(); // the teardown throws
    await flush();
    testing.becomeLeader();
    await flush();
    await flush();
    expect(consumer.state.tornDown).toBe(1);
    expect(consumer.state.subscribed).toBe(2); // tenure 2 runs the consumer again
  });

  it('@LeaderOnly Observable: the run ends and frees its overlap slot', async () => {
    const started = await bootKit([CursorJob], { role: 'leader', shutdownTimeoutMs: 50 });
    const job = started.get(CursorJob);
    const testing = started.get(LeaderElectionTesting);
    const service = started.get(LeaderElectionService);
    job.stream().subscribe();
    testing.loseLeadership(); // the teardown throws
    await flush();
    testing.becomeLeader();
    const next = job.stream().subscribe(); // the next tick, in tenure 2
    try {
      next.unsubscribe();
    } catch {
      // its own cursor's teardown error, reaching the code that unsubscribes (as without the gate)
    }
    expect(job.state.subscribed).toBe(2);
    expect(service.runningCount()).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Finding 7: a leader-only Server-Sent Events route (@Sse, which handler-kind.ts counts as a route)
// whose stream is cut at tenure end errors with NotLeaderException, as documented; but
// LeaderOnlyInterceptor's catchError then sets Retry-After on a response whose headers went out
// when the stream started: Express throws ERR_HTTP_HEADERS_SENT from inside catchError, that error
// replaces the not-leader one, the client gets "Internal server error" and Nest logs an error.

@Controller('feed')
class FeedController {
  readonly source = new Subject<number>();
  @Sse('events')
  @LeaderOnly()
  events(): Observable<MessageEvent> {
    return this.source.pipe(map((value): MessageEvent => ({ data: String(value) })));
  }
}

describe('review-gate-2 fixed, finding 7: an SSE route cut at tenure end behind LeaderOnlyInterceptor', () => {
  it('ends with the not-leader error (no Retry-After once the headers went out)', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [LeaderElectionTestingModule.forRoot({ role: 'leader' })],
      controllers: [FeedController],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    app.useGlobalInterceptors(app.get(LeaderOnlyInterceptor));
    await app.init();
    const feed = app.get(FeedController);
    const response = request(app.getHttpServer())
      .get('/feed/events')
      .buffer(true)
      .parse((res, done) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => done(null, body));
      })
      .then((res) => res.body as string);
    for (let i = 0; i < 200 && !feed.source.observed; i++) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 20)); // the SSE headers are committed on the next macrotask
    feed.source.next(1);
    app.get(LeaderElectionTesting).loseLeadership(undefined, { leader: 'pod-b' });
    const body = await response;
    expect(body).toContain('data: 1');
    expect(body).toContain('event: error');
    expect(body).toContain('not the leader');
    expect(body).not.toContain('Internal server error');
  });
});

// ---------------------------------------------------------------------------------------------
// Finding 8: the run-time forms take their options unchecked. The decorators refuse an unknown key
// (a misspelt `leasename`) and read allowOverlap only as true/false/"true"/"false" (review-nest
// finding 6); leaderOnly(fn, options) and runWhileLeader(task, options) do neither: a misspelt
// lease name silently gates on / runs under the default lease (another replica may lead it), and
// allowOverlap: "false" (from configuration) is read by truthiness, so overlapping runs are allowed.

describe('review-gate-2 fixed, finding 8: options of leaderOnly() and runWhileLeader() are checked', () => {
  it('leaderOnly(fn, { leasename }) is refused, naming the option', async () => {
    const started = await bootKit([], { role: 'leader' });
    const service = started.get(LeaderElectionService);
    expect(() => service.leaderOnly(() => undefined, { leasename: 'billing' } as never)).toThrow(/leaseName/);
  });

  it('leaderOnly(fn, { allowOverlap: "false" }) does not let runs overlap', async () => {
    const started = await bootKit([], { role: 'leader' });
    const service = started.get(LeaderElectionService);
    let running = 0;
    let maxRunning = 0;
    let release!: () => void;
    const hold = new Promise<void>((resolve) => (release = resolve));
    let gated: (() => Promise<void> | undefined) | undefined;
    try {
      gated = service.leaderOnly(
        async () => {
          running++;
          maxRunning = Math.max(maxRunning, running);
          await hold;
          running--;
        },
        { allowOverlap: 'false' as never },
      );
    } catch {
      return; // refusing the string is a fix too
    }
    const first = gated();
    const second = gated();
    release();
    await Promise.all([first, second]);
    expect(maxRunning).toBe(1);
  });

  it('runWhileLeader(task, { leasename }) is refused, naming the option', async () => {
    const started = await bootKit([], { role: 'leader' });
    const service = started.get(LeaderElectionService);
    expect(() => service.runWhileLeader(() => undefined, { leasename: 'billing' } as never)).toThrow(
      /leaseName/,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Findings 3 and 4: async iterables are refused (the gate cannot end an iteration with the tenure,
// and a follower's skip could not be iterated): an `async *` method under @LeaderOnly or @LeaderTask
// at boot, naming class and method; an async iterable returned at run time (leaderOnly(fn), a
// method the explorer did not see) at call time, with a LeaderElectionSetupError.

@Injectable()
class EventFeed {
  produced = 0;
  @LeaderOnly()
  async *events(): AsyncGenerator<number> {
    for (;;) yield ++this.produced; // each value is leader-only work
  }
}

@Injectable()
class GeneratorConsumer {
  steps = 0;
  @LeaderTask()
  async *consume(): AsyncGenerator<number> {
    for (;;) yield ++this.steps;
  }
}

describe('review-gate-2 fixed, findings 3 and 4: async iterables are refused', () => {
  it('a @LeaderOnly async generator method is refused at boot, naming class and method', async () => {
    const boot = bootKit([EventFeed], { role: 'leader' });
    await expect(boot).rejects.toThrow(LeaderElectionSetupError);
    await expect(boot).rejects.toThrow(/EventFeed\.events.*async iterable/);
    app = undefined;
  });

  it('leaderOnly(fn) returning an async iterable is refused at call time, its run freed', async () => {
    const started = await bootKit([], { role: 'leader' });
    const service = started.get(LeaderElectionService);
    let produced = 0;
    const gated = service.leaderOnly(
      async function* () {
        yield ++produced;
      },
      { name: 'events' },
    );
    expect(() => gated()).toThrow(/events.*async iterable/);
    expect(produced).toBe(0);
    expect(service.runningCount()).toBe(0);
  });

  it('runWhileLeader(task) whose run returns an async iterable fails that run (logged, naming it), never iterated', async () => {
    const errors: string[] = [];
    const logger = {
      log: () => undefined,
      warn: () => undefined,
      error: (line: string) => errors.push(line),
    };
    const started = await bootKit([], { role: 'leader', logger });
    let produced = 0;
    started.get(LeaderElectionService).runWhileLeader(
      async function* () {
        yield ++produced;
      },
      { name: 'feed', restartDelayMs: 60_000 },
    );
    for (let i = 0; i < 5; i++) await flush();
    expect(produced).toBe(0);
    expect(errors.some((line) => /feed.*async iterable/.test(line))).toBe(true);
  });

  it('a @LeaderTask async generator is refused at boot, naming class and method', async () => {
    const boot = bootKit([GeneratorConsumer], { role: 'leader' });
    await expect(boot).rejects.toThrow(/GeneratorConsumer\.consume.*async iterable/);
    app = undefined;
  });
});

// ---------------------------------------------------------------------------------------------
// Finding 5: a method that is both a route and a scheduled job (`@Post('reindex') @Interval(…)
// @LeaderOnly()`) was classified 'http' for every call (ticks lost overlap protection and threw on
// followers). The gate cannot tell who called, so the shape is refused at boot, naming the method.

@Controller('jobs')
class ReindexJob {
  calls = 0;
  @Post('reindex')
  @Interval(5)
  @LeaderOnly()
  async reindex(): Promise<void> {
    this.calls++;
  }
}

describe('review-gate-2 fixed, finding 5: a method that is a route and a scheduled job', () => {
  it.each(['leader', 'follower'] as const)('is refused at boot, naming the method (%s)', async (role) => {
    const boot = bootKit([], { role }, [ScheduleModule.forRoot()], [ReindexJob]);
    await expect(boot).rejects.toThrow(LeaderElectionSetupError);
    await expect(boot).rejects.toThrow(/ReindexJob\.reindex is both a request handler.*scheduled job/);
    app = undefined;
  });
});

// ---------------------------------------------------------------------------------------------
// Finding 9 (low, documented in docs/leader-work.md "Recursion at shutdown", not changed; this test
// pins the documented behaviour so a change is deliberate): at shutdown a run in flight may finish within the drain
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

describe('review-gate-2 finding 9 (documented): recursion of a run in flight at shutdown', () => {
  it('is skipped: the nested call gets undefined and the run ends early (the drain waits for it)', async () => {
    const started = await bootKit([Paging], { role: 'leader', shutdownTimeoutMs: 1_000 });
    const paging = started.get(Paging);
    const run = paging.process(1);
    const closing = started.close();
    app = undefined;
    await flush();
    paging.resume(); // page 1 done: the run goes on to page 2 within the drain
    await run;
    await closing;
    expect(paging.pages).toEqual([1]);
  });
});
