import { describe, expect, it, jest } from '@jest/globals';
import { BlobServiceClient } from '@azure/storage-blob';
import { InvalidElectionOptionError } from '../../lib/core/election-options.js';
import { resolveLeaderElectionOptions } from '../../lib/nest/leader-election-options.resolver.js';
import type { LeaderElectionModuleOptions } from '../../lib/nest/interfaces/leader-election-options.interface.js';
import { RenewalThread } from '../../lib/renewal/renewal-thread.js';
import {
  TokenRelay,
  STORAGE_SCOPE,
  TOKEN_RETRY_MS,
  tokenCoverMs,
  type RelayedToken,
} from '../../lib/renewal/token-relay.js';
import { MemoryLeaseStore } from '../../lib/stores/memory/memory-lease-store.js';
import { RecordingLogger } from '../support/recording-logger.js';

// Issue 11: which storage settings can renew from a worker thread, how the renewalThread option is
// validated, and when a TokenCredential's tokens are handed to the thread.

const CONNECTION =
  'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5LWtleS1rZXk=;BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;';
const credential = { getToken: async () => ({ token: 'tkn', expiresOnTimestamp: Date.now() + 3_600_000 }) };

function resolveThread(options: Partial<LeaderElectionModuleOptions>) {
  return resolveLeaderElectionOptions(options as LeaderElectionModuleOptions).renewalThread;
}

