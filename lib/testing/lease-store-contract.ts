import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { LeaseLostError, LeaseRecordLostError, type LeaseStore } from '../core/lease-store.js';

/** One check of the LeaseStore contract: register it with your runner, e.g. `it(c.name, c.run)`. */
export interface LeaseStoreContractCase {
  name: string;
  run(): Promise<void>;
}

export interface LeaseStoreContractOptions {
  /**
   * A fresh lease name per case (default: `contract-<uuid>`); the store must accept it. Cases never
   * share a lease, so they may run in any order and in parallel.
   */
  leaseName?: () => string;
  /** Lease duration the cases acquire with, whole seconds. Default 15 (the shortest the elector uses). */
  durationSeconds?: number;
  /**
   * Moves the store's time forward (a manual clock). Given, the expiry cases run: a lease not renewed
   * for its duration is free, a renewed one is not. Without it they are not part of the list (with
   * a real clock they would take a lease duration each).
   */
  advanceTime?: (ms: number) => Promise<void>;
  /**
   * Deletes a lease's record behind the store's back (e.g. delete the blob / row). Given, the
   * record-loss cases run: terms continue from minimumTerm, a renewal of a lost record throws
   * LeaseLostError (ideally LeaseRecordLostError), acquire reports previousTerm 0.
   */
  deleteRecord?: (leaseName: string) => Promise<void>;
  /** The optional capabilities this store claims; each claimed one is checked. */
  capabilities?: {
    /** acquire() returns previousTerm (lets the elector notice a lost record at acquisition). */
    previousTerm?: boolean;
    /** acquire() stores recoveredTerm and observe() returns it. */
    recoveredTerm?: boolean;
    /** renew() of a lost record throws LeaseRecordLostError rather than a plain LeaseLostError. */
    recordLostError?: boolean;
  };
}

const live = (): AbortSignal => new AbortController().signal;

/**
 * The behaviour the elector relies on, as runnable cases, for anyone writing a LeaseStore for another
 * backend (Redis, Postgres, Cosmos DB, S3): run them against your store with your test runner. Our
 * own stores pass them (memory with a manual clock, Azure blob on Azurite).
 *
 *   for (const c of leaseStoreContract(() => new MyStore(...), { advanceTime })) it(c.name, c.run);
 */
