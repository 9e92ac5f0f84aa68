import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReplicaProcess, SAMPLE_APP_MAIN, waitForLeader } from '../../sample-app/demo/replica-process.js';
import { freePort } from '../support/azurite.mjs';

// Two sample-app replicas as real processes on the shared Azurite, scraped at GET /metrics the way
// Prometheus does (the OpenTelemetry Prometheus exporter's text format). npm test builds them first
// with `npm run build:apps`.

/** Parses Prometheus text: `name{labels}` (labels in scrape order, otel_scope_name dropped) → value. */
function parse(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels = (match[2] ?? '')
      .split(/,(?=[a-zA-Z_]+=")/)
      .filter((label) => label !== '' && !label.startsWith('otel_scope_name='))
      .join(',');
    samples.set(labels ? `${match[1]}{${labels}}` : match[1]!, Number(match[3]));
  }
  return samples;
}

async function scrape(replica: ReplicaProcess): Promise<{ text: string; samples: Map<string, number> }> {
  const response = await fetch(`http://127.0.0.1:${replica.port}/metrics`, {
    signal: AbortSignal.timeout(5_000),
  });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  const text = await response.text();
  return { text, samples: parse(text) };
}

async function eventually(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('sample app GET /metrics (Prometheus exporter), two replicas', () => {
  let replicas: ReplicaProcess[] = [];

  beforeAll(async () => {
    if (!existsSync(SAMPLE_APP_MAIN))
      throw new Error(`${SAMPLE_APP_MAIN} is missing: run "npm run build:apps" first (npm test does)`);
    const logDir = mkdtempSync(join(tmpdir(), 'leader-metrics-e2e-'));
    const env = {
      AZURE_STORAGE_CONNECTION_STRING: process.env.AZURITE_CONNECTION_STRING!,
      LEASE_CONTAINER: `e2e-metrics-${process.pid}`,
      RETRY_INTERVAL_MS: '300',
    };
    replicas = await Promise.all(
      ['m1', 'm2'].map(
        async (id) => new ReplicaProcess(id, await freePort(), env, join(logDir, `${id}.log`)),
      ),
    );
    await Promise.all(replicas.map((replica) => replica.start()));
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled(replicas.map((replica) => replica.kill()));
  });

  it('shows exactly one leader per lease across the replicas (sum by lease of leader_election_is_leader is 1)', async () => {
    const { leader } = await waitForLeader(replicas, { timeoutMs: 10_000 });
    await waitForLeader(replicas, { leaseName: 'billing', timeoutMs: 10_000 });
    const scrapes = await Promise.all(replicas.map(scrape));
    for (const lease of ['leader', 'billing']) {
      const values = scrapes.map(({ samples }) => samples.get(`leader_election_is_leader{lease="${lease}"}`));
      expect(values.slice().sort()).toEqual([0, 1]);
    }
    const leaderScrape = scrapes[replicas.indexOf(leader)]!;
    expect(leaderScrape.text).toContain('# TYPE leader_election_is_leader gauge');
    expect(
      leaderScrape.samples.get('leader_election_transitions_total{lease="leader",type="acquired"}'),
    ).toBe(1);
    expect(
      leaderScrape.samples.get('leader_election_acquire_attempts_total{lease="leader",outcome="acquired"}'),
    ).toBe(1);
  }, 30_000);

  it('exposes every metric under its Prometheus name, with pre-registered zeros, counters as _total and the duration histogram in seconds', async () => {
    const { leader } = await waitForLeader(replicas, { timeoutMs: 10_000 });
    const follower = replicas.find((replica) => replica !== leader)!;
    const { text, samples } = await scrape(leader);
    for (const type of [
      '# TYPE leader_election_is_leader gauge',
      '# TYPE leader_election_transitions_total counter',
      '# TYPE leader_election_store_request_duration histogram',
      '# UNIT leader_election_store_request_duration s',
      '# TYPE leader_election_renewal_failures_total counter',
      '# TYPE leader_election_acquire_attempts_total counter',
      '# TYPE leader_election_gated_runs_total counter',
    ]) {
      expect(text).toContain(type);
    }
    // Series nobody has touched yet are there, at 0.
    expect(
      samples.get('leader_election_transitions_total{lease="leader",type="lost",reason="deadline"}'),
    ).toBe(0);
    expect(samples.get('leader_election_renewal_failures_total{lease="leader",error_type="transient"}')).toBe(
      0,
    );
    expect(
      samples.get('leader_election_gated_runs_total{lease="leader",outcome="skipped",reason="overlap"}'),
    ).toBe(0);
    // Store calls against Azurite, in seconds: the buckets end with +Inf = count.
    const count = samples.get(
      'leader_election_store_request_duration_count{lease="leader",operation="observe",outcome="ok"}',
    );
    expect(count).toBeGreaterThanOrEqual(1);
    expect(
      samples.get(
        'leader_election_store_request_duration_bucket{lease="leader",operation="observe",outcome="ok",le="+Inf"}',
      ),
    ).toBe(count);

    // The 2-second @LeaderOnly heartbeat runs on the leader and is skipped on the follower.
    await eventually(
      async () =>
        ((await scrape(leader)).samples.get(
          'leader_election_gated_runs_total{lease="leader",outcome="run"}',
        ) ?? 0) >= 1,
      15_000,
    );
    await eventually(
      async () =>
        ((await scrape(follower)).samples.get(
          'leader_election_gated_runs_total{lease="leader",outcome="skipped",reason="not_leader"}',
        ) ?? 0) >= 1,
      15_000,
    );
    expect(
      (await scrape(follower)).samples.get('leader_election_gated_runs_total{lease="leader",outcome="run"}'),
    ).toBe(0);
  }, 60_000);

  it('after a graceful stop of the leader, the other replica reports is_leader 1 and one more acquired transition', async () => {
    const before = await waitForLeader(replicas, { timeoutMs: 10_000 });
    const other = replicas.find((replica) => replica !== before.leader)!;
    const acquiredBefore = (await scrape(other)).samples.get(
      'leader_election_transitions_total{lease="leader",type="acquired"}',
    )!;
    await before.leader.stop();
    await waitForLeader([other], { timeoutMs: 15_000 });
    const { samples } = await scrape(other);
    expect(samples.get('leader_election_is_leader{lease="leader"}')).toBe(1);
    expect(samples.get('leader_election_transitions_total{lease="leader",type="acquired"}')).toBe(
      acquiredBefore + 1,
    );
  }, 60_000);
});
