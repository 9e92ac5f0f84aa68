import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Controller, Injectable, Module, Post, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import {
  LeaderElection,
  LeaderElectionModule,
  LeaderElectionService,
  LeaderElectionSetupError,
  LeaderOnly,
  LeaderOnlyInterceptor,
  LeaderTask,
  MemoryLeaseStore,
  UnknownLeaseError,
  type Leadership,
} from '../../lib/index.js';
import { LeaderElectionTesting, LeaderElectionTestingModule } from '../../lib/testing/index.js';
import { bootTestingApp, flush } from '../support/nest-testing.js';

// Findings of the hostile review of the Nest layer (2026-12-07, issue 19) in what the module discovers
// (which methods are gated or leader tasks, which leases this app declares), moved here from
// test/pending/review-nest.spec.ts once fixed.

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function bootKit(
  providers: unknown[],
  options: Parameters<typeof LeaderElectionTestingModule.forRoot>[0] = {},
): Promise<INestApplication> {
  app = await bootTestingApp({
    imports: [LeaderElectionTestingModule.forRoot(options)],
    providers: providers as never[],
  });
  return app;
}

/** A home-made wrapping decorator that does not copy reflect metadata (as in gate-wrapped-outside). */
function Log(): MethodDecorator {
  return (_target, _key, descriptor: PropertyDescriptor) => {
    const inner = descriptor.value as (...args: unknown[]) => unknown;
    descriptor.value = function logged(this: unknown, ...args: unknown[]) {
      return inner.apply(this, args);
    };
    return descriptor;
  };
}

// ---------------------------------------------------------------------------------------------
// Finding: @LeaderTask under a wrapping decorator that does not copy metadata was silently never run.
// Issue 19.2 fixed this shape for @LeaderOnly (recorded by class and property) and demanded that an
// undetectable case be refused at boot, "never skipped silently"; @LeaderTask kept its metadata only
// on the original function, which the explorer never sees. Now it is recorded by class and property
// too, and the explorer runs the final method (the outer wrapper, which calls the task).

@Injectable()
class WrappedConsumer {
  runs = 0;
  @Log()
  @LeaderTask()
  async consume(): Promise<void> {
    this.runs++;
  }
}

/** Counts the calls that pass through the outer wrapper. */
function Counted(calls: { count: number }): MethodDecorator {
  return (_target, _key, descriptor: PropertyDescriptor) => {
    const inner = descriptor.value as (...args: unknown[]) => unknown;
    descriptor.value = function counted(this: unknown, ...args: unknown[]) {
      calls.count++;
      return inner.apply(this, args);
    };
    return descriptor;
  };
}

const wrapperCalls = { count: 0 };

@Injectable()
class TenureConsumer {
  terms: number[] = [];
  @Counted(wrapperCalls)
  @LeaderTask()
  async consume(leadership: Leadership): Promise<void> {
    this.terms.push(leadership.term);
    await new Promise((resolve) => leadership.signal.addEventListener('abort', resolve));
  }
}

/** Overrides the task without @LeaderTask: an ordinary method, as an overriding route is ungated. */
@Injectable()
class PlainOverride extends WrappedConsumer {
  override async consume(): Promise<void> {
    this.runs += 100;
  }
}

