import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Controller, Injectable, Module, Post, type INestApplication } from '@nestjs/common';
import { Cron, ScheduleModule } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { LeaderOnly, LeaderOnlyInterceptor } from '../../lib/index.js';
import { LeaderElectionTestingModule, type LeaderElectionTestingOptions } from '../../lib/testing/index.js';

// Issue 19 item 2: a wrapping decorator that does NOT copy reflect metadata, placed outside
// @LeaderOnly (a home-made @Log()). The explorer cannot see @LeaderOnly on the final method; the
// inner wrapper must still find its gate.

function Log(): MethodDecorator {
  return (_target, _key, descriptor: PropertyDescriptor) => {
    const inner = descriptor.value as (...args: unknown[]) => unknown;
    descriptor.value = function logged(this: unknown, ...args: unknown[]) {
      return inner.apply(this, args);
    };
    return descriptor;
  };
}

@Controller()
class AdminController {
  static runs = 0;
  @Post('reindex')
  @Log()
  @LeaderOnly()
  reindex(): { ok: true } {
    AdminController.runs++;
    return { ok: true };
  }
}

@Injectable()
class NightlyJob {
  static runs = 0;
  @Cron('0 0 3 * * *', { name: 'nightly' })
  @Log()
  @LeaderOnly()
  nightly(): void {
    NightlyJob.runs++;
  }
}

@Module({ imports: [ScheduleModule.forRoot()], controllers: [AdminController], providers: [NightlyJob] })
class AppModule {}

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
  AdminController.runs = 0;
  NightlyJob.runs = 0;
});

async function boot(options: LeaderElectionTestingOptions, intercept = false): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [LeaderElectionTestingModule.forRoot(options), AppModule],
  }).compile();
  app = moduleRef.createNestApplication();
  if (intercept) app.useGlobalInterceptors(app.get(LeaderOnlyInterceptor));
  await app.init();
  return app;
}

describe('@LeaderOnly under a wrapper that does not copy metadata (issue 19.2)', () => {
  it('route: the leader runs the handler', async () => {
    const started = await boot({ role: 'leader' });
    const response = await request(started.getHttpServer()).post('/reindex');
    expect(response.status).toBe(201);
    expect(response.body).toEqual({ ok: true });
    expect(AdminController.runs).toBe(1);
  });

  it('route: a follower answers 503, never success without running', async () => {
    const started = await boot({ role: 'follower', leader: 'pod-a' });
    const response = await request(started.getHttpServer()).post('/reindex');
    expect(response.status).toBe(503);
    expect(response.body).toMatchObject({ leaseName: 'leader', leader: 'pod-a' });
    expect(AdminController.runs).toBe(0);
  });

  it('route with LeaderOnlyInterceptor: a follower answers 503 with Retry-After before the handler runs', async () => {
    const started = await boot({ role: 'follower', leader: 'pod-a' }, true);
    const response = await request(started.getHttpServer()).post('/reindex');
    expect(response.status).toBe(503);
    expect(response.headers['retry-after']).toBe('2');
    expect(AdminController.runs).toBe(0);
  });

  it('@Cron outermost: the leader runs the job (called as the scheduler calls it)', async () => {
    const started = await boot({ role: 'leader' });
    const job = started.get(NightlyJob);
    // ScheduleExplorer captures instance[key] once and calls it with the instance as `this`.
    job.nightly();
    expect(NightlyJob.runs).toBe(1);
  });

  it('@Cron outermost: a follower skips', async () => {
    const started = await boot({ role: 'follower' });
    started.get(NightlyJob).nightly();
    expect(NightlyJob.runs).toBe(0);
  });
});
