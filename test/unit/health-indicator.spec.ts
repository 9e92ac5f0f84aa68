import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import type { LeadershipState } from '../../lib/core/leader-elector.js';
import { LeaderElectionHealthIndicator } from '../../lib/nest/health/leader-election.health-indicator.js';
import type { ResolvedLeaderElectionOptions } from '../../lib/nest/leader-election-options.resolver.js';
import type { LeaderElectionService } from '../../lib/nest/leader-election.service.js';

// Issue 14 items 14 and 17, issue 7 item 4: what health shows by default, every lease shown, and a
// replica stuck on a permanent storage error not shown as a healthy follower.

const NOW = Date.parse('2026-01-01T00:00:00Z');

function state(overrides: Partial<LeadershipState> = {}): LeadershipState {
  return {
    leaseName: 'leader',
    identity: 'web-7f9c-host-1234',
    role: 'follower',
    leader: 'web-7f9c-host-9999',
    term: 4,
    since: NOW - 60_000,
    lastStoreContactAt: NOW - 1000,
    consecutiveFailures: 0,
    ...overrides,
  };
}

function indicator(
  states: Record<string, LeadershipState>,
  healthDetails?: 'minimal' | 'full',
): LeaderElectionHealthIndicator {
  const service = {
    leaseNames: Object.keys(states),
    lastKnownMembers: () => undefined,
    getState: (name?: string) => states[name ?? 'leader']!,
  } as unknown as LeaderElectionService;
  const options = {
    healthStoreOutageMs: 45_000,
    ...(healthDetails ? { healthDetails } : {}),
  } as ResolvedLeaderElectionOptions;
  return new LeaderElectionHealthIndicator(service, options);
}

const transientError = {
  kind: 'transient' as const,
  message:
    'observe of lease "leader" on azure-blob https://prodaccount.blob.core.windows.net/leader-election failed: HTTP 503 ServerBusy',
  code: 'ServerBusy',
  at: NOW - 500,
};

describe('health details (issue 14, item 14)', () => {
  it('by default shows only status, leaseName, role and term: no host names, storage URLs or error messages', () => {
    const details = indicator({
      leader: state({ lastError: transientError, consecutiveFailures: 1 }),
    }).details(undefined, NOW);
    expect(details).toEqual({ status: 'up', leaseName: 'leader', role: 'follower', term: 4 });
    const text = JSON.stringify(details);
    expect(text).not.toContain('host');
    expect(text).not.toContain('prodaccount');
    expect(text).not.toContain('ServerBusy');
  });

  it('with healthDetails "full" shows identity, leader, last contact and the last error', () => {
    const details = indicator(
      { leader: state({ lastError: transientError, consecutiveFailures: 1 }) },
      'full',
    ).details(undefined, NOW);
    expect(details).toMatchObject({
      status: 'up',
      identity: 'web-7f9c-host-1234',
      leader: 'web-7f9c-host-9999',
      term: 4,
      lastStoreContactAt: new Date(NOW - 1000).toISOString(),
      lastError: { kind: 'transient', code: 'ServerBusy', message: transientError.message },
    });
  });

  it('"full" shows a foreign leader identity sanitised and capped (as a custom store might report it)', () => {
    const leader = `evil\u001b[31m\nFAKE LOG LINE ${'x'.repeat(1000)}`;
    const details = indicator({ leader: state({ leader }) }, 'full').details(undefined, NOW);
    expect([...details.leader!].some((char) => char.charCodeAt(0) < 0x20)).toBe(false);
    expect(details.leader!.length).toBeLessThanOrEqual(256);
    expect(details.leader!.startsWith('evilFAKE LOG LINE')).toBe(true);
  });

  it('down for a storage outage keeps the minimal shape plus a reason', () => {
    const details = indicator({
      leader: state({ lastStoreContactAt: NOW - 60_000, consecutiveFailures: 20, lastError: transientError }),
    }).details(undefined, NOW);
    expect(details).toEqual({
      status: 'down',
      leaseName: 'leader',
      role: 'follower',
      term: 4,
      reason: 'lease store unreachable for 60 s (limit 45 s)',
    });
  });
});

describe('a permanent storage error is not a healthy follower (issue 7, item 4)', () => {
  const permanent = {
    kind: 'permanent' as const,
    message:
      'observe of lease "leader" on azure-blob http://127.0.0.1:10000/devstoreaccount1/leader-election failed: HTTP 400 InvalidHeaderValue (likely cause: …)',
    code: 'InvalidHeaderValue',
    at: NOW - 100,
  };

  it('reports down from the first permanent error on, with its code, long before the outage bound', () => {
    const details = indicator({
      leader: state({
        leader: undefined,
        term: undefined,
        lastStoreContactAt: undefined,
        consecutiveFailures: 1,
        lastError: permanent,
      }),
    }).details(undefined, NOW);
    expect(details.status).toBe('down');
    expect(details.errorCode).toBe('InvalidHeaderValue');
    expect(details.reason).toMatch(
      /permanent storage error \(InvalidHeaderValue\): this replica cannot lead until the storage configuration is fixed/,
    );
    expect(JSON.stringify(details)).not.toContain('127.0.0.1');
  });

  it('is up again once a storage request succeeds (lastError cleared)', () => {
    expect(indicator({ leader: state() }).details(undefined, NOW).status).toBe('up');
  });

  it('"full" adds the message with its hint', () => {
    const details = indicator(
      { leader: state({ consecutiveFailures: 3, lastError: permanent }) },
      'full',
    ).details(undefined, NOW);
    expect(details.status).toBe('down');
    expect(details.lastError?.message).toContain('InvalidHeaderValue');
  });
});

describe('isHealthyAll shows every lease (issue 14, item 17)', () => {
  it('keeps names that are Object.prototype members as own keys', () => {
    const names = ['leader', '__proto__', 'constructor', 'toString'];
    const states = Object.fromEntries(
      names.map((name) => [
        name,
        state({
          leaseName: name,
          lastError: { ...transientError, kind: 'permanent' },
          consecutiveFailures: 1,
        }),
      ]),
    );
    const all = indicator(states).isHealthyAll();
    expect(Object.keys(all).sort()).toEqual([...names].sort());
    expect(Object.getPrototypeOf(all)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(all, '__proto__')?.value).toMatchObject({
      status: 'down',
      leaseName: '__proto__',
    });
    expect(JSON.parse(JSON.stringify(all))).toHaveProperty(['__proto__', 'status'], 'down');
  });
});

describe('store outage measured by failed requests, not by silence (issue 13, suspicion)', () => {
  it('stays up during a long step-down cooldown after one failed request (no requests, so no growing outage); down once failures keep coming past the bound', () => {
    const quiet = state({
      lastStoreContactAt: NOW - 10 * 60_000,
      lastError: { ...transientError, at: NOW - 10 * 60_000 + 2_000 },
      consecutiveFailures: 1,
    });
    expect(indicator({ leader: quiet }).details(undefined, NOW).status).toBe('up');
    const failing = state({
      lastStoreContactAt: NOW - 60_000,
      lastError: { ...transientError, at: NOW - 500 },
      consecutiveFailures: 20,
    });
    expect(indicator({ leader: failing }).details(undefined, NOW)).toMatchObject({
      status: 'down',
      reason: expect.stringMatching(/unreachable for 60 s/),
    });
  });
});
