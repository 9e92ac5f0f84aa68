import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { METRIC_NAMES } from '../../lib/metrics/metric-names.js';

// docs/metrics.md names every metric and carries the alert rules that
// docs/prometheus/leader-election.rules.yml holds (checked there with promtool test rules).

const root = process.cwd();
const metricsSection = readFileSync(join(root, 'docs', 'metrics.md'), 'utf8');

/** Names as @opentelemetry/exporter-prometheus shows them (test/e2e/sample-app-metrics.e2e.spec.ts scrapes them). */
const PROMETHEUS_NAMES: Record<keyof typeof METRIC_NAMES, string> = {
  isLeader: 'leader_election_is_leader',
  transitions: 'leader_election_transitions_total',
  storeRequestDuration: 'leader_election_store_request_duration_bucket',
  renewalFailures: 'leader_election_renewal_failures_total',
  acquireAttempts: 'leader_election_acquire_attempts_total',
  gatedRuns: 'leader_election_gated_runs_total',
};

describe('docs/metrics.md', () => {
  it('names every metric, as OpenTelemetry and as Prometheus names it', () => {
    expect(metricsSection.length).toBeGreaterThan(1000);
    for (const key of Object.keys(METRIC_NAMES) as Array<keyof typeof METRIC_NAMES>) {
      expect([
        key,
        metricsSection.includes(`\`${METRIC_NAMES[key]}\``),
        metricsSection.includes(`\`${PROMETHEUS_NAMES[key]}`),
      ]).toEqual([key, true, true]);
    }
  });

  it('shows the alert rules of docs/prometheus/leader-election.rules.yml, unchanged', () => {
    const block = /```yaml\n(groups:[\s\S]*?)```/.exec(metricsSection)?.[1];
    const file = readFileSync(join(root, 'docs', 'prometheus', 'leader-election.rules.yml'), 'utf8')
      .split('\n')
      .filter((line) => !line.startsWith('#'))
      .join('\n');
    expect(block).toBeDefined();
    expect(block).toBe(file);
    expect(block).toContain('sum by (job, lease) (leader_election_is_leader) == 0');
  });
});
