import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Injectable, type INestApplication } from '@nestjs/common';
import { Interval } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import {
  currentLock,
  LockLostError,
  LockNotAcquiredError,
  LockService,
  OnOneReplica,
  WithLock,
} from '../../lib/index.js';
import { LeaderElectionTestingModule, LockTesting } from '../../lib/testing/index.js';

@Injectable()
class Billing {
  static runs = 0;
  static signal?: AbortSignal;

  @WithLock('billing')
  async charge(): Promise<number> {
    Billing.signal = currentLock()?.signal;
    await new Promise((resolve) => setImmediate(resolve));
    return currentLock()!.term;
  }

  @Interval(1000)
  @OnOneReplica({ job: 'sweep' })
  sweep(): string {
    Billing.runs++;
    return 'swept';
  }
}

const apps: INestApplication[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function boot() {
  const moduleRef = await Test.createTestingModule({
    imports: [LeaderElectionTestingModule.forRoot()],
    providers: [Billing],
  }).compile();
  const app = moduleRef.createNestApplication();
  await app.init();
  apps.push(app);
  return { app, locks: app.get(LockTesting), billing: app.get(Billing), service: app.get(LockService) };
}

describe('LockTesting (testing kit)', () => {
  it('acquires every lock and runs every tick by default, with no store', async () => {
    const { billing, service } = await boot();
    Billing.runs = 0;
    await expect(billing.charge()).resolves.toBe(1);
    await expect(billing.sweep()).resolves.toBe('swept');
    expect(Billing.runs).toBe(1);
    await expect(service.tryWithLock('any', () => 'v')).resolves.toMatchObject({
      acquired: true,
      value: 'v',
    });
  });

  it('holdElsewhere: the lock is held by another replica (fn does not run)', async () => {
    const { billing, locks, service } = await boot();
    locks.holdElsewhere('billing', 'replica-2');
    await expect(billing.charge()).rejects.toBeInstanceOf(LockNotAcquiredError);
    await expect(service.tryWithLock('billing', () => 'v')).resolves.toEqual({
      acquired: false,
      holder: 'replica-2',
    });
    locks.acquire('billing', { term: 7 });
    await expect(billing.charge()).resolves.toBe(7);
  });

  it("runElsewhere: the per-run job's ticks run on another replica", async () => {
    const { billing, locks } = await boot();
    Billing.runs = 0;
    locks.runElsewhere('sweep');
    await expect(billing.sweep()).resolves.toBeUndefined();
    expect(Billing.runs).toBe(0);
    locks.reset();
    await billing.sweep();
    expect(Billing.runs).toBe(1);
  });

  it('lose: aborts the signal of a running lock with LockLostError', async () => {
    const { locks, service } = await boot();
    let signal!: AbortSignal;
    let release!: () => void;
    const running = service.withLock('report', (lock) => {
      signal = lock.signal;
      return new Promise<void>((resolve) => (release = resolve));
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(locks.lose('report', { reason: 'deadline' })).toBe(1);
    expect(signal.reason).toBeInstanceOf(LockLostError);
    expect((signal.reason as LockLostError).reason).toBe('deadline');
    release();
    await running;
  });
});
