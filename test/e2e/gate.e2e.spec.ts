import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import {
  Controller,
  Get,
  Injectable,
  Module,
  Post,
  Scope,
  SetMetadata,
  type INestApplication,
  type INestMicroservice,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { ClientProxyFactory, MessagePattern, Transport, type ClientProxy } from '@nestjs/microservices';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Interval, ScheduleModule, Timeout } from '@nestjs/schedule';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  Observable,
  firstValueFrom,
  lastValueFrom,
  of,
  delay as rxDelay,
  type Observable as Obs,
} from 'rxjs';
import request from 'supertest';
import {
  LeaderElectionModule,
  LeaderElectionService,
  LeaderOnly,
  MemoryLeaseStore,
  currentLeadership,
  type LeaderElectionModuleOptions,
} from '../../lib/index.js';
import { freePort } from '../support/azurite.mjs';
import { RecordingLogger } from '../support/recording-logger.js';

const fast: Partial<LeaderElectionModuleOptions> = {
  retryIntervalMs: 200,
  retryJitter: 0.1,
  startupTimeoutMs: 5_000,
  logger: false,
};
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, timeoutMs: number, stepMs = 20): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(stepMs);
  }
}

/** A tracing-style decorator: wraps the method and copies its reflect metadata (as OpenTelemetry wrappers do). */
function Trace(): MethodDecorator {
  return (_target, _key, descriptor: PropertyDescriptor) => {
    const original = descriptor.value as (...args: unknown[]) => unknown;
    const traced = function (this: unknown, ...args: unknown[]): unknown {
      return original.apply(this, args);
    };
    for (const key of Reflect.getOwnMetadataKeys(original))
      Reflect.defineMetadata(key, Reflect.getOwnMetadata(key, original), traced);
    descriptor.value = traced;
    return descriptor;
  };
}

let apps: Array<{ close(): Promise<unknown> }> = [];
afterEach(async () => {
  await Promise.allSettled(apps.map((app) => app.close()));
  apps = [];
});

interface Setup {
  providers?: unknown[];
  controllers?: unknown[];
  imports?: unknown[];
  fastify?: boolean;
}

async function compile(options: LeaderElectionModuleOptions, setup: Setup): Promise<TestingModule> {
  return Test.createTestingModule({
    imports: [
      ScheduleModule.forRoot(),
      LeaderElectionModule.forRoot({ ...fast, ...options }),
      ...((setup.imports ?? []) as never[]),
    ],
    providers: (setup.providers ?? []) as never[],
    controllers: (setup.controllers ?? []) as never[],
  }).compile();
}

async function createApp(options: LeaderElectionModuleOptions, setup: Setup = {}): Promise<INestApplication> {
  const moduleRef = await compile(options, setup);
  const app = setup.fastify
    ? moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false })
    : moduleRef.createNestApplication({ logger: false });
  apps.push(app);
  await app.init();
  if (setup.fastify) await (app as NestFastifyApplication).getHttpAdapter().getInstance().ready();
  return app;
}

/** A leader (identity L) and a follower (identity F) sharing one in-memory store. */
async function pair(
  setup: Setup = {},
  options: Partial<LeaderElectionModuleOptions> = {},
): Promise<{ leader: INestApplication; follower: INestApplication }> {
  const store = new MemoryLeaseStore();
  const leader = await createApp({ store, identity: 'L', ...options }, setup);
  const follower = await createApp({ store, identity: 'F', ...options }, setup);
  expect(leader.get(LeaderElectionService).isLeader()).toBe(true);
  await until(() => follower.get(LeaderElectionService).currentLeader()?.identity === 'L', 2_000);
  return { leader, follower };
}

// ---------------------------------------------------------------------------- item 1: overlap never applies to routes

@Controller()
class SlowController {
  runs = 0;
  @Post('slow')
  @LeaderOnly()
  async slow(): Promise<{ run: number }> {
    const run = ++this.runs;
    await sleep(200);
    return { run };
  }
}

describe('routes are never skipped as overlap (issue 14.1)', () => {
  it('runs both of two overlapping requests to an async leader-only route on the leader', async () => {
    const app = await createApp(
      { store: new MemoryLeaseStore(), identity: 'solo' },
      { controllers: [SlowController] },
    );
    const server = app.getHttpServer();
    const [first, second] = await Promise.all([request(server).post('/slow'), request(server).post('/slow')]);
    expect([first.status, second.status]).toEqual([201, 201]);
    expect([first.body.run, second.body.run].sort()).toEqual([1, 2]);
    expect(app.get(SlowController).runs).toBe(2);
  });
});

