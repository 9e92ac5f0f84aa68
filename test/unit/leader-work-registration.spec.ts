import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Injectable, Module, type INestApplication, type Provider } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  LeaderElection,
  LeaderTask,
  type Leadership,
  type LeadershipAcquiredEvent,
  type OnLeadershipAcquired,
} from '../../lib/index.js';
import { LeaderElectionTestingModule } from '../../lib/testing/index.js';

// Issue 19 item 1: one instance = one registration of its leader work, whatever number of
// instance wrappers Nest keeps for it (useExisting aliases, useValue of an existing instance,
// a provider exported by one module and aliased in another).

@Injectable()
@LeaderElection()
class Consumer implements OnLeadershipAcquired {
  starts = 0;
  concurrent = 0;
  maxConcurrent = 0;
  acquired = 0;

  @LeaderTask()
  async consume(leadership: Leadership): Promise<void> {
    this.starts++;
    this.concurrent++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.concurrent);
    await new Promise<void>((resolve) =>
      leadership.signal.addEventListener('abort', () => resolve(), { once: true }),
    );
    this.concurrent--;
  }

  onLeadershipAcquired(_event: LeadershipAcquiredEvent): void {
    this.acquired++;
  }
}

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function boot(imports: unknown[], providers: Provider[] = []): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [LeaderElectionTestingModule.forRoot(), ...(imports as [])],
    providers,
  }).compile();
  app = moduleRef.createNestApplication();
  await app.init();
  return app;
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('leader work is registered once per instance (issue 19.1)', () => {
  it('useExisting alias: one task run and one hook call', async () => {
    const started = await boot([], [Consumer, { provide: 'CONSUMER', useExisting: Consumer }]);
    await flush();
    const consumer = started.get(Consumer);
    expect(started.get('CONSUMER')).toBe(consumer);
    expect(consumer.starts).toBe(1);
    expect(consumer.maxConcurrent).toBe(1);
    expect(consumer.acquired).toBe(1);
  });

  it('useValue of an existing instance under two tokens: one task run and one hook call', async () => {
    const instance = new Consumer();
    await boot(
      [],
      [
        { provide: Consumer, useValue: instance },
        { provide: 'SAME_CONSUMER', useValue: instance },
      ],
    );
    await flush();
    expect(instance.starts).toBe(1);
    expect(instance.maxConcurrent).toBe(1);
    expect(instance.acquired).toBe(1);
  });

  it('a provider exported by a feature module and aliased in the importing module: one registration', async () => {
    @Module({ providers: [Consumer], exports: [Consumer] })
    class FeatureModule {}
    @Module({ imports: [FeatureModule], exports: [FeatureModule] })
    class ReExportingModule {}
    @Module({
      imports: [ReExportingModule, FeatureModule],
      providers: [{ provide: 'ALIAS', useExisting: Consumer }],
    })
    class AppModule {}
    const started = await boot([AppModule]);
    await flush();
    const consumer = started.get(Consumer);
    expect(consumer.starts).toBe(1);
    expect(consumer.acquired).toBe(1);
  });
});
