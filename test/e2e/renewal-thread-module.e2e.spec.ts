import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { BlobServiceClient } from '@azure/storage-blob';
import {
  LeaderElectionModule,
  LeaderElectionService,
  type LeaderElectionModuleOptions,
} from '../../lib/index.js';
import { RecordingLogger } from '../support/recording-logger.js';

// Issue 11 through the Nest module, on Azurite: `renewalThread: true` with a connection string keeps
// the lease through a main-thread block longer than the lease (here this very process blocks: the
// Jest worker busy-loops for 20 s, D = 15 s); with an existing ContainerClient the module says once
// that renewals stay on the main thread, and the same block loses the lease.

jest.setTimeout(60_000);

const connectionString = process.env.AZURITE_CONNECTION_STRING!;
const BLOCK_MS = 20_000;
let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function startApp(
  storage: Partial<LeaderElectionModuleOptions>,
  logger: RecordingLogger,
): Promise<LeaderElectionService> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      LeaderElectionModule.forRoot({
        ...storage,
        leaseName: 'thread-module',
        retryIntervalMs: 200,
        presence: false,
        renewalThread: true,
        logger,
      } as LeaderElectionModuleOptions),
    ],
  }).compile();
  app = moduleRef.createNestApplication();
  await app.init();
  const service = app.get(LeaderElectionService);
  await service.waitForLeadership();
  return service;
}

function blockMainThread(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // CPU-bound work: nothing else runs on this thread, renewals included.
  }
}

describe('LeaderElectionModule renewalThread (Azurite)', () => {
  it('with a connection string: the worker thread renews, so a 20 s block of this process keeps the lease', async () => {
    const logger = new RecordingLogger();
    const service = await startApp(
      { connectionString, containerName: `thread-mod-${randomBytes(4).toString('hex')}` },
      logger,
    );
    expect(logger.text()).toMatch(/Renewing leases on a worker thread/);
    const term = service.getState().term;
    blockMainThread(BLOCK_MS);
    expect(service.isLeader()).toBe(true);
    expect(service.getState().term).toBe(term);
    expect(logger.lines.filter((line) => line.level === 'warn' || line.level === 'error')).toEqual([]);
  });

  it('with an existing ContainerClient: one WARN that renewals stay on the main thread, and the same block loses the lease', async () => {
    const logger = new RecordingLogger();
    const containerClient = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(
      `thread-mod-${randomBytes(4).toString('hex')}`,
    );
    const service = await startApp({ containerClient }, logger);
    const fallbacks = logger.lines.filter(
      (line) =>
        line.level === 'warn' &&
        /renewalThread: renewals stay on the main thread: an existing ContainerClient/.test(line.message),
    );
    expect(fallbacks).toHaveLength(1);
    blockMainThread(BLOCK_MS);
    expect(service.isLeader()).toBe(false);
  });
});