// ---------------------------------------------------------------------------- item 2: routes found whatever wraps whom

@Controller()
class TracedController {
  @Get('traced')
  @Trace()
  @LeaderOnly()
  traced(): { ok: true } {
    return { ok: true };
  }

  @Get('traced-outside')
  @LeaderOnly()
  @Trace()
  tracedOutside(): { ok: true } {
    return { ok: true };
  }
}

@Controller()
class RpcController {
  @MessagePattern('leader.work')
  @Trace()
  @LeaderOnly()
  work(): string {
    return `done by ${currentLeadership()!.identity}`;
  }
}

/** Stands in for a GraphQL resolver and a WebSocket gateway (those packages are not installed here): the same metadata keys. */
@Injectable()
class ForeignHandlers {
  @SetMetadata('graphql:resolver_type', 'Query')
  @SetMetadata('graphql:resolver_name', 'report')
  @Trace()
  @LeaderOnly()
  report(): string {
    return 'report';
  }

  @SetMetadata('websockets:message_mapping', true)
  @SetMetadata('message', 'events')
  @LeaderOnly()
  onEvent(): string {
    return 'event';
  }
}

describe('followers refuse requests in every transport, whatever decorator wraps @LeaderOnly (issue 14.2)', () => {
  it.each([['express'], ['fastify']])(
    '%s: a follower answers 503 on a traced route, the leader 200',
    async (platform) => {
      const { leader, follower } = await pair({
        controllers: [TracedController],
        fastify: platform === 'fastify',
      });
      for (const path of ['/traced', '/traced-outside']) {
        const refused = await request(follower.getHttpServer()).get(path);
        expect(refused.status).toBe(503);
        expect(refused.body).toMatchObject({ statusCode: 503, leaseName: 'leader', leader: 'L' });
        const served = await request(leader.getHttpServer()).get(path);
        expect(served.status).toBe(200);
        expect(served.body).toEqual({ ok: true });
      }
    },
  );

  it('a follower answers an RPC error ({ status: "error", message }) to a @MessagePattern, the leader the value', async () => {
    const store = new MemoryLeaseStore();
    const start = async (identity: string): Promise<{ app: INestMicroservice; client: ClientProxy }> => {
      const port = await freePort();
      const moduleRef = await compile({ store, identity }, { controllers: [RpcController] });
      const app = moduleRef.createNestMicroservice({
        transport: Transport.TCP,
        options: { host: '127.0.0.1', port },
        logger: false,
      });
      apps.push(app);
      await app.listen();
      const client = ClientProxyFactory.create({
        transport: Transport.TCP,
        options: { host: '127.0.0.1', port },
      });
      apps.push(client);
      return { app, client };
    };
    const leader = await start('L');
    const follower = await start('F');
    await until(() => follower.app.get(LeaderElectionService).currentLeader()?.identity === 'L', 2_000);
    await expect(lastValueFrom(leader.client.send('leader.work', {}))).resolves.toBe('done by L');
    const error = await lastValueFrom(follower.client.send('leader.work', {})).catch(
      (caught: unknown) => caught,
    );
    expect(error).toMatchObject({ status: 'error', leaseName: 'leader', leader: 'L' });
    expect((error as { message: string }).message).toMatch(/not the leader of "leader"/);
  });

  it('treats methods with GraphQL resolver or WebSocket message metadata as requests: a follower throws instead of returning undefined', async () => {
    const { leader, follower } = await pair({ providers: [ForeignHandlers] });
    expect(leader.get(ForeignHandlers).report()).toBe('report');
    expect(leader.get(ForeignHandlers).onEvent()).toBe('event');
    expect(() => follower.get(ForeignHandlers).report()).toThrow(/not the leader of "leader"/);
    expect(() => follower.get(ForeignHandlers).onEvent()).toThrow(/not the leader of "leader"/);
  });
});

// ---------------------------------------------------------------------------- item 3: one app = one election

@Module({
  imports: [LeaderElectionModule.forRoot({ store: new MemoryLeaseStore(), identity: 'a', logger: false })],
})
class FeatureA {}
@Module({
  imports: [
    LeaderElectionModule.forRootAsync({
      useFactory: () => ({ store: new MemoryLeaseStore(), identity: 'a', logger: false }),
    }),
  ],
})
class FeatureB {}

