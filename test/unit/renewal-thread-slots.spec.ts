import { afterEach, describe, expect, it } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { systemClock } from '../../lib/core/clock.js';
import type { DelegatedLease } from '../../lib/core/renewal-delegate.js';
import { RenewalThread } from '../../lib/renewal/renewal-thread.js';
import { renewalWorkerMain } from '../../lib/renewal/renewal-worker-source.js';
import {
  createSharedState,
  HEARTBEAT,
  PROBE,
  slotIndex,
  SlotState,
  stateWord,
  toMs,
  toUs,
} from '../../lib/renewal/shared-renewal-state.js';

// Issue 18, defect 4 and the offset handshake: the renewal thread's shared-memory slots belong to one
// tenure each (a generation), and the worker never writes into a slot it no longer owns.

const CONNECTION =
  'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5LWtleS1rZXk=;BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;';
const FAKE_SDK = fileURLToPath(new URL('../support/fake-storage-blob.cjs', import.meta.url));

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

function lease(name: string, overrides: Partial<DelegatedLease> = {}): DelegatedLease {
  return {
    leaseName: name,
    leaseId: `id-${name}`,
    sentAt: systemClock.now(),
    leaseDurationMs: 15_000,
    safetyMarginMs: 1_000,
    // Never due within the test: the worker sleeps, sends nothing.
    renewIntervalMs: 600_000,
    renewRetryIntervalMs: 500,
    requestTimeoutMs: 5_000,
    ...overrides,
  };
}

/** A bare worker on the fake SDK, with its shared memory (what RenewalThread sets up, minus the SDK). */
function fakeWorker(fakeRenewMs: number, fakeShiftsProbe: boolean) {
  const state = createSharedState();
  Atomics.store(state, HEARTBEAT, toUs(systemClock.now()));
  Atomics.store(state, PROBE, toUs(systemClock.now()));
  const worker = new Worker(`(${renewalWorkerMain.toString()})()`, {
    eval: true,
    workerData: {
      state,
      storageModulePath: FAKE_SDK,
      connectionString: CONNECTION,
      containerName: 'c',
      pipelineOptions: {},
      maxBlockedMs: 60_000,
      exitOnBlockedDeadline: false,
      fakeRenewMs,
      fakeShiftsProbe,
    },
  });
  closers.push(() => worker.terminate());
  worker.on('error', (error) => console.error('worker error', error));
  const renewCalls: number[] = [];
  const ready = new Promise<void>((resolve) =>
    worker.on('message', (message: { type: string }) => {
      if (message.type === 'ready') resolve();
      if (message.type === 'fake-renew') renewCalls.push(systemClock.now());
    }),
  );
  const hold = (slot: number, generation: number, sentAt: number, renewIntervalMs: number): void => {
    Atomics.store(state, slotIndex(slot, 0), toUs(sentAt));
    Atomics.store(state, slotIndex(slot, 2), BigInt(generation));
    Atomics.store(state, slotIndex(slot, 1), stateWord(generation, SlotState.ACTIVE));
    worker.postMessage({
      type: 'hold',
      hold: {
        ...lease('x', { sentAt, renewIntervalMs, renewRetryIntervalMs: 10 }),
        slot,
        generation,
        sentAtUs: toUs(sentAt).toString(),
      },
    });
  };
  return { state, ready, hold, renewCalls };
}

async function until(condition: () => boolean, maxMs = 2_000): Promise<void> {
  for (let waited = 0; !condition() && waited < maxMs; waited += 10)
    await new Promise((resolve) => setTimeout(resolve, 10));
}

describe('renewal thread slots', () => {
  it('a held lease keeps its slot however many other tenures begin and end (defect 4: round-robin reuse)', async () => {
    const thread = new RenewalThread({ connectionString: CONNECTION, containerName: 'c' });
    closers.push(() => thread.close());
    const y = lease('y');
    const held = thread.begin(y);
    for (let i = 0; i < 256; i++) thread.begin(lease(`flap-${i}`)).end();
    const x = lease('x', { sentAt: y.sentAt + 1 });
    const other = thread.begin(x);
    expect(held.lastSentAt()).toBe(toMs(toUs(y.sentAt)));
    expect(other.lastSentAt()).toBe(toMs(toUs(x.sentAt)));
    held.end();
    other.end();
  });

  it('the worker never writes a send time into a slot that another tenure now owns (compare-and-set)', async () => {
    const fake = fakeWorker(200, false);
    await fake.ready;
    fake.hold(0, 1, systemClock.now(), 10);
    await until(() => fake.renewCalls.length >= 1);
    // The slot passes to generation 2 while generation 1's renewal is on its way (its 'end' not yet seen).
    const other = systemClock.now() - 5_000;
    Atomics.store(fake.state, slotIndex(0, 0), toUs(other));
    Atomics.store(fake.state, slotIndex(0, 2), 2n);
    Atomics.store(fake.state, slotIndex(0, 1), stateWord(2, SlotState.ACTIVE));
    await until(() => fake.renewCalls.length >= 3, 1_000);
    expect(toMs(Atomics.load(fake.state, slotIndex(0, 0)))).toBe(toMs(toUs(other)));
    expect(Atomics.load(fake.state, slotIndex(0, 1))).toBe(stateWord(2, SlotState.ACTIVE));
  });

  it('the worker measures its clock offset before loading the storage SDK', async () => {
    // The fake SDK moves the probe back by 1000 s while it loads: an offset measured after loading
    // would publish send times 1000 s early.
    const fake = fakeWorker(0, true);
    await fake.ready;
    const heldAt = systemClock.now();
    fake.hold(0, 1, heldAt, 10);
    await until(() => toMs(Atomics.load(fake.state, slotIndex(0, 0))) !== toMs(toUs(heldAt)));
    const published = toMs(Atomics.load(fake.state, slotIndex(0, 0)));
    expect(published).toBeGreaterThan(heldAt);
    expect(published).toBeLessThanOrEqual(systemClock.now());
  });
});
