import { describe, expect, it } from '@jest/globals';
import { catchUpDue, decideClaim, parseLedgerDocument, TickLedgerError } from '../../lib/core/tick-ledger.js';
import { MemoryTickLedger } from '../../lib/stores/memory/memory-tick-ledger.js';
import {
  AzureBlobTickLedger,
  tickLedgerBlobName,
} from '../../lib/stores/azure-blob/azure-blob-tick-ledger.js';
import type { ContainerClient } from '@azure/storage-blob';
import { listLeases } from '../../lib/cli/leases.js';
import { cronTicksOf } from '../../lib/nest/utils/cron-ticks.js';

// The tick ledger's rules (lib/core/tick-ledger.ts) and the tick instants catch-up keys ticks by.

describe('decideClaim', () => {
  it('refuses a writer whose term is below the highest term the ledger has seen (a stale ex-leader)', () => {
    expect(decideClaim({ tickAt: 1000, term: 4 }, 4, { tickAt: 2000, term: 3 })).toMatchObject({
      claimed: false,
      reason: 'stale-term',
    });
    expect(decideClaim(undefined, 4, { tickAt: 2000, term: 3 })).toMatchObject({ reason: 'stale-term' });
  });

  it('refuses a tick at or before the recorded one (at most once), allows a later one', () => {
    expect(decideClaim({ tickAt: 2000, term: 4 }, 4, { tickAt: 2000, term: 5 })).toMatchObject({
      reason: 'already-run',
    });
    expect(decideClaim({ tickAt: 2000, term: 4 }, 4, { tickAt: 1000, term: 5 })).toMatchObject({
      reason: 'already-run',
    });
    expect(decideClaim({ tickAt: 2000, term: 4 }, 4, { tickAt: 3000, term: 4 })).toEqual({ claimed: true });
    expect(decideClaim(undefined, 0, { tickAt: 1, term: 1 })).toEqual({ claimed: true });
  });
});

describe('MemoryTickLedger', () => {
  it('a new leader claim raises the lease term: the old leader can no longer write any job of the lease', async () => {
    const ledger = new MemoryTickLedger();
    expect(await ledger.claim({ leaseName: 'l', job: 'a', tickAt: 1000, term: 1 })).toEqual({
      claimed: true,
    });
    expect(await ledger.claim({ leaseName: 'l', job: 'b', tickAt: 5000, term: 2 })).toEqual({
      claimed: true,
    });
    expect(await ledger.claim({ leaseName: 'l', job: 'a', tickAt: 2000, term: 1 })).toMatchObject({
      claimed: false,
      reason: 'stale-term',
    });
    expect(await ledger.lastTick('l', 'a')).toEqual({ tickAt: 1000, term: 1 });
    expect(await ledger.lastTick('other', 'a')).toBeUndefined();
  });
});

describe('parseLedgerDocument', () => {
  it('reads a document, refuses anything else (a corrupt ledger must not let a tick run twice)', () => {
    expect(parseLedgerDocument('{"term":3,"jobs":{"A.b":{"tickAt":60000,"term":3}}}', 'x')).toEqual({
      term: 3,
      jobs: { 'A.b': { tickAt: 60000, term: 3 } },
    });
    for (const text of [
      '',
      'null',
      '{"term":-1,"jobs":{}}',
      '{"term":1}',
      '{"term":1,"jobs":{"a":{"tickAt":"1","term":1}}}',
    ])
      expect(() => parseLedgerDocument(text, 'x')).toThrow(TickLedgerError);
  });
});

describe('catchUpDue', () => {
  const base = { now: 100_000, deadlineMs: 30_000, latestTick: 90_000 };
  it('runs the latest tick when it is later than the record and within the deadline', () => {
    expect(catchUpDue({ ...base, recorded: { tickAt: 30_000, term: 1 }, latestSkipped: undefined })).toBe(
      true,
    );
    expect(catchUpDue({ ...base, recorded: { tickAt: 90_000, term: 1 }, latestSkipped: 90_000 })).toBe(false);
    expect(catchUpDue({ ...base, now: 120_001, recorded: undefined, latestSkipped: 90_000 })).toBe(false);
    expect(catchUpDue({ ...base, now: 120_000, recorded: undefined, latestSkipped: 90_000 })).toBe(true);
    expect(catchUpDue({ ...base, recorded: undefined, latestSkipped: undefined })).toBe(false);
    expect(catchUpDue({ ...base, recorded: undefined, latestSkipped: 30_000 })).toBe(false);
  });
});

