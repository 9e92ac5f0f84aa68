import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import {
  Controller,
  Get,
  Module,
  Post,
  UseInterceptors,
  type DynamicModule,
  type INestApplication,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import {
  LeaderElectionHealthIndicator,
  LeaderElectionModule,
  LeaderElectionService,
  LeaderOnly,
  LeaderOnlyInterceptor,
  MemoryLeaseStore,
} from '../../lib/index.js';

// Where the module's providers are visible. Registered once with forRoot/forRootAsync, the module
// is global by default (like ScheduleModule.forRoot()): a feature module that does not import it
// still gets LeaderElectionService, LeaderOnlyInterceptor and LeaderElectionHealthIndicator.
// `isGlobal: false` keeps them inside the importing module.

@Controller()
class FeatureController {
  constructor(
    private readonly election: LeaderElectionService,
    private readonly leaderHealth: LeaderElectionHealthIndicator,
  ) {}

  @Post('work')
  @UseInterceptors(LeaderOnlyInterceptor)
  @LeaderOnly()
  work(): { done: true } {
    return { done: true };
  }

  @Get('leader')
  leader(): unknown {
    return { leader: this.election.currentLeader(), health: this.leaderHealth.isHealthy('leaderElection') };
  }
}

/** A feature module that does NOT import LeaderElectionModule. */
@Module({ controllers: [FeatureController] })
class FeatureModule {}

const apps: INestApplication[] = [];
afterEach(async () => {
  await Promise.allSettled(apps.splice(0).map((app) => app.close()));
});

async function bootWithFeature(leaderModule: DynamicModule): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({ imports: [leaderModule, FeatureModule] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  apps.push(app);
  await app.init();
  return app;
}

async function expectFeatureServedByLeader(app: INestApplication): Promise<void> {
  const leader = await request(app.getHttpServer()).get('/leader').expect(200);
  expect(leader.body).toMatchObject({
    leader: { identity: 'scope', self: true },
    health: { leaderElection: { status: 'up' } },
  });
  await request(app.getHttpServer()).post('/work').expect(201, { done: true });
}

describe('LeaderElectionModule scope', () => {
  it('forRoot is global by default: a feature module that does not import it injects the service, interceptor and health indicator', async () => {
    const app = await bootWithFeature(
      LeaderElectionModule.forRoot({ store: new MemoryLeaseStore(), identity: 'scope', logger: false }),
    );
    await expectFeatureServedByLeader(app);
  });

  it('forRootAsync is global by default too', async () => {
    const app = await bootWithFeature(
      LeaderElectionModule.forRootAsync({
        useFactory: () => ({ store: new MemoryLeaseStore(), identity: 'scope', logger: false }),
      }),
    );
    await expectFeatureServedByLeader(app);
  });

  it('isGlobal: undefined (e.g. spread from a config object) keeps the default', async () => {
    const app = await bootWithFeature(
      LeaderElectionModule.forRoot({
        store: new MemoryLeaseStore(),
        identity: 'scope',
        logger: false,
        isGlobal: undefined,
      }),
    );
    await expectFeatureServedByLeader(app);
  });

  it('the dynamic module definition says global unless isGlobal is false', () => {
    const store = new MemoryLeaseStore();
    expect(LeaderElectionModule.forRoot({ store }).global).toBe(true);
    expect(LeaderElectionModule.forRoot({ store, isGlobal: true }).global).toBe(true);
    expect(LeaderElectionModule.forRoot({ store, isGlobal: false }).global).toBe(false);
    expect(LeaderElectionModule.forRootAsync({ useFactory: () => ({ store }) }).global).toBe(true);
    expect(LeaderElectionModule.forRootAsync({ useFactory: () => ({ store }), isGlobal: false }).global).toBe(
      false,
    );
  });

  it('refuses an isGlobal that is not a boolean, naming the option', () => {
    const store = new MemoryLeaseStore();
    for (const isGlobal of ['false', null, 0]) {
      expect(() => LeaderElectionModule.forRoot({ store, isGlobal: isGlobal as unknown as boolean })).toThrow(
        /Invalid leader election option "isGlobal": got .*; allowed: true or false/,
      );
      expect(() =>
        LeaderElectionModule.forRootAsync({
          useFactory: () => ({ store }),
          isGlobal: isGlobal as unknown as boolean,
        }),
      ).toThrow(/"isGlobal"/);
    }
  });

  it('isGlobal: false keeps the providers inside the importing module: a feature module cannot resolve them', async () => {
    const boot = bootWithFeature(
      LeaderElectionModule.forRoot({
        store: new MemoryLeaseStore(),
        identity: 'scope',
        logger: false,
        isGlobal: false,
      }),
    );
    await expect(boot).rejects.toThrow(
      /can't resolve dependencies of the \w+ \([^)]*\)\. Please make sure that the argument LeaderElectionService at index \[\d\] is available in the FeatureModule module/,
    );
  });

  it('isGlobal: false still serves the module that imports it', async () => {
    @Module({
      imports: [
        LeaderElectionModule.forRoot({
          store: new MemoryLeaseStore(),
          identity: 'scope',
          logger: false,
          isGlobal: false,
        }),
      ],
      controllers: [FeatureController],
    })
    class LocalModule {}
    const moduleRef = await Test.createTestingModule({ imports: [LocalModule] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    apps.push(app);
    await app.init();
    await expectFeatureServedByLeader(app);
  });
});
