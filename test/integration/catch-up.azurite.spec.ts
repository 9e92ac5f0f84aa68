import 'reflect-metadata';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import { BlobServiceClient } from '@azure/storage-blob';
import { Injectable, type INestApplication } from '@nestjs/common';
import { Cron, ScheduleModule } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import {
  AzureBlobTickLedger,
  currentLeadership,
  LeaderElectionModule,
  LeaderElectionService,
  LeaderOnly,
  TickLedgerError,
} from '../../lib/index.js';
import { tickLedgerBlobName } from '../../lib/stores/azure-blob/azure-blob-tick-ledger.js';

// @LeaderOnly({ catchUp }) on the Azurite of Jest's global setup, real time: the Azure tick ledger
// (If-Match claims, term fence), and two app replicas where the leader stops without releasing just
// before a cron tick: the other runs that tick once when it takes over, and the ex-leader's late
// ledger write is refused.

const connectionString = process.env.AZURITE_CONNECTION_STRING!;
const CONTAINER = `it-catchup-${randomBytes(4).toString('hex')}`;
const container = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(CONTAINER);
const apps: INestApplication[] = [];
const unique = (label: string): string => `${label}-${randomUUID().slice(0, 8)}`;
const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const signal = (): AbortSignal => AbortSignal.timeout(10_000);

afterAll(async () => {
  await Promise.allSettled(apps.map((app) => app.close()));
  await container.deleteIfExists();
});

describe('AzureBlobTickLedger on Azurite', () => {
  it('records claims, refuses a tick twice and a writer with a lower term; a missing ledger reads as empty', async () => {
    await container.createIfNotExists();
    const [a, b] = [new AzureBlobTickLedger(container), new AzureBlobTickLedger(container)];
    const lease = unique('ledger');
    expect(await a.lastTick(lease, 'Jobs.tick', signal())).toBeUndefined();
    expect(await a.claim({ leaseName: lease, job: 'Jobs.tick', tickAt: 60_000, term: 3 }, signal())).toEqual({
      claimed: true,
    });
    expect(await b.lastTick(lease, 'Jobs.tick', signal())).toEqual({ tickAt: 60_000, term: 3 });
    expect(
      await b.claim({ leaseName: lease, job: 'Jobs.tick', tickAt: 60_000, term: 4 }, signal()),
    ).toMatchObject({ claimed: false, reason: 'already-run' });
    expect(await b.claim({ leaseName: lease, job: 'Other.job', tickAt: 1_000, term: 5 }, signal())).toEqual({
      claimed: true,
    });
    // The term-3 leader's late write of a later tick: refused, because term 5 wrote since.
    expect(
      await a.claim({ leaseName: lease, job: 'Jobs.tick', tickAt: 120_000, term: 3 }, signal()),
    ).toMatchObject({ claimed: false, reason: 'stale-term' });
    expect(await a.lastTick(lease, 'Jobs.tick', signal())).toEqual({ tickAt: 60_000, term: 3 });
  }, 30_000);

  it('concurrent claims of one tick from separate clients: exactly one wins (If-Match)', async () => {
    await container.createIfNotExists();
    const lease = unique('race');
    const ledgers = Array.from({ length: 6 }, () => new AzureBlobTickLedger(container));
    const results = await Promise.allSettled(
      ledgers.map((ledger) =>
        ledger.claim({ leaseName: lease, job: 'Jobs.tick', tickAt: 90_000, term: 2 }, signal()),
      ),
    );
    const claimed = results.filter((r) => r.status === 'fulfilled' && r.value.claimed);
    expect(claimed).toHaveLength(1);
    // A loser either saw the winner's record or gave up after conflicting rounds: never claimed.
    for (const result of results)
      if (result.status === 'rejected') expect(result.reason).toBeInstanceOf(TickLedgerError);
  }, 30_000);

  it('a ledger blob that is not a ledger document is refused (TickLedgerError), not read as empty', async () => {
    await container.createIfNotExists();
    const lease = unique('corrupt');
    await container.getBlockBlobClient(tickLedgerBlobName(lease)).upload('oops', 4);
    await expect(new AzureBlobTickLedger(container).lastTick(lease, 'Jobs.tick', signal())).rejects.toThrow(
      TickLedgerError,
    );
  }, 30_000);
});

interface Run {
  replica: string;
  term: number | undefined;
  at: number;
}

const runs: Run[] = [];
const PERIOD_MS = 30_000;

describe('two app replicas on Azurite: a leader stopped just before a tick', () => {
  it('the other replica runs that tick once when it takes over; the ex-leader cannot write the ledger', async () => {
    const leaseName = unique('catchup');

    async function replica(identity: string): Promise<INestApplication> {
      @Injectable()
      class Reports {
        @Cron('*/30 * * * * *')
        @LeaderOnly({ catchUp: { deadlineMs: 25_000 } })
        async nightly(): Promise<void> {
          runs.push({ replica: identity, term: currentLeadership()?.term, at: Date.now() });
        }
      }
      const moduleRef = await Test.createTestingModule({
        imports: [
          ScheduleModule.forRoot(),
          LeaderElectionModule.forRoot({
            connectionString,
            containerName: CONTAINER,
            leaseName,
            identity,
            retryIntervalMs: 500,
            releaseOnShutdown: false, // a crash: the lease is left to expire (15 s)
            logger: false,
          }),
        ],
        providers: [Reports],
      }).compile();
      const app = moduleRef.createNestApplication({ logger: false });
      apps.push(app);
      await app.init();
      return app;
    }

    const a = await replica('a');
    await a.get(LeaderElectionService).waitForLeadership(undefined, AbortSignal.timeout(20_000));
    const b = await replica('b');
    const termA = a.get(LeaderElectionService).leadership()!.term;

    // Stop the leader 1 s before a tick (at least 2.5 s away, so the stop is not itself late).
    let tick = Math.ceil(Date.now() / PERIOD_MS) * PERIOD_MS;
    if (tick - Date.now() < 2_500) tick += PERIOD_MS;
    await delay(tick - 1_000 - Date.now());
    await a.close();
    const serviceB = b.get(LeaderElectionService);
    expect(serviceB.isLeader()).toBe(false); // the lease is still a's: the tick falls into the gap
    const termB = (await serviceB.waitForLeadership(undefined, AbortSignal.timeout(25_000))).term;
    for (let i = 0; i < 100 && !runs.some((run) => run.replica === 'b'); i++) await delay(100);
    await delay(1_000); // time for a second run, which must not happen

    expect(runs.filter((run) => run.replica === 'a').every((run) => run.at < tick)).toBe(true);
    const runsOfB = runs.filter((run) => run.replica === 'b');
    expect(runsOfB).toHaveLength(1);
    expect(runsOfB[0]!.term).toBe(termB);
    expect(runsOfB[0]!.at - tick).toBeGreaterThan(5_000); // on takeover, not at the tick
    const ledger = new AzureBlobTickLedger(container);
    expect(await ledger.lastTick(leaseName, 'Reports.nightly', signal())).toEqual({
      tickAt: tick,
      term: termB,
    });
    // The ex-leader's late write (its term) of the same or the next tick: refused by the term fence.
    for (const tickAt of [tick, tick + PERIOD_MS])
      expect(
        await ledger.claim({ leaseName, job: 'Reports.nightly', tickAt, term: termA }, signal()),
      ).toMatchObject({ claimed: false, reason: 'stale-term' });
  }, 120_000);
});
