import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Injectable, Module, type DynamicModule } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { metrics as otelMetrics } from '@opentelemetry/api';
import {
  LeaderElectionModule,
  LeaderElectionService,
  LeaderOnly,
  MemoryLeaseStore,
  METRIC_NAMES,
  type LeaderElectionModuleOptions,
} from '../../lib/index.js';
import { TestMetrics } from '../support/metrics-reader.js';

// A Nest app with LeaderElectionModule and its `metrics` option, read through the OpenTelemetry SDK
// (an in-process pull reader). Gated runs are driven by calling the @LeaderOnly methods directly, and
// transitions by the service (stepDown), so nothing here depends on timers firing on time.

@Injectable()
class Jobs {
  @LeaderOnly()
  report(): string {
    return 'ran';
  }

  @LeaderOnly('billing')
  charge(): string {
    return 'charged';
  }

  release?: () => void;

  /** Runs until the test calls release(): a second call meanwhile overlaps. */
  @LeaderOnly()
  async slow(): Promise<string> {
    await new Promise<void>((resolve) => (this.release = resolve));
    return 'slow done';
  }
}

const quiet: Partial<LeaderElectionModuleOptions> = {
  retryIntervalMs: 200,
  retryJitter: 0.1,
  startupTimeoutMs: 5_000,
  logger: false,
};

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  otelMetrics.disable();
});

async function boot(
  options: LeaderElectionModuleOptions,
): Promise<{ service: LeaderElectionService; jobs: Jobs; close: () => Promise<void> }> {
  @Module({ imports: [LeaderElectionModule.forRoot(options) as DynamicModule], providers: [Jobs] })
  class AppModule {}
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
  const app = moduleRef.createNestApplication();
  await app.init();
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await app.close();
  };
  closers.push(close);
  return { service: app.get(LeaderElectionService), jobs: app.get(Jobs), close };
}

function testMetrics(): TestMetrics {
  const metrics = new TestMetrics();
  closers.push(() => metrics.shutdown());
  return metrics;
}

async function series(metrics: TestMetrics, name: string): Promise<Record<string, unknown>> {
  return Object.fromEntries(await metrics.series(name));
}

const zeroGated = (lease: string) => ({
  [`lease=${lease},outcome=run`]: 0,
  [`lease=${lease},outcome=skipped,reason=not_leader`]: 0,
  [`lease=${lease},outcome=skipped,reason=overlap`]: 0,
  [`lease=${lease},outcome=skipped,reason=shutdown`]: 0,
});