export function leaseStoreContract(
  createStore: () => LeaseStore | Promise<LeaseStore>,
  options: LeaseStoreContractOptions = {},
): LeaseStoreContractCase[] {
  const name = options.leaseName ?? (() => `contract-${randomUUID()}`);
  const durationSeconds = options.durationSeconds ?? 15;
  const caps = options.capabilities ?? {};
  const request = (
    leaseName: string,
    leaseId: string,
    identity: string,
    extra: { minimumTerm?: number; recoveredTerm?: number } = {},
  ) => ({
    leaseName,
    leaseId,
    identity,
    durationSeconds,
    ...extra,
  });
  const cases: LeaseStoreContractCase[] = [
    {
      name: 'has a description without secrets (a non-empty string)',
      run: async () => {
        const store = await createStore();
        assert.equal(typeof store.description, 'string');
        assert.ok(store.description.length > 0);
      },
    },
    {
      name: 'observe() of a lease never taken: not held, term 0',
      run: async () => {
        const store = await createStore();
        const observation = await store.observe(name(), live());
        assert.equal(observation.held, false);
        assert.equal(observation.term, 0);
      },
    },
    {
      name: 'acquire() of a free lease succeeds with term 1; observe() then shows it held by that identity',
      run: async () => {
        const store = await createStore();
        const lease = name();
        const result = await store.acquire(request(lease, randomUUID(), 'replica-a'), live());
        assert.equal(result.acquired, true);
        assert.equal(result.acquired && result.term, 1);
        const observation = await store.observe(lease, live());
        assert.deepEqual(
          { held: observation.held, holder: observation.holder, term: observation.term },
          { held: true, holder: 'replica-a', term: 1 },
        );
      },
    },
    {
      name: 'a second candidate gets acquired: false (not an error) while the lease is held',
      run: async () => {
        const store = await createStore();
        const lease = name();
        await store.acquire(request(lease, randomUUID(), 'replica-a'), live());
        const second = await store.acquire(request(lease, randomUUID(), 'replica-b'), live());
        assert.equal(second.acquired, false);
        assert.equal(!second.acquired && second.observation.held, true);
        assert.equal((await store.observe(lease, live())).holder, 'replica-a');
      },
    },
    {
      name:
        'acquire() again with the holder’s own lease id succeeds (a retried acquire is idempotent) and ' +
        'raises the term',
      run: async () => {
        const store = await createStore();
        const lease = name();
        const id = randomUUID();
        await store.acquire(request(lease, id, 'replica-a'), live());
        const again = await store.acquire(request(lease, id, 'replica-a'), live());
        assert.equal(again.acquired, true);
        assert.equal(again.acquired && again.term, 2);
      },
    },
    {
      name:
        'renew() with the holder’s lease id succeeds; with another id it throws LeaseLostError (kind ' +
        '"lost")',
      run: async () => {
        const store = await createStore();
        const lease = name();
        const id = randomUUID();
        await store.acquire(request(lease, id, 'replica-a'), live());
        await store.renew(lease, id, live());
        await assert.rejects(
          store.renew(lease, randomUUID(), live()),
          (error: unknown) => error instanceof LeaseLostError && error.kind === 'lost',
        );
      },
    },
    {
      name:
        'release() frees the lease for others; a second release and a release with another id resolve ' +
        'and change nothing',
      run: async () => {
        const store = await createStore();
        const lease = name();
        const id = randomUUID();
        await store.acquire(request(lease, id, 'replica-a'), live());
        await store.release(lease, randomUUID(), live());
        assert.equal((await store.observe(lease, live())).held, true);
        await store.release(lease, id, live());
        await store.release(lease, id, live());
        assert.equal((await store.observe(lease, live())).held, false);
        const next = await store.acquire(request(lease, randomUUID(), 'replica-b'), live());
        assert.equal(next.acquired, true);
      },
    },
    {
      name: 'terms strictly increase across holders, and never fall below minimumTerm + 1',
      run: async () => {
        const store = await createStore();
        const lease = name();
        const terms: number[] = [];
        for (const identity of ['replica-a', 'replica-b', 'replica-c']) {
          const id = randomUUID();
          const result = await store.acquire(request(lease, id, identity), live());
          assert.equal(result.acquired, true);
          if (result.acquired) terms.push(result.term);
          await store.release(lease, id, live());
        }
        assert.deepEqual(terms, [1, 2, 3]);
        const jumped = await store.acquire(
          request(lease, randomUUID(), 'replica-d', { minimumTerm: 41 }),
          live(),
        );
        assert.equal(jumped.acquired && jumped.term, 42);
        assert.equal((await store.observe(lease, live())).term, 42);
      },
    },
    {
      name: 'records identities as given (spaces, unicode) and returns them from observe()',
      run: async () => {
        const store = await createStore();
        const lease = name();
        await store.acquire(request(lease, randomUUID(), 'pod ä/ß 🚀-1'), live());
        assert.equal((await store.observe(lease, live())).holder, 'pod ä/ß 🚀-1');
      },
    },
    {
      name: 'rejects a call whose AbortSignal is already aborted, without taking the lease',
      run: async () => {
        const store = await createStore();
        const lease = name();
        const aborted = new AbortController();
        aborted.abort(new Error('gave up'));
        await assert.rejects(store.acquire(request(lease, randomUUID(), 'replica-a'), aborted.signal));
        assert.equal((await store.observe(lease, live())).held, false);
      },
    },
  ];

  if (caps.previousTerm) {
    cases.push({
      name: 'acquire() reports the term recorded before it (previousTerm)',
      run: async () => {
        const store = await createStore();
        const lease = name();
        const id = randomUUID();
        const first = await store.acquire(request(lease, id, 'replica-a'), live());
        assert.equal(first.acquired && first.previousTerm, 0);
        const second = await store.acquire(request(lease, id, 'replica-a'), live());
        assert.equal(second.acquired && second.previousTerm, 1);
      },
    });
  }
  if (caps.recoveredTerm) {
    cases.push({
      name: 'acquire() records recoveredTerm for observe(); an acquisition without it clears it',
      run: async () => {
        const store = await createStore();
        const lease = name();
        const id = randomUUID();
        await store.acquire(request(lease, id, 'replica-a', { minimumTerm: 6, recoveredTerm: 6 }), live());
        assert.equal((await store.observe(lease, live())).recoveredTerm, 6);
        await store.release(lease, id, live());
        await store.acquire(request(lease, randomUUID(), 'replica-b'), live());
        assert.equal((await store.observe(lease, live())).recoveredTerm, undefined);
      },
    });
  }
  if (options.advanceTime) {
    const advance = options.advanceTime;
    cases.push({
      name: 'a lease not renewed for its duration is free for others; a renewed one is not',
      run: async () => {
        const store = await createStore();
        const renewed = name();
        const lapsed = name();
        const renewedId = randomUUID();
        await store.acquire(request(renewed, renewedId, 'replica-a'), live());
        await store.acquire(request(lapsed, randomUUID(), 'replica-a'), live());
        await advance(durationSeconds * 500);
        await store.renew(renewed, renewedId, live());
        await advance(durationSeconds * 500 + 1_000);
        assert.equal((await store.observe(lapsed, live())).held, false);
        assert.equal((await store.observe(renewed, live())).held, true);
        const taken = await store.acquire(request(lapsed, randomUUID(), 'replica-b'), live());
        assert.equal(taken.acquired && taken.term, 2);
      },
    });
  }
  if (options.deleteRecord) {
    const deleteRecord = options.deleteRecord;
    cases.push({
      name:
        'after the record is deleted: renew() throws LeaseLostError, and ' +
        'terms continue above minimumTerm',
      run: async () => {
        const store = await createStore();
        const lease = name();
        const id = randomUUID();
        await store.acquire(request(lease, id, 'replica-a'), live());
        await deleteRecord(lease);
        await assert.rejects(
          store.renew(lease, id, live()),
          (error: unknown) =>
            error instanceof LeaseLostError &&
            (!caps.recordLostError || error instanceof LeaseRecordLostError),
        );
        assert.equal((await store.observe(lease, live())).term, 0);
        const again = await store.acquire(
          request(lease, randomUUID(), 'replica-b', { minimumTerm: 1 }),
          live(),
        );
        assert.equal(again.acquired && again.term, 2);
        if (caps.previousTerm) assert.equal(again.acquired && again.previousTerm, 0);
      },
    });
  }
  return cases;
}