describe('cron tick instants', () => {
  it('the latest scheduled instant at or before now, as cron schedules it (zones included)', () => {
    const everyMinute = cronTicksOf({ cronTime: '0 * * * * *' }, 'A.b');
    const t = Date.UTC(2026, 11, 7, 12, 0, 0);
    expect(everyMinute.latestAtOrBefore(t)).toBe(t);
    expect(everyMinute.latestAtOrBefore(t + 59_999)).toBe(t);
    expect(everyMinute.latestAtOrBefore(t - 1)).toBe(t - 60_000);
    const daily = cronTicksOf({ cronTime: '0 30 2 * * *', timeZone: 'Europe/Berlin' }, 'A.b');
    // 02:30 in Berlin (UTC+1 in December) is 01:30 UTC.
    expect(daily.latestAtOrBefore(Date.UTC(2026, 11, 7, 12, 0, 0))).toBe(Date.UTC(2026, 11, 7, 1, 30, 0));
    const offset = cronTicksOf({ cronTime: '0 0 3 * * *', utcOffset: 120 }, 'A.b');
    expect(offset.latestAtOrBefore(Date.UTC(2026, 11, 7, 12, 0, 0))).toBe(Date.UTC(2026, 11, 7, 1, 0, 0));
    const yearly = cronTicksOf({ cronTime: '0 0 0 1 1 *', timeZone: 'UTC' }, 'A.b'); // found by widening
    expect(yearly.latestAtOrBefore(Date.UTC(2026, 11, 7))).toBe(Date.UTC(2026, 0, 1));
  });

  it('a schedule cron cannot read is refused, naming the method', () => {
    expect(() => cronTicksOf({ cronTime: 'not a cron' }, 'Jobs.nightly')).toThrow(/catchUp on Jobs\.nightly/);
  });
});

describe('AzureBlobTickLedger (fake container)', () => {
  const signal = new AbortController().signal;
  const failingContainer = (error: object): ContainerClient =>
    ({
      getBlockBlobClient: () => ({
        download: () => Promise.reject(Object.assign(new Error('boom'), error)),
        upload: () => Promise.reject(Object.assign(new Error('boom'), error)),
      }),
    }) as unknown as ContainerClient;

  it('a failure names status and code only: a service message or URL with a SAS never reaches the error', async () => {
    const secret = 'sig=SUPERSECRETSIGNATURE';
    const container = failingContainer({
      statusCode: 403,
      code: 'AuthorizationFailure',
      message: `https://acct.blob.core.windows.net/c/~ticks/leader?${secret}`,
      request: { url: `https://acct.blob.core.windows.net/c/~ticks/leader?${secret}` },
    });
    const error = await new AzureBlobTickLedger(container)
      .lastTick('leader', 'A.b', signal)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TickLedgerError);
    expect(String((error as Error).message)).toMatch(
      /read of lease "leader" failed: HTTP 403 AuthorizationFailure/,
    );
    expect(String((error as Error).message)).not.toMatch(/SUPERSECRET/);
  });

  it('a missing container is an error, not an empty ledger', async () => {
    const container = failingContainer({ statusCode: 404, code: 'ContainerNotFound' });
    await expect(new AzureBlobTickLedger(container).lastTick('leader', 'A.b', signal)).rejects.toThrow(
      /HTTP 404 ContainerNotFound/,
    );
  });

  it('gives up (throws, so the tick does not run) after 5 conflicting writes in a row', async () => {
    let writes = 0;
    const container = {
      getBlockBlobClient: () => ({
        download: () =>
          Promise.reject(Object.assign(new Error('missing'), { statusCode: 404, code: 'BlobNotFound' })),
        upload: () => {
          writes++;
          return Promise.reject(
            Object.assign(new Error('exists'), { statusCode: 409, code: 'BlobAlreadyExists' }),
          );
        },
      }),
    } as unknown as ContainerClient;
    await expect(
      new AzureBlobTickLedger(container).claim({ leaseName: 'l', job: 'A.b', tickAt: 1, term: 1 }, signal),
    ).rejects.toThrow(/5 conflicting writes in a row/);
    expect(writes).toBe(5);
  });

  it('ledger blobs live under ~ticks/, where lease listings stop', () => {
    expect(tickLedgerBlobName('jobs/nightly')).toBe('~ticks/jobs~nightly');
  });
});

describe('CLI lease list', () => {
  it('does not show a tick ledger blob as a lease', async () => {
    const item = (name: string): object => ({ name, properties: { leaseState: 'available' }, metadata: {} });
    const container = {
      listBlobsFlat: () => ({
        byPage: async function* () {
          yield { date: new Date(), segment: { blobItems: [item('leader'), item('~ticks/leader')] } };
        },
      }),
    } as unknown as ContainerClient;
    const rows = await listLeases({
      container,
      where: 'test',
      requestSignal: () => new AbortController().signal,
    });
    expect(rows.map((row) => row.lease)).toEqual(['leader']);
  });
});