describe('LeaderElectionModule metrics option (e2e, OpenTelemetry SDK reader)', () => {
  it('instruments every lease of the app: is_leader, transitions, acquire attempts and gated runs per lease, from boot to shutdown', async () => {
    const store = new MemoryLeaseStore();
    const leaderMetrics = testMetrics();
    const followerMetrics = testMetrics();
    const leader = await boot({
      ...quiet,
      store,
      identity: 'replica-1',
      metrics: { meterProvider: leaderMetrics.provider },
    });
    const follower = await boot({
      ...quiet,
      store,
      identity: 'replica-2',
      metrics: { meterProvider: followerMetrics.provider },
    });
    expect(leader.service.isLeader()).toBe(true);
    expect(leader.service.isLeader('billing')).toBe(true);

    expect(await series(leaderMetrics, METRIC_NAMES.isLeader)).toEqual({
      'lease=leader': 1,
      'lease=billing': 1,
    });
    expect(await series(followerMetrics, METRIC_NAMES.isLeader)).toEqual({
      'lease=leader': 0,
      'lease=billing': 0,
    });
    const acquired = await series(leaderMetrics, METRIC_NAMES.transitions);
    expect([acquired['lease=leader,type=acquired'], acquired['lease=billing,type=acquired']]).toEqual([1, 1]);
    const attempts = await series(leaderMetrics, METRIC_NAMES.acquireAttempts);
    expect([attempts['lease=leader,outcome=acquired'], attempts['lease=billing,outcome=acquired']]).toEqual([
      1, 1,
    ]);
    expect(Object.values(await series(followerMetrics, METRIC_NAMES.acquireAttempts))).toEqual([
      0, 0, 0, 0, 0, 0,
    ]);
    expect(await series(leaderMetrics, METRIC_NAMES.gatedRuns)).toEqual({
      ...zeroGated('leader'),
      ...zeroGated('billing'),
    });

    // Gated calls: the leader runs them, the follower skips them.
    expect(leader.jobs.report()).toBe('ran');
    expect(leader.jobs.report()).toBe('ran');
    expect(leader.jobs.charge()).toBe('charged');
    expect(follower.jobs.report()).toBeUndefined();
    expect(await series(leaderMetrics, METRIC_NAMES.gatedRuns)).toEqual({
      ...zeroGated('leader'),
      ...zeroGated('billing'),
      'lease=leader,outcome=run': 2,
      'lease=billing,outcome=run': 1,
    });
    expect(await series(followerMetrics, METRIC_NAMES.gatedRuns)).toEqual({
      ...zeroGated('leader'),
      ...zeroGated('billing'),
      'lease=leader,outcome=skipped,reason=not_leader': 1,
    });

    // Stepping down from billing: a transition lost/step-down, is_leader 0, and a skipped run.
    await leader.service.stepDown('billing');
    expect(leader.jobs.charge()).toBeUndefined();
    expect(await series(leaderMetrics, METRIC_NAMES.isLeader)).toEqual({
      'lease=leader': 1,
      'lease=billing': 0,
    });
    const afterStepDown = await series(leaderMetrics, METRIC_NAMES.transitions);
    expect(afterStepDown['lease=billing,reason=step-down,type=lost']).toBe(1);
    expect(
      (await series(leaderMetrics, METRIC_NAMES.gatedRuns))[
        'lease=billing,outcome=skipped,reason=not_leader'
      ],
    ).toBe(1);
    const durations = await series(leaderMetrics, METRIC_NAMES.storeRequestDuration);
    expect(durations['lease=billing,operation=release,outcome=ok']).toMatchObject({ count: 1 });

    // Shutdown: the tenure of "leader" ends with reason stopped and is_leader drops to 0; then recording stops.
    await leader.close();
    expect(
      (await series(leaderMetrics, METRIC_NAMES.transitions))['lease=leader,reason=stopped,type=lost'],
    ).toBe(1);
    expect(await series(leaderMetrics, METRIC_NAMES.isLeader)).toEqual({
      'lease=leader': 0,
      'lease=billing': 0,
    });
    const gatedBefore = await series(leaderMetrics, METRIC_NAMES.gatedRuns);
    leader.jobs.report(); // after close: skipped by the gate, no longer recorded
    expect(await series(leaderMetrics, METRIC_NAMES.gatedRuns)).toEqual(gatedBefore);
  });

  it('counts the skip reasons the gate gives: overlap (previous run still going) and shutdown', async () => {
    const metrics = testMetrics();
    const app = await boot({
      ...quiet,
      store: new MemoryLeaseStore(),
      metrics: { meterProvider: metrics.provider },
    });
    const first = app.jobs.slow();
    await expect(app.jobs.slow()).resolves.toBeUndefined(); // skipped: the first run is still going
    app.jobs.release!();
    await expect(first).resolves.toBe('slow done');
    const shuttingDown = app.service.shutdown(); // closes the gate at once
    expect(app.jobs.report()).toBeUndefined();
    await shuttingDown;
    expect(await series(metrics, METRIC_NAMES.gatedRuns)).toEqual({
      ...zeroGated('leader'),
      ...zeroGated('billing'),
      'lease=leader,outcome=run': 1,
      'lease=leader,outcome=skipped,reason=overlap': 1,
      'lease=leader,outcome=skipped,reason=shutdown': 1,
    });
  });

  it('by default records on the global MeterProvider of @opentelemetry/api (loaded dynamically), with identity only when asked', async () => {
    const global = testMetrics();
    expect(otelMetrics.setGlobalMeterProvider(global.provider)).toBe(true);
    await boot({ ...quiet, store: new MemoryLeaseStore(), identity: 'replica-1' });
    // "billing" is declared by Jobs' @LeaderOnly('billing').
    expect(await series(global, METRIC_NAMES.isLeader)).toEqual({ 'lease=leader': 1, 'lease=billing': 1 });
    const collected = await global.collect();
    expect([...collected.keys()]).toContain(METRIC_NAMES.storeRequestDuration);

    const withIdentity = testMetrics();
    await boot({
      ...quiet,
      store: new MemoryLeaseStore(),
      identity: 'replica-9',
      metrics: { meterProvider: withIdentity.provider, includeIdentity: true },
    });
    expect(await series(withIdentity, METRIC_NAMES.isLeader)).toEqual({
      'identity=replica-9,lease=leader': 1,
      'identity=replica-9,lease=billing': 1,
    });
  });

  it('metrics: false records nothing, even with a global MeterProvider', async () => {
    const global = testMetrics();
    otelMetrics.setGlobalMeterProvider(global.provider);
    const { service, jobs } = await boot({ ...quiet, store: new MemoryLeaseStore(), metrics: false });
    expect(service.isLeader()).toBe(true);
    jobs.report();
    expect((await global.collect()).size).toBe(0);
  });

  it('with a meter that has no createGauge (@opentelemetry/api < 1.9): boot fails when metrics are asked for, and the app boots without them by default', async () => {
    const global = testMetrics();
    const sdkMeter = global.meter();
    const oldMeter = {
      createCounter: sdkMeter.createCounter.bind(sdkMeter),
      createHistogram: sdkMeter.createHistogram.bind(sdkMeter),
    };
    const oldProvider = { getMeter: () => oldMeter };
    await expect(
      boot({ ...quiet, store: new MemoryLeaseStore(), metrics: { meterProvider: oldProvider as never } }),
    ).rejects.toThrow(/createGauge/);
    otelMetrics.setGlobalMeterProvider(oldProvider as never);
    const { service } = await boot({ ...quiet, store: new MemoryLeaseStore() });
    expect(service.isLeader()).toBe(true);
    expect((await global.collect()).size).toBe(0);
  });

  it('refuses bad metrics options at boot, naming them', () => {
    const store = new MemoryLeaseStore();
    const bad: Array<[unknown, RegExp]> = [
      [{ meterProvider: {} }, /metrics\.meterProvider/],
      [{ meterName: '' }, /metrics\.meterName/],
      [{ includeIdentity: 'yes' }, /metrics\.includeIdentity/],
      [{ meterNmae: 'x' }, /did you mean "meterName"/],
      ['on', /metrics/],
      [null, /metrics/],
    ];
    // Checked when the options provider resolves them, i.e. at boot.
    return Promise.all(
      bad.map(async ([metrics, message]) => {
        await expect(boot({ ...quiet, store, metrics } as LeaderElectionModuleOptions)).rejects.toThrow(
          message,
        );
      }),
    );
  });
});
