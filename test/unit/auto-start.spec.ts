import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Injectable, Module, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  LeaderElectionHealthIndicator,
  LeaderElectionModule,
  LeaderElectionService,
  LeaderOnly,
  MemoryLeaseStore,
  type LeaderElectionModuleOptions,
} from '../../lib/index.js';

// Issue 19 item 8: autoStart: false joins the elections only when the app calls service.start():
// until then the gate skips, and health says "not started" (up: a replica warming up is healthy).

@Injectable()
class Jobs {
  runs = 0;
  reports = 0;
  @LeaderOnly()
  tick(): void {
    this.runs++;
  }
  @LeaderOnly('reports')
  report(): void {
    this.reports++;
  }
}

@Module({ providers: [Jobs] })
class JobsModule {}

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function boot(options: Partial<LeaderElectionModuleOptions>): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      LeaderElectionModule.forRoot({ store: new MemoryLeaseStore(), logger: false, ...options }),
      JobsModule,
    ],
  }).compile();
  app = moduleRef.createNestApplication();
  await app.init();
  return app;
}

describe('autoStart: false and service.start() (issue 19.8)', () => {
  it('does not join before start(): the gate skips and health is up, "not started"', async () => {
    const started = await boot({ autoStart: false, healthDetails: 'full' });
    const service = started.get(LeaderElectionService);
    const jobs = started.get(Jobs);
    const health = started.get(LeaderElectionHealthIndicator);

    expect(service.getState().role).toBe('idle');
    jobs.tick();
    expect(jobs.runs).toBe(0);
    expect(service.isLeader()).toBe(false);
    expect(health.details()).toMatchObject({ status: 'up', role: 'idle', started: false });

    await service.start();
    expect(service.isLeader()).toBe(true);
    jobs.tick();
    expect(jobs.runs).toBe(1);
    expect(health.details().started).toBeUndefined();
    expect(health.details().status).toBe('up');
  });

  it('start(leaseName) starts that lease only', async () => {
    const started = await boot({ autoStart: false });
    const service = started.get(LeaderElectionService);
    const jobs = started.get(Jobs);
    await service.start('reports');
    expect(service.isLeader('reports')).toBe(true);
    expect(service.isLeader()).toBe(false);
    jobs.report();
    jobs.tick();
    expect([jobs.reports, jobs.runs]).toEqual([1, 0]);
  });

  it('autoStart: "false" from the environment is read as false; the default starts at boot', async () => {
    const notYet = await boot({ autoStart: 'false' as unknown as boolean });
    expect(notYet.get(LeaderElectionService).getState().role).toBe('idle');
    await notYet.close();
    app = undefined;
    const auto = await boot({});
    expect(auto.get(LeaderElectionService).isLeader()).toBe(true);
  });
});
