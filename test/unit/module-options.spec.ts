import { describe, expect, it } from '@jest/globals';
import { InvalidElectionOptionError } from '../../lib/core/election-options.js';
import { resolveLeaderElectionOptions } from '../../lib/nest/leader-election-options.resolver.js';
import type { LeaderElectionModuleOptions } from '../../lib/nest/interfaces/leader-election-options.interface.js';
import { MemoryLeaseStore } from '../../lib/stores/memory/memory-lease-store.js';

const store = new MemoryLeaseStore();

function errorFor(overrides: Record<string, unknown>): InvalidElectionOptionError {
  try {
    resolveLeaderElectionOptions({ store, ...overrides } as LeaderElectionModuleOptions);
  } catch (error) {
    if (error instanceof InvalidElectionOptionError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(overrides)} to be rejected`);
}

describe('resolveLeaderElectionOptions (module options)', () => {
  it('accepts the edges: timeouts of 0 and of 2^31 − 1 ms, createIfMissing false, a Nest-like logger', () => {
    const logger = { log: () => undefined, warn: () => undefined, error: () => undefined };
    const resolved = resolveLeaderElectionOptions({
      store,
      shutdownTimeoutMs: 0,
      startupTimeoutMs: 2 ** 31 - 1,
      createIfMissing: false,
      logger,
    });
    expect(resolved.shutdownTimeoutMs).toBe(0);
    expect(resolved.startupTimeoutMs).toBe(2 ** 31 - 1);
  });

  const invalid: Array<[string, Record<string, unknown>, string, RegExp]> = [
    [
      'a shutdown timeout beyond Node’s timer limit',
      { shutdownTimeoutMs: 2 ** 31 },
      'shutdownTimeoutMs',
      /from 0 to 2147483647/,
    ],
    ['a negative startup timeout', { startupTimeoutMs: -1 }, 'startupTimeoutMs', /from 0 to 2147483647/],
    [
      'an infinite health outage bound',
      { healthStoreOutageMs: Infinity },
      'healthStoreOutageMs',
      /from 0 to 2147483647/,
    ],
    [
      'createIfMissing as a string other than "true"/"false"',
      { createIfMissing: 'no' },
      'createIfMissing',
      /true or false/,
    ],
    ['releaseOnShutdown as a string', { releaseOnShutdown: 'yes' }, 'releaseOnShutdown', /true or false/],
    [
      'null shutdown timeout (an unset config value)',
      { shutdownTimeoutMs: null },
      'shutdownTimeoutMs',
      /leave the option out/,
    ],
    ['null lease duration', { leaseDurationSeconds: null }, 'leaseDurationSeconds', /leave the option out/],
    ['null releaseOnShutdown', { releaseOnShutdown: null }, 'releaseOnShutdown', /leave the option out/],
    ['null identity', { identity: null }, 'identity', /leave the option out/],
    [
      'a logger without error()',
      { logger: { log: () => undefined, warn: () => undefined } },
      'logger',
      /log, warn and error/,
    ],
    [
      'a logger without log()',
      { logger: { warn: () => undefined, error: () => undefined } },
      'logger',
      /log, warn and error/,
    ],
    ['a lease name with a .. segment', { leaseName: 'a/../b' }, 'leaseName', /'\.\.' path segment/],
  ];

  it.each(invalid)(
    'rejects %s, naming the option and what is allowed',
    (_label, overrides, option, allowed) => {
      const error = errorFor(overrides);
      expect(error.option).toBe(option);
      expect(error.message).toContain(`"${option}"`);
      expect(error.message).toMatch(allowed);
    },
  );
});

describe('default identity', () => {
  it('is unique per app start: two apps in one process (or two containers with pid 1 on one host) never share it', async () => {
    const { resolveLeaderElectionOptions } =
      await import('../../lib/nest/leader-election-options.resolver.js');
    const { MemoryLeaseStore } = await import('../../lib/stores/memory/memory-lease-store.js');
    const { hostname } = await import('node:os');
    const first = resolveLeaderElectionOptions({ store: new MemoryLeaseStore() }).identity;
    const second = resolveLeaderElectionOptions({ store: new MemoryLeaseStore() }).identity;
    expect(first).not.toBe(second);
    expect(first).toMatch(
      new RegExp(`^${hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-${process.pid}-[0-9a-f]{6}$`),
    );
  });
});
