import 'reflect-metadata';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Logger, type INestApplication } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AzureBlobLeaseStore,
  LeaderElectionModule,
  LeaderElectionService,
  MemoryLeaseStore,
  type LeaseStore,
} from '../../lib/index.js';
import {
  MigratingExamplesModule,
  TheService,
  coordinator,
  metrics,
  record,
  runCoordinator,
} from './migrating-snippets.js';

// docs/MIGRATING.md: its TypeScript is an excerpt of migrating-snippets.ts (so `tsc` checks it), and
// the examples do what the page says: two replicas, one of which runs the leader tasks.

jest.setTimeout(30_000);

const root = fileURLToPath(new URL('../..', import.meta.url));
const until = async (condition: () => boolean, timeoutMs: number): Promise<void> => {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

/** Lines of a block, trimmed of trailing space, without blank lines at either end. */
function lines(code: string): string[] {
  const out = code.split(/\r?\n/).map((line) => line.trimEnd());
  while (out.length && out[0] === '') out.shift();
  while (out.length && out.at(-1) === '') out.pop();
  return out;
}

describe('docs/MIGRATING.md', () => {
  const page = readFileSync(join(root, 'docs/MIGRATING.md'), 'utf8');
  const source = lines(readFileSync(join(root, 'test/e2e/migrating-snippets.ts'), 'utf8')).join('\n');
  const blocks = [...page.matchAll(/^```(ts|typescript)\n([\s\S]*?)^```$/gm)].map((match) => match[2]!);

  it('every TypeScript block is a verbatim excerpt of test/e2e/migrating-snippets.ts (type-checked with the project)', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(7);
    const missing = blocks.map((block) => lines(block).join('\n')).filter((block) => !source.includes(block));
    expect(missing).toEqual([]);
  });
});

describe('the MIGRATING examples, booted', () => {
  const apps: INestApplication[] = [];
  afterEach(async () => {
    await Promise.allSettled(apps.splice(0).map((app) => app.close()));
    record.length = 0;
    jest.restoreAllMocks();
  });

  async function replica(identity: string, store: LeaseStore): Promise<INestApplication> {
    const moduleRef = await Test.createTestingModule({
      imports: [
        ScheduleModule.forRoot(),
        LeaderElectionModule.forRoot({
          store,
          identity,
          retryIntervalMs: 200,
          retryJitter: 0,
          logger: false,
        }),
        MigratingExamplesModule,
      ],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    apps.push(app);
    return app;
  }

  it('runs every leader task on the leader only, hands them over on shutdown, and calls the hooks', async () => {
    const logged: string[] = [];
    jest.spyOn(Logger.prototype, 'log').mockImplementation(function (this: Logger, message: unknown) {
      logged.push(`${(this as unknown as { context?: string }).context}: ${String(message)}`);
    });
    const store = new MemoryLeaseStore();
    const a = await replica('a', store);
    const b = await replica('b', store);
    const tasks = ['orders.processNext term=1', 'queue.catchUp', 'work.active', 'reconciler.run'];
    await until(() => tasks.every((what) => record.some((entry) => entry.what === what)), 5_000);
    expect(
      new Set(record.filter((entry) => entry.identity).map((entry) => `${entry.identity}:${entry.term}`)),
    ).toEqual(new Set(['a:1']));

    // Topshelf's WithHeartBeat: every replica reports whether it leads.
    a.get(TheService).heartBeat();
    expect(metrics.gauges.get('is_leader')).toBe(1);
    b.get(TheService).heartBeat();
    expect(metrics.gauges.get('is_leader')).toBe(0);
    await until(() => record.some((entry) => entry.what === 'work.passive'), 3_000); // b's DoInPassive

    await a.close();
    apps.splice(apps.indexOf(a), 1);
    const lastOfA = Math.max(...record.filter((entry) => entry.identity === 'a').map((entry) => entry.at));
    await until(
      () =>
        tasks.slice(1).every((what) => record.some((entry) => entry.what === what && entry.identity === 'b')),
      5_000,
    );
    const ofB = record.filter((entry) => entry.identity === 'b');
    expect(new Set(ofB.map((entry) => entry.term))).toEqual(new Set([2]));
    expect(Math.min(...ofB.map((entry) => entry.at))).toBeGreaterThanOrEqual(lastOfA); // never two readers
    expect(record.some((entry) => entry.what === 'orders.processNext term=2')).toBe(true);
    expect(b.get(LeaderElectionService).isLeader()).toBe(true);

    expect(logged).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^WorkerLease: lease allocated \(term 1\), valid until \d{4}-/),
        'WorkerLease: lease expired (term 1): stopped',
        'Controller: leader lost: stopped',
        'Controller: new leader elected: a',
        expect.stringMatching(/^Reports: leading "reports" \(term 1\)$/),
        expect.stringMatching(/^WorkerLease: lease allocated \(term 2\)/),
      ]),
    );
  });

  it('runs the core (outside Nest) coordinator on Azurite and releases the lease once the task stopped', async () => {
    const connectionString = process.env.AZURITE_CONNECTION_STRING!;
    const stop = new AbortController();
    const running = runCoordinator(connectionString, stop.signal);
    await until(() => coordinator.runs === 1, 10_000);
    stop.abort();
    await running;
    expect(coordinator.stopped).toBe(1);
    const store = new AzureBlobLeaseStore({ connectionString, containerName: 'leases' });
    expect(await store.observe('MyLeaderCoordinatorTask', new AbortController().signal)).toMatchObject({
      held: false,
    });
  });
});
