import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Controller, Post, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { LeaderOnly, LeaderOnlyInterceptor } from '../../lib/index.js';
import { LeaderElectionTestingModule } from '../../lib/testing/index.js';

// Findings of the hostile review of the Nest layer (2026-12-07, issue 19) in what the module discovers
// (which methods are gated or leader tasks, which leases this app declares), moved here from
// test/pending/review-nest.spec.ts once fixed.

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
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
