import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { instrumentElector, LeaderElectionMetrics } from '../../lib/metrics/leader-election-metrics.js';
import type { MetricsMeter } from '../../lib/metrics/meter-types.js';
import { METRIC_NAMES } from '../../lib/metrics/metric-names.js';
import { D, MARGIN, RENEW, RETRY, setup, stopAllElectors } from '../support/elector-harness.js';
import { TestMetrics } from '../support/metrics-reader.js';

// The metrics of one elector (one replica: its own MeterProvider), driven through the memory store
// and the ManualClock: every value below is exact (virtual time, counted store calls).

const providers: TestMetrics[] = [];
function replicaMetrics(): TestMetrics {
  const metrics = new TestMetrics();
  providers.push(metrics);
  return metrics;
}

afterEach(async () => {
  await stopAllElectors();
  await Promise.all(providers.splice(0).map((metrics) => metrics.shutdown()));
});

/** Every pre-registered series of lease "jobs", at 0. */
const ZERO_TRANSITIONS = {
  'lease=jobs,type=acquired': 0,
  'lease=jobs,reason=lost,type=lost': 0,
  'lease=jobs,reason=deadline,type=lost': 0,
  'lease=jobs,reason=step-down,type=lost': 0,
  'lease=jobs,reason=stopped,type=lost': 0,
};
const ZERO_RENEWAL_FAILURES = {
  'error.type=transient,lease=jobs': 0,
  'error.type=permanent,lease=jobs': 0,
  'error.type=lost,lease=jobs': 0,
};
const ZERO_ACQUIRE_ATTEMPTS = {
  'lease=jobs,outcome=acquired': 0,
  'lease=jobs,outcome=held_by_other': 0,
  'lease=jobs,outcome=error': 0,
};
const ZERO_GATED_RUNS = {
  'lease=jobs,outcome=run': 0,
  'lease=jobs,outcome=skipped,reason=not_leader': 0,
  'lease=jobs,outcome=skipped,reason=overlap': 0,
  'lease=jobs,outcome=skipped,reason=shutdown': 0,
};

async function snapshot(metrics: TestMetrics, name: string): Promise<Record<string, unknown>> {
  return Object.fromEntries(await metrics.series(name));
}

