import { describe, expect, it } from '@jest/globals';
import { AzureBlobLeaseStore } from '../../lib/stores/azure-blob/azure-blob-lease-store.js';

// At start-up every lease's first acquire makes sure the container exists: with 1 000 leases that was
// up to 1 000 Create Container requests per replica (BENCHMARKS §10a). Concurrent callers share one.

const CONNECTION =
  'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5LWtleS1rZXk=;BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;';

interface Internals {
  container: { create(options: unknown): Promise<unknown> };
  ensureContainer(signal: AbortSignal, leaseName?: string): Promise<void>;
}

function storeWithCountedCreate(answer: () => Promise<unknown>): {
  internals: Internals;
  creates: () => number;
} {
  const store = new AzureBlobLeaseStore({ connectionString: CONNECTION, containerName: 'leases' });
  const internals = store as unknown as Internals;
  let creates = 0;
  internals.container.create = async () => {
    creates += 1;
    return answer();
  };
  return { internals, creates: () => creates };
}

describe('Azure store: Create Container at start-up', () => {
  it('200 concurrent first acquires send one Create Container request', async () => {
    let finish!: () => void;
    const { internals, creates } = storeWithCountedCreate(
      () => new Promise<void>((resolve) => (finish = resolve)),
    );
    const signal = new AbortController().signal;
    const all = Promise.all(
      Array.from({ length: 200 }, (_, i) => internals.ensureContainer(signal, `lease-${i}`)),
    );
    await new Promise((resolve) => setImmediate(resolve));
    finish();
    await all;
    await internals.ensureContainer(signal, 'later');
    expect(creates()).toBe(1);
  });

  it('a failed create is not cached: every waiter sees the error, and the next call tries again', async () => {
    let fail = true;
    const { internals, creates } = storeWithCountedCreate(async () => {
      if (fail) throw Object.assign(new Error('boom'), { statusCode: 500 });
    });
    const signal = new AbortController().signal;
    const results = await Promise.allSettled([
      internals.ensureContainer(signal),
      internals.ensureContainer(signal),
    ]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    expect(creates()).toBe(1);
    fail = false;
    await internals.ensureContainer(signal);
    expect(creates()).toBe(2);
  });
});
