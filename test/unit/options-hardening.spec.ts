import { inspect } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { BlobServiceClient, ContainerClient } from '@azure/storage-blob';
import {
  InvalidElectionOptionError,
  resolveElectionOptions,
  validateIdentity,
  validateLeaseName,
  type ElectionOptions,
} from '../../lib/core/election-options.js';
import { resolveLeaderElectionOptions } from '../../lib/nest/leader-election-options.resolver.js';
import type { LeaderElectionModuleOptions } from '../../lib/nest/interfaces/leader-election-options.interface.js';
import { MemoryLeaseStore } from '../../lib/stores/memory/memory-lease-store.js';

// Issue 14 items 8, 10, 16, 17 and issue 7 item 3: unknown keys, values never carried as objects,
// well-formed identities, "__proto__" lease names, numbers and booleans from the environment.

const store = new MemoryLeaseStore();
const base: ElectionOptions = { leaseName: 'jobs', identity: 'replica-a' };
const KEY = 'c2VjcmV0LWFjY291bnQta2V5LXRoYXQtbXVzdC1uZXZlci1sZWFr';
const SIG = 'sIgNaTuRe%2Bmust%2Fnot%2Bleak%3D';

function thrown(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

function coreError(overrides: Record<string, unknown>): InvalidElectionOptionError {
  const error = thrown(() => resolveElectionOptions({ ...base, ...overrides } as ElectionOptions));
  expect(error).toBeInstanceOf(InvalidElectionOptionError);
  return error as InvalidElectionOptionError;
}

function moduleError(overrides: Record<string, unknown>): InvalidElectionOptionError {
  const error = thrown(() =>
    resolveLeaderElectionOptions({ store, ...overrides } as LeaderElectionModuleOptions),
  );
  expect(error).toBeInstanceOf(InvalidElectionOptionError);
  return error as InvalidElectionOptionError;
}

/** Everything Nest, a logger or a JSON serialiser could print of an error. */
function everything(error: unknown): string {
  return `${String(error)}\n${(error as Error).stack}\n${inspect(error, { depth: 8 })}\n${JSON.stringify(error)}`;
}

describe('unknown option keys (issue 14, item 8)', () => {
  it('refuses a typo in the module options, naming the key and the nearest valid option', () => {
    const error = moduleError({ leaseDurationSecond: 30 });
    expect(error.option).toBe('leaseDurationSecond');
    expect(error.message).toContain('"leaseDurationSecond"');
    expect(error.message).toContain('did you mean "leaseDurationSeconds"?');
  });

  it('suggests across case and small slips', () => {
    expect(moduleError({ RetryIntervalMS: 500 }).message).toContain('did you mean "retryIntervalMs"?');
    expect(moduleError({ conectionString: 'x' }).message).toContain('did you mean "connectionString"?');
    expect(moduleError({ healthDetail: 'full' }).message).toContain('did you mean "healthDetails"?');
  });

  it('lists the valid options when nothing is close', () => {
    const error = moduleError({ somethingElseEntirely: true });
    expect(error.message).toMatch(
      /allowed: a known LeaderElectionModule option: connectionString, accountUrl, .*logger/,
    );
  });

  it('refuses unknown keys in the core ElectionOptions too', () => {
    const error = coreError({ safetyMargin: 500 });
    expect(error.option).toBe('safetyMargin');
    expect(error.message).toContain('did you mean "safetyMarginMs"?');
  });

  it('still accepts every documented key', () => {
    expect(() =>
      resolveLeaderElectionOptions({
        store,
        leaseName: 'x',
        identity: 'me',
        leaseDurationSeconds: 20,
        renewIntervalMs: 5000,
        retryIntervalMs: 1000,
        retryJitter: 0.1,
        safetyMarginMs: 1000,
        requestTimeoutMs: 2000,
        renewRetryIntervalMs: 500,
        maxErrorBackoffMs: 10_000,
        releaseOnShutdown: true,
        shutdownTimeoutMs: 1,
        startupTimeoutMs: 1,
        healthStoreOutageMs: 1,
        healthDetails: 'full',
        logger: false,
        createIfMissing: true,
      }),
    ).not.toThrow();
    // containerName applies to a connection string or accountUrl only (beside a store it is refused).
    expect(() =>
      resolveLeaderElectionOptions({
        connectionString: 'UseDevelopmentStorage=true',
        containerName: 'abc',
        logger: false,
      }),
    ).not.toThrow();
  });
});

describe('errors never carry object values (issue 14, item 10)', () => {
  const sasClient = new ContainerClient(
    `https://acct.blob.core.windows.net/locks?sv=2024-08-04&sp=rwc&sig=${SIG}`,
  );
  const keyClient = BlobServiceClient.fromConnectionString(
    `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${KEY};EndpointSuffix=core.windows.net`,
  ).getContainerClient('locks');

  it.each([
    ['a SAS ContainerClient given as store', { store: sasClient }, 'store'],
    ['a shared-key ContainerClient given as store', { store: keyClient }, 'store'],
  ])('%s: described by type, no SAS signature or key anywhere', (_label, overrides, option) => {
    const error = thrown(() =>
      resolveLeaderElectionOptions(overrides as unknown as LeaderElectionModuleOptions),
    ) as InvalidElectionOptionError;
    expect(error).toBeInstanceOf(InvalidElectionOptionError);
    expect(error.option).toBe(option);
    expect(error.value).toBeUndefined();
    expect(error.valueType).toBe('object (ContainerClient)');
    expect(error.message).toContain('got an object (ContainerClient)');
    expect(everything(error)).not.toContain(SIG);
    expect(everything(error)).not.toContain('sig=');
    expect(everything(error)).not.toContain(KEY);
  });

  it('a broken logger is described by type, not carried', () => {
    const logger = { log: () => undefined, warn: () => undefined, token: `Bearer ${KEY}` };
    const error = moduleError({ logger });
    expect(error.option).toBe('logger');
    expect(error.value).toBeUndefined();
    expect(error.valueType).toBe('object');
    expect(everything(error)).not.toContain(KEY);
  });

  it('a containerClient that is not one is refused at boot by type (it used to be accepted)', () => {
    const error = thrown(() =>
      resolveLeaderElectionOptions({
        containerClient: { url: `https://acct.blob.core.windows.net/c?sig=${SIG}`, key: KEY },
      } as unknown as LeaderElectionModuleOptions),
    ) as InvalidElectionOptionError;
    expect(error).toBeInstanceOf(InvalidElectionOptionError);
    expect(error.option).toBe('containerClient');
    expect(error.value).toBeUndefined();
    expect(everything(error)).not.toContain(SIG);
    expect(everything(error)).not.toContain(KEY);
  });

  it('a credential without getToken is refused as an option error described by type', () => {
    const error = thrown(() =>
      resolveLeaderElectionOptions({
        accountUrl: 'https://acct.blob.core.windows.net',
        credential: { token: KEY },
      } as unknown as LeaderElectionModuleOptions),
    ) as InvalidElectionOptionError;
    expect(error).toBeInstanceOf(InvalidElectionOptionError);
    expect(error.option).toBe('credential');
    expect(error.valueType).toBe('object');
    expect(everything(error)).not.toContain(KEY);
  });

  it('an object where a string belongs is described by type in the core too', () => {
    const error = coreError({ identity: { secret: KEY } });
    expect(error.value).toBeUndefined();
    expect(error.valueType).toBe('object');
    expect(error.message).toContain('got an object');
    expect(everything(error)).not.toContain(KEY);
  });

  it('a string that looks like a credential is not echoed, even truncated', () => {
    const error = coreError({ identity: `AccountName=acct;AccountKey=${KEY}\n` });
    expect(everything(error)).not.toContain(KEY.slice(0, 20));
    expect(error.message).toContain('looks like a credential');
  });

  it('long strings are truncated in the message and in value', () => {
    const error = coreError({ leaseName: `bad name ${'x'.repeat(500)}` });
    expect((error.value as string).length).toBeLessThanOrEqual(81);
    expect(error.message.length).toBeLessThan(500);
  });
});

describe('identities must be well-formed (issue 14, item 16)', () => {
  it('refuses a lone surrogate, e.g. a pod name sliced through an emoji', () => {
    const identity = `${'x'.repeat(255)}😀`.slice(0, 256);
    const error = thrown(() => validateIdentity(identity)) as InvalidElectionOptionError;
    expect(error).toBeInstanceOf(InvalidElectionOptionError);
    expect(error.option).toBe('identity');
    expect(error.message).toMatch(/lone UTF-16 surrogate/);
    expect(() => validateIdentity('pod-\uDC00-x')).toThrow(InvalidElectionOptionError);
  });

  it('refuses control characters and ANSI escapes, not just line breaks', () => {
    for (const identity of [
      'a\u001b[31mred',
      'tab\there',
      'nul\u0000',
      'del\u007f',
      'c1\u0085',
      'bidi\u202eevil',
    ]) {
      const error = thrown(() => validateIdentity(identity)) as InvalidElectionOptionError;
      expect(error).toBeInstanceOf(InvalidElectionOptionError);
      expect(error.message).toMatch(/control or bidirectional-override character/);
    }
  });

  it('accepts whole emoji and other non-ASCII text', () => {
    expect(validateIdentity('pod-😀-ü-東京')).toBe('pod-😀-ü-東京');
    expect(resolveLeaderElectionOptions({ store, identity: `${'x'.repeat(254)}😀` }).identity).toHaveLength(
      256,
    );
  });
});

describe('lease names that plain objects cannot hold (issue 14, item 17)', () => {
  it('refuses "__proto__" everywhere a lease name is validated', () => {
    expect(() => validateLeaseName('__proto__')).toThrow(/not "__proto__"/);
    expect(moduleError({ leaseName: '__proto__' }).option).toBe('leaseName');
    expect(coreError({ leaseName: '__proto__' }).option).toBe('leaseName');
  });

  it('still accepts other names that happen to be Object.prototype members', () => {
    expect(validateLeaseName('constructor')).toBe('constructor');
    expect(validateLeaseName('__proto__x')).toBe('__proto__x');
  });
});

describe('options from the environment (issue 7, item 3)', () => {
  it('reads plain decimal strings as numbers for every numeric option', () => {
    const resolved = resolveLeaderElectionOptions({
      store,
      leaseDurationSeconds: '30',
      renewIntervalMs: '8000',
      retryIntervalMs: '500',
      retryJitter: '0.1',
      safetyMarginMs: '0',
      requestTimeoutMs: '3000',
      renewRetryIntervalMs: '250',
      maxErrorBackoffMs: '60000',
      shutdownTimeoutMs: '2500',
      startupTimeoutMs: '1000',
      healthStoreOutageMs: '90000',
    } as unknown as LeaderElectionModuleOptions);
    expect(resolved.election).toMatchObject({
      leaseDurationSeconds: 30,
      leaseDurationMs: 30_000,
      renewIntervalMs: 8000,
      retryIntervalMs: 500,
      retryJitter: 0.1,
      safetyMarginMs: 0,
      requestTimeoutMs: 3000,
      renewRetryIntervalMs: 250,
      maxErrorBackoffMs: 60_000,
    });
    expect(resolved.timings.leaseDurationSeconds).toBe(30); // what each lease's elector is built from
    expect(resolved).toMatchObject({
      shutdownTimeoutMs: 2500,
      startupTimeoutMs: 1000,
      healthStoreOutageMs: 90_000,
    });
    expect(
      resolveElectionOptions({ ...base, leaseDurationSeconds: '20' } as unknown as ElectionOptions)
        .leaseDurationMs,
    ).toBe(20_000);
  });

  it.each(['15s', '', ' 15', '15 ', 'abc', '0x10', '1e3', '+15', 'Infinity', '1_000', '15.'])(
    'refuses %j for a numeric option, naming it and saying which strings are accepted',
    (value) => {
      const error = moduleError({ leaseDurationSeconds: value });
      expect(error.option).toBe('leaseDurationSeconds');
      expect(error.message).toContain(`got ${JSON.stringify(value)}`);
      expect(error.message).toContain('a plain decimal string such as "15" is accepted too');
      expect(moduleError({ shutdownTimeoutMs: value }).option).toBe('shutdownTimeoutMs');
      expect(coreError({ retryIntervalMs: value }).option).toBe('retryIntervalMs');
    },
  );

  it('range checks still apply to numbers given as strings', () => {
    expect(moduleError({ leaseDurationSeconds: '90' }).message).toContain('got 90');
    expect(moduleError({ leaseDurationSeconds: '15.5' }).message).toMatch(/whole number/);
  });

  it('reads "true" and "false" for boolean options, and refuses other strings', () => {
    expect(
      resolveLeaderElectionOptions({
        store,
        releaseOnShutdown: 'false',
      } as unknown as LeaderElectionModuleOptions).releaseOnShutdown,
    ).toBe(false);
    const withContainer = resolveLeaderElectionOptions({
      connectionString: process.env.AZURITE_CONNECTION_STRING ?? 'UseDevelopmentStorage=true',
      createIfMissing: 'false',
    } as unknown as LeaderElectionModuleOptions);
    expect((withContainer.store as unknown as { createIfMissing: boolean }).createIfMissing).toBe(false);
    for (const value of ['yes', 'False', 'TRUE', '1', '']) {
      expect(moduleError({ releaseOnShutdown: value }).message).toMatch(/true or false/);
      expect(moduleError({ createIfMissing: value }).option).toBe('createIfMissing');
    }
  });
});