describe('LeaderElectionMetrics: series of one elector (memory store, manual clock)', () => {
  it('pre-registers every counter series at 0 and reports is_leader 0 before the election starts', async () => {
    const { candidate } = setup();
    const a = candidate('a');
    const metrics = replicaMetrics();
    instrumentElector(a.elector, metrics.meter());
    const collected = await metrics.collect();
    expect([...collected.keys()].sort()).toEqual(
      [
        METRIC_NAMES.acquireAttempts,
        METRIC_NAMES.gatedRuns,
        METRIC_NAMES.isLeader,
        METRIC_NAMES.renewalFailures,
        METRIC_NAMES.transitions,
      ].sort(),
    );
    expect(Object.fromEntries(collected.get(METRIC_NAMES.transitions)!.points)).toEqual(ZERO_TRANSITIONS);
    expect(Object.fromEntries(collected.get(METRIC_NAMES.renewalFailures)!.points)).toEqual(
      ZERO_RENEWAL_FAILURES,
    );
    expect(Object.fromEntries(collected.get(METRIC_NAMES.acquireAttempts)!.points)).toEqual(
      ZERO_ACQUIRE_ATTEMPTS,
    );
    expect(Object.fromEntries(collected.get(METRIC_NAMES.gatedRuns)!.points)).toEqual(ZERO_GATED_RUNS);
    expect(Object.fromEntries(collected.get(METRIC_NAMES.isLeader)!.points)).toEqual({ 'lease=jobs': 0 });
  });

  it('uses OpenTelemetry units and instrument kinds: a gauge, counters, and a histogram in seconds', async () => {
    const { candidate } = setup();
    const a = candidate('a');
    const metrics = replicaMetrics();
    instrumentElector(a.elector, metrics.meter());
    await a.elector.start();
    const collected = await metrics.collect();
    const kinds = Object.fromEntries(
      [...collected.values()].map((metric) => [metric.name, `${metric.type} ${metric.unit}`]),
    );
    expect(kinds).toEqual({
      [METRIC_NAMES.isLeader]: 'gauge 1',
      [METRIC_NAMES.transitions]: 'counter {transition}',
      [METRIC_NAMES.storeRequestDuration]: 'histogram s',
      [METRIC_NAMES.renewalFailures]: 'counter {failure}',
      [METRIC_NAMES.acquireAttempts]: 'counter {attempt}',
      [METRIC_NAMES.gatedRuns]: 'counter {run}',
    });
  });

  it('records acquisition, renewals, a renewal outage that ends at the deadline, and the takeover, with exact counts and durations', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    const b = candidate('b');
    const ma = replicaMetrics();
    const mb = replicaMetrics();
    instrumentElector(a.elector, ma.meter());
    instrumentElector(b.elector, mb.meter());

    a.store.inject('observe', { type: 'delay', ms: 40 });
    const starting = a.elector.start();
    await clock.advance(40);
    await starting;
    await b.elector.start();
    expect(await snapshot(ma, METRIC_NAMES.isLeader)).toEqual({ 'lease=jobs': 1 });
    expect(await snapshot(mb, METRIC_NAMES.isLeader)).toEqual({ 'lease=jobs': 0 });
    expect(await snapshot(ma, METRIC_NAMES.transitions)).toEqual({
      ...ZERO_TRANSITIONS,
      'lease=jobs,type=acquired': 1,
    });
    expect(await snapshot(ma, METRIC_NAMES.acquireAttempts)).toEqual({
      ...ZERO_ACQUIRE_ATTEMPTS,
      'lease=jobs,outcome=acquired': 1,
    });
    // The follower never tries to acquire a held lease.
    expect(await snapshot(mb, METRIC_NAMES.acquireAttempts)).toEqual(ZERO_ACQUIRE_ATTEMPTS);
    expect(await snapshot(ma, METRIC_NAMES.storeRequestDuration)).toEqual({
      'lease=jobs,operation=observe,outcome=ok': { count: 1, sum: 0.04 },
      'lease=jobs,operation=acquire,outcome=ok': { count: 1, sum: 0 },
    });

    // Two renewals succeed (at RENEW and 2 × RENEW).
    await clock.advance(2 * RENEW);
    expect(a.store.callsOf('renew')).toHaveLength(2);
    expect(
      (await snapshot(ma, METRIC_NAMES.storeRequestDuration))['lease=jobs,operation=renew,outcome=ok'],
    ).toEqual({ count: 2, sum: 0 });

    // Storage unreachable for a: it retries its renewal until its deadline (last send + D − margin), then steps down.
    for (const operation of ['observe', 'acquire', 'renew', 'release'] as const)
      a.store.always(operation, { type: 'transient' });
    const lastSend = clock.now();
    await clock.advanceTo(lastSend + D - MARGIN + 1);
    expect(a.elector.isLeader()).toBe(false);
    const failedRenewals = a.store.callsOf('renew').filter((call) => call.outcome === 'error').length;
    expect(failedRenewals).toBeGreaterThan(3);
    expect(await snapshot(ma, METRIC_NAMES.renewalFailures)).toEqual({
      ...ZERO_RENEWAL_FAILURES,
      'error.type=transient,lease=jobs': failedRenewals,
    });
    expect(await snapshot(ma, METRIC_NAMES.transitions)).toEqual({
      ...ZERO_TRANSITIONS,
      'lease=jobs,type=acquired': 1,
      'lease=jobs,reason=deadline,type=lost': 1,
    });
    expect(await snapshot(ma, METRIC_NAMES.isLeader)).toEqual({ 'lease=jobs': 0 });
    const durations = await snapshot(ma, METRIC_NAMES.storeRequestDuration);
    expect(durations['error.type=transient,lease=jobs,operation=renew,outcome=error']).toEqual({
      count: failedRenewals,
      sum: 0,
    });

    // The lease expires on the store; b takes over.
    await clock.advance(D);
    expect(b.elector.isLeader()).toBe(true);
    expect(await snapshot(mb, METRIC_NAMES.isLeader)).toEqual({ 'lease=jobs': 1 });
    expect(await snapshot(mb, METRIC_NAMES.transitions)).toEqual({
      ...ZERO_TRANSITIONS,
      'lease=jobs,type=acquired': 1,
    });
    expect(await snapshot(mb, METRIC_NAMES.acquireAttempts)).toEqual({
      ...ZERO_ACQUIRE_ATTEMPTS,
      'lease=jobs,outcome=acquired': 1,
    });
    const bObserves = b.store.callsOf('observe').length;
    expect(
      (await snapshot(mb, METRIC_NAMES.storeRequestDuration))['lease=jobs,operation=observe,outcome=ok'],
    ).toEqual({ count: bObserves, sum: 0 });
  });

  it('counts a definite loss (renew answered "lost") as one renewal failure of error.type lost and a transition lost/lost', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    const metrics = replicaMetrics();
    instrumentElector(a.elector, metrics.meter());
    await a.elector.start();
    a.store.inject('renew', { type: 'lost' });
    await clock.advance(RENEW);
    expect(await snapshot(metrics, METRIC_NAMES.renewalFailures)).toEqual({
      ...ZERO_RENEWAL_FAILURES,
      'error.type=lost,lease=jobs': 1,
    });
    // The fault was in the answer only: the record still names "a", so its next poll acquires again
    // (idempotent, same lease id): a second tenure, counted as such.
    expect(a.elector.state).toMatchObject({ role: 'leader', term: 2 });
    expect(await snapshot(metrics, METRIC_NAMES.transitions)).toEqual({
      ...ZERO_TRANSITIONS,
      'lease=jobs,type=acquired': 2,
      'lease=jobs,reason=lost,type=lost': 1,
    });
    expect(await snapshot(metrics, METRIC_NAMES.acquireAttempts)).toEqual({
      ...ZERO_ACQUIRE_ATTEMPTS,
      'lease=jobs,outcome=acquired': 2,
    });
  });

  it('counts acquire outcomes: held_by_other (lost the race for a free lease), error, acquired', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    const b = candidate('b');
    const ma = replicaMetrics();
    const mb = replicaMetrics();
    instrumentElector(a.elector, ma.meter());
    instrumentElector(b.elector, mb.meter());
    // Both observe the free lease, then both acquire: a's call is first and wins.
    await Promise.all([a.elector.start(), b.elector.start()]);
    expect(await snapshot(ma, METRIC_NAMES.acquireAttempts)).toEqual({
      ...ZERO_ACQUIRE_ATTEMPTS,
      'lease=jobs,outcome=acquired': 1,
    });
    expect(await snapshot(mb, METRIC_NAMES.acquireAttempts)).toEqual({
      ...ZERO_ACQUIRE_ATTEMPTS,
      'lease=jobs,outcome=held_by_other': 1,
    });

    // a steps down (and stays out for one lease duration); b's first acquire fails, its next one succeeds.
    b.store.inject('acquire', { type: 'transient' });
    await a.elector.stepDown();
    await clock.advance(4 * RETRY);
    expect(b.elector.isLeader()).toBe(true);
    expect(await snapshot(mb, METRIC_NAMES.acquireAttempts)).toEqual({
      'lease=jobs,outcome=acquired': 1,
      'lease=jobs,outcome=held_by_other': 1,
      'lease=jobs,outcome=error': 1,
    });
    expect(
      (await snapshot(mb, METRIC_NAMES.storeRequestDuration))[
        'error.type=transient,lease=jobs,operation=acquire,outcome=error'
      ],
    ).toEqual({ count: 1, sum: 0 });
    expect(await snapshot(ma, METRIC_NAMES.transitions)).toEqual({
      ...ZERO_TRANSITIONS,
      'lease=jobs,type=acquired': 1,
      'lease=jobs,reason=step-down,type=lost': 1,
    });
    expect(await snapshot(ma, METRIC_NAMES.isLeader)).toEqual({ 'lease=jobs': 0 });
  });

  it('counts gated runs by outcome and skip reason, with the lease as attribute', async () => {
    const { candidate } = setup();
    const a = candidate('a');
    const metrics = replicaMetrics();
    const recorder = instrumentElector(a.elector, metrics.meter());
    recorder.recordGatedRun('jobs', 'run');
    recorder.recordGatedRun('jobs', 'run');
    recorder.recordGatedRun('jobs', 'skipped', 'not_leader');
    recorder.recordGatedRun('jobs', 'skipped', 'overlap');
    recorder.recordGatedRun('reports', 'skipped', 'shutdown');
    expect(await snapshot(metrics, METRIC_NAMES.gatedRuns)).toEqual({
      ...ZERO_GATED_RUNS,
      'lease=jobs,outcome=run': 2,
      'lease=jobs,outcome=skipped,reason=not_leader': 1,
      'lease=jobs,outcome=skipped,reason=overlap': 1,
      'lease=reports,outcome=run': 0,
      'lease=reports,outcome=skipped,reason=not_leader': 0,
      'lease=reports,outcome=skipped,reason=overlap': 0,
      'lease=reports,outcome=skipped,reason=shutdown': 1,
    });
  });

  it('adds the identity attribute only when includeIdentity is set', async () => {
    const { candidate } = setup();
    const a = candidate('a');
    const b = candidate('b');
    const metrics = replicaMetrics();
    const recorder = new LeaderElectionMetrics(metrics.meter(), { includeIdentity: true });
    recorder.instrument(a.elector);
    recorder.instrument(b.elector);
    await a.elector.start();
    await b.elector.start();
    expect(await snapshot(metrics, METRIC_NAMES.isLeader)).toEqual({
      'identity=a,lease=jobs': 1,
      'identity=b,lease=jobs': 0,
    });
    expect((await snapshot(metrics, METRIC_NAMES.transitions))['identity=a,lease=jobs,type=acquired']).toBe(
      1,
    );
    expect(recorder.leaseNames).toEqual(['jobs', 'jobs']);
  });

  it('records a stop as transition lost/stopped and is_leader 0, then stops recording that elector; dispose() ends all recording', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    const b = candidate('b', { leaseName: 'other' });
    const metrics = replicaMetrics();
    const recorder = new LeaderElectionMetrics(metrics.meter());
    recorder.instrument(a.elector);
    recorder.instrument(b.elector);
    await a.elector.start();
    await b.elector.start();
    expect(await snapshot(metrics, METRIC_NAMES.isLeader)).toEqual({ 'lease=jobs': 1, 'lease=other': 1 });
    await a.elector.stop();
    expect(recorder.leaseNames).toEqual(['other']);
    expect((await snapshot(metrics, METRIC_NAMES.transitions))['lease=jobs,reason=stopped,type=lost']).toBe(
      1,
    );
    expect(await snapshot(metrics, METRIC_NAMES.isLeader)).toEqual({ 'lease=jobs': 0, 'lease=other': 1 });

    recorder.dispose();
    const renewalsBefore = (await snapshot(metrics, METRIC_NAMES.storeRequestDuration))[
      'lease=other,operation=renew,outcome=ok'
    ];
    await clock.advance(3 * RENEW);
    expect(b.store.callsOf('renew').length).toBeGreaterThanOrEqual(3);
    expect(
      (await snapshot(metrics, METRIC_NAMES.storeRequestDuration))['lease=other,operation=renew,outcome=ok'],
    ).toEqual(renewalsBefore);
    expect(recorder.leaseNames).toEqual([]);
    expect(() => recorder.instrument(a.elector)).toThrow(/disposed/);
  });

  it('never lets a failing meter break the election', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    const explode = (): never => {
      throw new Error('meter broke');
    };
    const broken: MetricsMeter = {
      createCounter: () => ({ add: explode }),
      createHistogram: () => ({ record: explode }),
      createGauge: () => ({ record: explode }),
    };
    const recorder = instrumentElector(a.elector, broken);
    await a.elector.start();
    await clock.advance(3 * RENEW);
    expect(a.elector.isLeader()).toBe(true);
    expect(a.store.callsOf('renew')).toHaveLength(3);
    recorder.recordGatedRun('jobs', 'run');
    expect(() => recorder.dispose()).not.toThrow();
  });
});

describe('lib/metrics', () => {
  it('imports no Nest, no Azure, and nothing from @opentelemetry statically (an app without it must load the library)', () => {
    const dir = join(process.cwd(), 'lib', 'metrics');
    const offending = readdirSync(dir)
      .filter((file) => file.endsWith('.ts'))
      .flatMap((file) =>
        [...readFileSync(join(dir, file), 'utf8').matchAll(/^\s*import\s+(?!type\b)[^;]*?from\s+'([^']+)'/gm)]
          .map((match) => match[1]!)
          .filter((specifier) => /^@nestjs\/|^@azure\/|^@opentelemetry\//.test(specifier))
          .map((specifier) => `${file}: ${specifier}`),
      );
    expect(offending).toEqual([]);
    expect(readFileSync(join(dir, 'leader-election-metrics.ts'), 'utf8')).not.toMatch(
      /from '@nestjs|from '@azure/,
    );
  });
});