describe('a second registration of the module (issue 14.3)', () => {
  it('is refused at boot with a message naming both modules', async () => {
    const moduleRef = await Test.createTestingModule({ imports: [FeatureA, FeatureB] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    apps.push(app);
    const error = await app.init().then(
      () => undefined,
      (caught: unknown) => caught as Error,
    );
    expect(error?.message).toMatch(/LeaderElectionModule is registered 2 times in this application/);
    expect(error?.message).toMatch(/FeatureA/);
    expect(error?.message).toMatch(/FeatureB/);
  });
});

// ---------------------------------------------------------------------------- item 4: Observables are runs too

@Controller()
class StreamController {
  seen: Array<{ term: number | undefined; running: number }> = [];
  constructor(private readonly election: LeaderElectionService) {}

  @Get('stream')
  @LeaderOnly()
  stream(): Obs<{ term: number | undefined }> {
    return new Observable<{ term: number | undefined }>((subscriber) => {
      const timer = setTimeout(() => {
        const seen = { term: currentLeadership()?.term, running: this.election.runningCount() };
        this.seen.push(seen);
        subscriber.next({ term: seen.term });
        subscriber.complete();
      }, 100);
      return () => clearTimeout(timer);
    });
  }
}

describe('a route returning an Observable (issue 14.4)', () => {
  it('keeps the leadership context and counts as a run until the Observable completes', async () => {
    const app = await createApp(
      { store: new MemoryLeaseStore(), identity: 'solo' },
      { controllers: [StreamController] },
    );
    const response = await request(app.getHttpServer()).get('/stream').expect(200);
    expect(response.body).toEqual({ term: 1 });
    expect(app.get(StreamController).seen).toEqual([{ term: 1, running: 1 }]);
    expect(app.get(LeaderElectionService).runningCount()).toBe(0);
  });

  it('keeps the context for a direct caller subscribing later, and a follower’s Observable errors', async () => {
    const { leader, follower } = await pair({ controllers: [StreamController] });
    await expect(firstValueFrom(leader.get(StreamController).stream())).resolves.toEqual({ term: 1 });
    expect(() => follower.get(StreamController).stream()).toThrow(/not the leader/);
  });
});

@Injectable()
class Feed {
  emitted = 0;
  @LeaderOnly()
  feed(): Observable<number> {
    return new Observable<number>((subscriber) => {
      const timer = setTimeout(() => {
        this.emitted++;
        subscriber.next(this.emitted);
        subscriber.complete();
      }, 200);
      return () => clearTimeout(timer);
    });
  }
}

describe('a background method returning an Observable (issue 14.4)', () => {
  it('skips an overlapping subscription, and shutdown waits for the running one', async () => {
    const app = await createApp({ store: new MemoryLeaseStore(), identity: 'solo' }, { providers: [Feed] });
    const feed = app.get(Feed);
    const service = app.get(LeaderElectionService);
    const first = lastValueFrom(feed.feed(), { defaultValue: 'empty' });
    const second = lastValueFrom(feed.feed(), { defaultValue: 'empty' });
    expect(service.runningCount()).toBe(1);
    await expect(second).resolves.toBe('empty');
    await app.close();
    expect(feed.emitted).toBe(1); // close() returned only after the running subscription completed
    await expect(first).resolves.toBe(1);
  });
});

// ---------------------------------------------------------------------------- item 5: re-entry is not overlap

@Injectable()
class Pager {
  pages: number[] = [];
  @LeaderOnly()
  async processPage(page: number): Promise<void> {
    this.pages.push(page);
    await sleep(10);
    if (page < 3) await this.processPage(page + 1);
  }
}

describe('a recursive @LeaderOnly method (issue 14.5)', () => {
  it('runs its nested calls; a concurrent outside call is still skipped as overlap', async () => {
    const app = await createApp({ store: new MemoryLeaseStore(), identity: 'solo' }, { providers: [Pager] });
    const pager = app.get(Pager);
    const first = pager.processPage(1);
    const concurrent = pager.processPage(10);
    await Promise.all([first, concurrent]);
    expect(pager.pages).toEqual([1, 2, 3]);
  });
});

// ---------------------------------------------------------------------------- item 6: the promised shape on followers

@Injectable()
class Shapes {
  @LeaderOnly()
  promised(): Promise<string> {
    return Promise.resolve('promised');
  }

  @LeaderOnly()
  @Trace()
  async tracedAsync(): Promise<string> {
    return 'traced';
  }

  @Trace()
  @LeaderOnly()
  async tracedOutside(): Promise<string> {
    return 'outside';
  }

  @LeaderOnly()
  observed(): Observable<string> {
    return of('observed').pipe(rxDelay(1));
  }
}

describe('followers return the shape the caller was promised (issue 14.6)', () => {
  it('returns a resolved Promise for Promise-returning methods, however wrapped, and an empty Observable for Observable ones', async () => {
    const { leader, follower } = await pair({ providers: [Shapes] });
    await expect(leader.get(Shapes).promised()).resolves.toBe('promised');
    await expect(leader.get(Shapes).tracedAsync()).resolves.toBe('traced');
    const shapes = follower.get(Shapes);
    for (const call of [() => shapes.promised(), () => shapes.tracedAsync(), () => shapes.tracedOutside()]) {
      const result = call();
      expect(result).toBeInstanceOf(Promise);
      await expect(result.catch(() => 'rejected')).resolves.toBeUndefined();
    }
    const observed = shapes.observed();
    expect(observed).toBeInstanceOf(Observable);
    await expect(lastValueFrom(observed, { defaultValue: 'empty' })).resolves.toBe('empty');
  });
});

// ---------------------------------------------------------------------------- item 7: @Timeout after a rolling deploy

@Injectable()
class Warmup {
  runs = 0;
  optedOut = 0;
  @Timeout(10)
  @LeaderOnly()
  warm(): void {
    this.runs++;
  }

  @Timeout(10)
  @LeaderOnly({ runMissedTimeout: false })
  warmOnlyAtBoot(): void {
    this.optedOut++;
  }
}

describe('@Timeout on a replica that boots as follower (issue 14.7)', () => {
  it('runs once when that replica first becomes leader (unless runMissedTimeout is false)', async () => {
    const { leader, follower } = await pair({ providers: [Warmup] });
    await until(() => leader.get(Warmup).runs === 1, 2_000);
    await sleep(100); // the follower's one-shot tick has fired and was skipped
    expect(follower.get(Warmup).runs).toBe(0);
    await leader.close();
    const service = follower.get(LeaderElectionService);
    await until(() => service.isLeader(), 5_000);
    await until(() => follower.get(Warmup).runs === 1, 2_000);
    await service.stepDown(undefined, { cooldownMs: 0 });
    await until(() => service.isLeader(), 5_000);
    await sleep(100);
    expect(follower.get(Warmup).runs).toBe(1);
    expect(follower.get(Warmup).optedOut).toBe(0);
  });
});

// ---------------------------------------------------------------------------- item 9: the gate closes before user modules are destroyed

@Injectable()
class GatedWork {
  runs = 0;
  @LeaderOnly()
  work(): string {
    this.runs++;
    return 'ran';
  }
}

@Injectable()
class Database implements OnModuleDestroy {
  resultDuringDestroy: unknown = 'not called';
  constructor(private readonly work: GatedWork) {}
  onModuleDestroy(): void {
    // What a tick firing while this module shuts down would get.
    this.resultDuringDestroy = this.work.work();
  }
}

describe('shutdown order (issue 14.9)', () => {
  it('closes the gate before the onModuleDestroy of the application’s own modules', async () => {
    const app = await createApp(
      { store: new MemoryLeaseStore(), identity: 'solo' },
      { providers: [GatedWork, Database] },
    );
    expect(app.get(GatedWork).work()).toBe('ran');
    const database = app.get(Database);
    await app.close();
    expect(database.resultDuringDestroy).toBeUndefined();
    expect(app.get(GatedWork).runs).toBe(1);
  });
});

@Injectable()
class SlowInit implements OnModuleInit {
  async onModuleInit(): Promise<void> {
    await sleep(300);
  }
}
@Module({ providers: [SlowInit, GatedWork] })
class SlowModule {}
@Module({ imports: [SlowModule] })
class MiddleModule {}

describe('app.close() while another module is still initialising (shutdown before start)', () => {
  it('never starts the elections afterwards, so no closed app holds a lease', async () => {
    const store = new MemoryLeaseStore();
    // Not global: deeper modules (SlowModule) initialise before LeaderElectionModule.
    const moduleRef = await Test.createTestingModule({
      imports: [
        MiddleModule,
        LeaderElectionModule.forRoot({ ...fast, store, identity: 'closed', isGlobal: false }),
      ],
    }).compile();
    const closed = moduleRef.createNestApplication({ logger: false });
    apps.push(closed);
    const init = closed.init().catch(() => undefined);
    await sleep(100);
    await closed.close();
    await init;
    await sleep(100);
    expect(closed.get(LeaderElectionService).isLeader()).toBe(false);
    const next = await createApp({ store, identity: 'next' });
    expect(next.get(LeaderElectionService).isLeader()).toBe(true);
  });
});

// ---------------------------------------------------------------------------- item 11: reads never create elections

describe('reads of undeclared leases (issue 14.11)', () => {
  it('answer "not leader" or a clear error, and never start an election', async () => {
    const app = await createApp(
      { store: new MemoryLeaseStore(), identity: 'solo' },
      { providers: [GatedWork] },
    );
    const service = app.get(LeaderElectionService);
    expect(service.leaseNames).toEqual(['leader']);
    for (let i = 0; i < 20; i++) expect(service.isLeader(`from-input-${i}`)).toBe(false);
    expect(service.leadership('from-input')).toBeUndefined();
    expect(() => service.getState('from-input')).toThrow(/lease "from-input" is not declared.*"leader"/);
    expect(() => service.currentLeader('from-input')).toThrow(/not declared/);
    expect(() => service.state$('from-input')).toThrow(/not declared/);
    await expect(service.waitForLeadership('from-input')).rejects.toThrow(/not declared/);
    expect(service.leaseNames).toEqual(['leader']);
    // Explicit declarations still work.
    await service.join('reports');
    expect(service.leaseNames.sort()).toEqual(['leader', 'reports']);
    expect(service.isLeader('reports')).toBe(true);
  });
});

// ---------------------------------------------------------------------------- issue 13.9: request-scoped controllers

@Injectable({ scope: Scope.REQUEST })
class RequestInfo {
  readonly id = Math.random();
}

@Controller()
class ScopedController {
  constructor(readonly info: RequestInfo) {}
  @Get('scoped')
  @LeaderOnly()
  scoped(): { term: number | undefined } {
    return { term: currentLeadership()?.term };
  }
}

describe('@LeaderOnly routes on a request-scoped controller (issue 13.9)', () => {
  it('answer 200 with the leadership context on the leader and 503 on the follower', async () => {
    const { leader, follower } = await pair({ controllers: [ScopedController], providers: [RequestInfo] });
    await request(leader.getHttpServer()).get('/scoped').expect(200, { term: 1 });
    const refused = await request(follower.getHttpServer()).get('/scoped').expect(503);
    expect(refused.body).toMatchObject({ leader: 'L' });
  });
});

@Injectable({ scope: Scope.TRANSIENT })
class TransientWork {
  @LeaderOnly()
  work(): string {
    return `ran in term ${currentLeadership()!.term}`;
  }
}

@Injectable()
class TransientConsumer {
  constructor(readonly work: TransientWork) {}
}

describe('@LeaderOnly on a transient provider (issue 13.9)', () => {
  it('is gated on the instances Nest creates for its consumers', async () => {
    const { leader, follower } = await pair({ providers: [TransientWork, TransientConsumer] });
    expect(leader.get(TransientConsumer).work.work()).toBe('ran in term 1');
    expect(follower.get(TransientConsumer).work.work()).toBeUndefined();
    expect(follower.get(LeaderElectionService).skippedCount()).toBe(1);
  });
});

// ---------------------------------------------------------------------------- issue 7.2: quiet followers

@Injectable()
class Chatty {
  runs = 0;
  @Interval(20)
  @LeaderOnly()
  tick(): void {
    this.runs++;
  }

  @Interval(20)
  @LeaderOnly()
  async tock(): Promise<void> {
    this.runs++;
  }
}

describe('follower logs (issue 7.2)', () => {
  it('logs role changes, not skipped ticks: a bounded number of lines per level, skips counted', async () => {
    const store = new MemoryLeaseStore();
    const leaderLog = new RecordingLogger();
    const followerLog = new RecordingLogger();
    const leader = await createApp({ store, identity: 'L', logger: leaderLog }, { providers: [Chatty] });
    const follower = await createApp({ store, identity: 'F', logger: followerLog }, { providers: [Chatty] });
    await sleep(1_000);
    const byLevel = (level: string): string[] =>
      followerLog.lines.filter((line) => line.level === level).map((line) => line.message);
    expect(followerLog.text()).not.toMatch(/Skipped/);
    expect(byLevel('debug').length).toBeLessThanOrEqual(2);
    expect(byLevel('warn')).toEqual([]);
    expect(byLevel('error')).toEqual([]);
    expect(byLevel('log').length).toBeLessThanOrEqual(3);
    expect(byLevel('log')).toContainEqual(
      expect.stringMatching(
        /^Following "leader" \(leader: "L"\); 2 leader-only handler\(s\) skip on this replica/,
      ),
    );
    // The skips are counted instead, for state and health.
    expect(leader.get(Chatty).runs).toBeGreaterThan(20);
    expect(follower.get(LeaderElectionService).skippedCount()).toBeGreaterThan(20);
  });
});