function thrown(action: () => unknown): Error {
  try {
    action();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

describe('renewalThread option', () => {
  it('is off by default and with false', () => {
    expect(resolveThread({ connectionString: CONNECTION })).toBeUndefined();
    expect(resolveThread({ connectionString: CONNECTION, renewalThread: false })).toBeUndefined();
  });

  it('with a connection string the thread gets the string, the container and the defaults (60 s bound, no exit)', () => {
    expect(
      resolveThread({ connectionString: CONNECTION, containerName: 'locks', renewalThread: true }),
    ).toEqual({
      connectionString: CONNECTION,
      containerName: 'locks',
      maxBlockedMs: 60_000,
      exitOnBlockedDeadline: false,
    });
  });

  it('with accountUrl + credential the thread gets the URL and the credential (its tokens are handed over), not a fallback', () => {
    const resolved = resolveThread({
      accountUrl: 'https://acct.blob.core.windows.net',
      credential,
      renewalThread: { maxBlockedMs: 30_000, exitOnBlockedDeadline: true },
    });
    expect(resolved).toEqual({
      accountUrl: 'https://acct.blob.core.windows.net',
      credential,
      containerName: 'leader-election',
      maxBlockedMs: 30_000,
      exitOnBlockedDeadline: true,
    });
  });

  it('an existing ContainerClient or a custom store falls back to main-thread renewal, with the reason', () => {
    const containerClient = BlobServiceClient.fromConnectionString(CONNECTION).getContainerClient('c');
    expect(resolveThread({ containerClient, renewalThread: true })).toEqual({
      fallback: expect.stringContaining('an existing ContainerClient cannot be handed to a worker thread'),
    });
    expect(resolveThread({ store: new MemoryLeaseStore(), renewalThread: true })).toEqual({
      fallback: expect.stringContaining('a custom store cannot be handed to a worker thread'),
    });
  });

  it.each([
    [{ maxBlockedMs: 999 }, 'renewalThread.maxBlockedMs', '999'],
    [{ maxBlockedMs: 3_600_001 }, 'renewalThread.maxBlockedMs', '3600001'],
    [{ exitOnBlockedDeadline: 'yes' }, 'renewalThread.exitOnBlockedDeadline', 'yes'],
    ['on', 'renewalThread', 'on'],
  ])('refuses %p naming the option, the value and what is allowed', (renewalThread, option, shown) => {
    const error = thrown(() =>
      resolveThread({ connectionString: CONNECTION, renewalThread } as Partial<LeaderElectionModuleOptions>),
    );
    expect(error).toBeInstanceOf(InvalidElectionOptionError);
    expect(error.message).toContain(option);
    expect(error.message).toContain(shown);
    expect(error.message).toMatch(/allowed/);
  });

  it('refuses unknown keys (a typo would otherwise silently keep the default)', () => {
    const error = thrown(() =>
      resolveThread({
        connectionString: CONNECTION,
        renewalThread: { maxBlockMs: 5_000 },
      } as unknown as Partial<LeaderElectionModuleOptions>),
    );
    expect(error.message).toContain('maxBlockMs');
  });

  it('accepts the strings of the environment ("true", "30000")', () => {
    expect(
      resolveThread({ connectionString: CONNECTION, renewalThread: 'true' as unknown as boolean }),
    ).toMatchObject({ maxBlockedMs: 60_000 });
    expect(
      resolveThread({
        connectionString: CONNECTION,
        renewalThread: { maxBlockedMs: '30000' as unknown as number },
      }),
    ).toMatchObject({ maxBlockedMs: 30_000 });
  });

  it('RenewalThread itself needs exactly one way to reach storage', () => {
    expect(() => new RenewalThread({ containerName: 'c' } as never)).toThrow(
      /either "connectionString".*or "accountUrl" with a TokenCredential "credential"/,
    );
    expect(
      () =>
        new RenewalThread({
          containerName: 'c',
          connectionString: CONNECTION,
          accountUrl: 'https://a',
          credential,
        } as never),
    ).toThrow(/either/);
    expect(
      () =>
        new RenewalThread({
          containerName: 'c',
          accountUrl: 'https://a.blob.core.windows.net',
          credential: {},
        } as never),
    ).toThrow(/credential/);
  });
});

describe('TokenRelay: tokens minted on the main thread, handed to the renewal thread before expiry', () => {
  const MIN = 60_000;

  it('a handed-over token must still cover maxBlockedMs + the longest lease (60 s) + the SDK refresh window (2 min)', () => {
    expect(tokenCoverMs(60_000)).toBe(4 * MIN);
    expect(tokenCoverMs(3_600_000)).toBe(63 * MIN);
  });

  it('replaces a token while it still has coverMs to live (maxBlockedMs + a lease + the SDK refresh window)', () => {
    const now = 1_000_000;
    const cover = 4 * MIN;
    expect(TokenRelay.refreshDelayMs({ token: 't', expiresOnTimestamp: now + 60 * MIN }, now, cover)).toBe(
      56 * MIN,
    );
    // A long block may start right before the refresh: the token then still covers it.
    const delay = TokenRelay.refreshDelayMs({ token: 't', expiresOnTimestamp: now + 60 * MIN }, now, cover);
    expect(now + 60 * MIN - (now + delay)).toBeGreaterThanOrEqual(cover);
  });

  it('a token that lives shorter than coverMs (or is handed out again from a cache) is replaced at half its remaining life, never in a tight loop', () => {
    expect(TokenRelay.refreshDelayMs({ token: 't', expiresOnTimestamp: 30_000 }, 0, 4 * MIN)).toBe(15_000);
    expect(TokenRelay.refreshDelayMs({ token: 't', expiresOnTimestamp: 500 }, 0, 4 * MIN)).toBe(1_000);
    expect(TokenRelay.refreshDelayMs({ token: 't', expiresOnTimestamp: -5_000 }, 0, 4 * MIN)).toBe(1_000);
  });

  it("follows the credential's refreshAfterTimestamp hint when it comes sooner", () => {
    expect(
      TokenRelay.refreshDelayMs(
        { token: 't', expiresOnTimestamp: 90 * MIN, refreshAfterTimestamp: 45 * MIN },
        0,
        4 * MIN,
      ),
    ).toBe(45 * MIN);
    expect(
      TokenRelay.refreshDelayMs(
        { token: 't', expiresOnTimestamp: 90 * MIN, refreshAfterTimestamp: 89 * MIN },
        0,
        4 * MIN,
      ),
    ).toBe(86 * MIN);
  });

  it('asks for the storage scope, delivers each token, refreshes on schedule, and after failures retries every 10 s with one WARN (no secret in it)', async () => {
    jest.useFakeTimers({ now: 0 });
    try {
      const delivered: RelayedToken[] = [];
      const scopes: unknown[] = [];
      let call = 0;
      const failing = new Set([2, 3]);
      const cred = {
        getToken: async (scope: string | string[]) => {
          scopes.push(scope);
          call += 1;
          if (failing.has(call)) throw new Error('AADSTS700024 client_secret=SuperSecretValue123 is wrong');
          return { token: `token-${call}`, expiresOnTimestamp: Date.now() + 30_000 };
        },
      };
      const logger = new RecordingLogger();
      const relay = new TokenRelay({
        credential: cred,
        coverMs: 4 * MIN,
        deliver: (t) => delivered.push(t),
        logger,
        now: () => Date.now(),
      });
      await relay.first;
      expect(delivered).toEqual([{ token: 'token-1', expiresOnTimestamp: 30_000 }]);
      await jest.advanceTimersByTimeAsync(15_000); // half-life: call 2 fails
      expect(delivered).toHaveLength(1);
      await jest.advanceTimersByTimeAsync(TOKEN_RETRY_MS); // call 3 fails too: still one WARN
      await jest.advanceTimersByTimeAsync(TOKEN_RETRY_MS); // call 4 succeeds
      expect(delivered.map((t) => t.token)).toEqual(['token-1', 'token-4']);
      expect(scopes.every((s) => s === STORAGE_SCOPE)).toBe(true);
      const warns = logger.lines.filter((e) => e.level === 'warn');
      expect(warns).toHaveLength(1);
      expect(warns[0]!.message).toContain('could not get a storage token');
      expect(JSON.stringify(logger.lines)).not.toContain('SuperSecretValue123');
      expect(logger.lines.some((e) => e.level === 'log' && /gets storage tokens again/.test(e.message))).toBe(
        true,
      );
      relay.close();
      await jest.advanceTimersByTimeAsync(10 * MIN);
      expect(call).toBe(4); // closed: no more requests
    } finally {
      jest.useRealTimers();
    }
  });
});
