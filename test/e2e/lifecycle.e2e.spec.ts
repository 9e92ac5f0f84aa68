import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { Injectable, Module, type OnModuleInit } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { LeaderElectionModule, MemoryLeaseStore } from '../../lib/index.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const live = (): AbortSignal => new AbortController().signal;

let releaseSlowInit!: () => void;
const slowInitGate = new Promise<void>((resolve) => (releaseSlowInit = resolve));

/** A module whose init is still running when the app is closed (e.g. a slow database connect). */
@Injectable()
class SlowStartingService implements OnModuleInit {
  async onModuleInit(): Promise<void> {
    await slowInitGate;
  }
}

@Module({ providers: [SlowStartingService] })
class SlowModule {}

describe('lifecycle: app.close() while the app is still starting', () => {
  it('starts no election once shutdown began: the closed app never takes the lease (no zombie leader)', async () => {
    const store = new MemoryLeaseStore();
    const moduleRef = await Test.createTestingModule({
      // SlowModule first: Nest runs onModuleInit module by module, so the election's explorer
      // (which starts the elections) runs after the slow init.
      imports: [SlowModule, LeaderElectionModule.forRoot({ store, retryIntervalMs: 50, logger: false })],
    }).compile();
    const app = moduleRef.createNestApplication();
    const initializing = app.init();
    await sleep(50);
    // Closing now runs the destroy hooks first; the explorer's onModuleInit then runs afterwards.
    const closing = app.close();
    releaseSlowInit();
    await Promise.allSettled([initializing, closing]);
    await sleep(300);
    // Before the fix the closed app held (and kept renewing) the lease for ever.
    expect(await store.observe('leader', live())).toMatchObject({ held: false });
  });
});