describe('review-nest: leader tasks', () => {
  it('@LeaderTask under a non-copying decorator (@Log() @LeaderTask()) never runs on the leader and is not refused at boot', async () => {
    let refusedAtBoot = false;
    try {
      await bootKit([WrappedConsumer], { role: 'leader' });
    } catch {
      refusedAtBoot = true;
    }
    await flush();
    const runs = app?.get(WrappedConsumer).runs ?? 0;
    // Either it runs once for the tenure, or the app refuses to boot: never "boots and never runs".
    expect({ refusedAtBoot, ranOnce: runs === 1 }).not.toEqual({ refusedAtBoot: false, ranOnce: false });
  });

  it('runs a @LeaderTask under a non-copying decorator once per tenure, through the outer wrapper', async () => {
    wrapperCalls.count = 0;
    await bootKit([TenureConsumer], { role: 'leader' });
    await flush();
    const consumer = app!.get(TenureConsumer);
    expect(consumer.terms).toEqual([1]);
    const testing = app!.get(LeaderElectionTesting);
    testing.loseLeadership();
    await flush();
    testing.becomeLeader(undefined, { term: 5 });
    await flush();
    expect(consumer.terms).toEqual([1, 5]);
    expect(wrapperCalls.count).toBe(2);
  });

  it('does not run an override without @LeaderTask of an inherited leader task', async () => {
    await bootKit([PlainOverride], { role: 'leader' });
    await flush();
    expect(app!.get(PlainOverride).runs).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Finding: a subclass that overrides a @LeaderOnly route WITHOUT @LeaderOnly (the override is meant to
// run on every replica) was still treated as gated by LeaderOnlyInterceptor: the metadata recorded for
// the base class's property was returned for the subclass's own function, so followers answered 503
// for an ungated route. (The explorer also counted it as a gated handler.)

@Controller('base')
class GatedBaseController {
  @Post('run')
  @LeaderOnly()
  run(): { by: string } {
    return { by: 'base' };
  }
}

@Controller('open')
class OpenController extends GatedBaseController {
  static runs = 0;
  @Post('run')
  override run(): { by: string } {
    OpenController.runs++;
    return { by: 'open' };
  }
}

/** Inherits the gated route as it is: still gated. */
@Controller('inherited')
class InheritedController extends GatedBaseController {}

async function bootFollowerWithInterceptor(controllers: unknown[]): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [LeaderElectionTestingModule.forRoot({ role: 'follower', leader: 'pod-a' })],
    controllers: controllers as never[],
  }).compile();
  app = moduleRef.createNestApplication();
  app.useGlobalInterceptors(app.get(LeaderOnlyInterceptor));
  await app.init();
  return app;
}

describe('review-nest: LeaderOnlyInterceptor', () => {
  it('answers 503 on a follower for a subclass route that overrides a gated route without @LeaderOnly', async () => {
    await bootFollowerWithInterceptor([OpenController]);
    const response = await request(app!.getHttpServer()).post('/open/run');
    expect(response.status).toBe(201);
    expect(OpenController.runs).toBe(1);
  });

  it('still answers 503 on a follower for a gated route a subclass inherits without overriding', async () => {
    await bootFollowerWithInterceptor([InheritedController]);
    const response = await request(app!.getHttpServer()).post('/inherited/run');
    expect(response.status).toBe(503);
    expect(response.headers['retry-after']).toBeDefined();
  });
});

// ---------------------------------------------------------------------------------------------
// Finding: @LeaderTask on a static method was accepted at decoration and at boot, and never ran (the
// explorer scans the prototype only). Now the decorator refuses it when the class is defined. The
// class is therefore declared inside the test (at module scope the throw would stop this file from
// loading); the pending version declared it at module scope, which only worked while nothing threw.

describe('review-nest: leader tasks that can never run', () => {
  it('@LeaderTask on a static method is accepted and never runs on the leader', async () => {
    let refused = false;
    let runs = 0;
    try {
      @Injectable()
      class StaticConsumer {
        @LeaderTask()
        static async consume(): Promise<void> {
          runs++;
        }
      }
      await bootKit([StaticConsumer], { role: 'leader' });
    } catch {
      refused = true;
    }
    await flush();
    expect(refused || runs === 1).toBe(true);
  });

  it('refuses @LeaderTask on a static method when the class is defined, naming class and method', () => {
    let thrown: unknown;
    try {
      class BillingJobs {
        @LeaderTask('billing')
        static async consume(): Promise<void> {}
      }
      void BillingJobs;
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(LeaderElectionSetupError);
    expect((thrown as Error).message).toMatch(
      /@LeaderTask cannot decorate the static method BillingJobs\.consume: .*instance method/,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Finding: decoratedLeaseNames was process-wide, so a lease named by a @LeaderOnly of a class that is
// NOT part of this application counted as "declared": a mere read (isLeader / leadership / a health or
// dashboard call) created that election and, once started, joined it. This replica could then hold a
// lease whose work it does not have, so that work ran nowhere. Reads are documented as "never create
// one" for names the app does not declare. Now the declared leases come from this app's providers and
// controllers (what discovery finds), never from a list filled when any class is defined.

@Injectable()
class NotInThisApp {
  @LeaderOnly('billing-ghost')
  bill(): void {}
  @LeaderTask('tasks-ghost')
  async consume(): Promise<void> {}
}
void NotInThisApp;

@LeaderElection('hooks-ghost')
class HooksNotInThisApp {}
void HooksNotInThisApp;

@Injectable()
class LocalJob {
  @LeaderOnly()
  tick(): void {}
}

@Module({ providers: [LocalJob] })
class LocalModule {}

async function bootReal(imports: unknown[]): Promise<LeaderElectionService> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      LeaderElectionModule.forRoot({ store: new MemoryLeaseStore(), logger: false }),
      ...imports,
    ] as never[],
  }).compile();
  app = moduleRef.createNestApplication();
  await app.init();
  return app.get(LeaderElectionService);
}

/** This app's own classes, read from a constructor: before the explorer has declared anything. */
@Injectable()
class BillingJob {
  @LeaderOnly('billing')
  bill(): void {}
  @LeaderTask('ledger')
  async consume(leadership: Leadership): Promise<void> {
    await new Promise((resolve) => leadership.signal.addEventListener('abort', resolve));
  }
}

@LeaderElection('audit')
@Injectable()
class AuditHooks {}

@Injectable()
class EarlyReader {
  readonly seen: Record<string, string> = {};
  readonly ghost: unknown;
  constructor(service: LeaderElectionService) {
    for (const name of ['billing', 'ledger', 'audit']) this.seen[name] = service.getState(name).leaseName;
    try {
      service.getState('billing-ghost');
    } catch (error) {
      this.ghost = error;
    }
  }
}

@Module({ providers: [BillingJob, AuditHooks, EarlyReader] })
class BillingModule {}

describe('review-nest: leases this app does not declare', () => {
  it('isLeader() of a lease named only by a class outside this app joins its election and takes the lease', async () => {
    const store = new MemoryLeaseStore();
    const moduleRef = await Test.createTestingModule({
      imports: [LeaderElectionModule.forRoot({ store, logger: false }), LocalModule],
    }).compile();
    app = moduleRef.createNestApplication();
    await app.init();
    const service = app.get(LeaderElectionService);

    service.isLeader('billing-ghost'); // a read, e.g. from a status endpoint
    await flush();
    await flush();

    expect(service.isLeader('billing-ghost')).toBe(false); // this replica now holds the ghost lease
    expect(service.leaseNames).not.toContain('billing-ghost');
  });

  it('treats a lease named only by @LeaderOnly, @LeaderTask or @LeaderElection outside this app as undeclared', async () => {
    const service = await bootReal([LocalModule]);
    for (const name of ['billing-ghost', 'tasks-ghost', 'hooks-ghost']) {
      expect(service.isLeader(name)).toBe(false);
      expect(service.leadership(name)).toBeUndefined();
      expect(() => service.getState(name)).toThrow(UnknownLeaseError);
    }
    await flush();
    expect(service.leaseNames).toEqual(['leader']);
  });

  it("declares the leases this app's own decorators name, also for a read before the module's init", async () => {
    const service = await bootReal([BillingModule]);
    const reader = app!.get(EarlyReader);
    expect(reader.seen).toEqual({ billing: 'billing', ledger: 'ledger', audit: 'audit' });
    expect(reader.ghost).toBeInstanceOf(UnknownLeaseError);
    await flush();
    expect(service.isLeader('billing')).toBe(true);
    expect([...service.leaseNames].sort()).toEqual(['audit', 'billing', 'leader', 'ledger']);
  });

  it('does not count a lease as declared in the testing kit because a class outside the app names it', async () => {
    await bootKit([LocalJob], { role: 'leader' });
    const service = app!.get(LeaderElectionService);
    expect(service.isLeader('billing-ghost')).toBe(false);
    expect(() => app!.get(LeaderElectionTesting).elector('billing-ghost')).toThrow(UnknownLeaseError);
  });
});
