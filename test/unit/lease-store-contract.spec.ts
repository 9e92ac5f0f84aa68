import { describe, it } from '@jest/globals';
import { MemoryLeaseStore } from '../../lib/stores/memory/memory-lease-store.js';
import { leaseStoreContract, ManualClock } from '../../lib/testing/index.js';

// The LeaseStore contract suite that nestjs-leader-election/testing ships, run against our memory
// store (on a manual clock, so the expiry cases run too). The Azure store runs it on Azurite.
describe('LeaseStore contract: MemoryLeaseStore', () => {
  const clock = new ManualClock();
  const store = new MemoryLeaseStore(clock);
  const cases = leaseStoreContract(() => store, {
    advanceTime: (ms) => clock.advance(ms),
    deleteRecord: async (leaseName) => store.deleteRecord(leaseName),
    capabilities: { previousTerm: true, recoveredTerm: true, recordLostError: true },
  });
  for (const contractCase of cases) it(contractCase.name, () => contractCase.run());
});

describe('LeaseStore contract: the suite can fail', () => {
  it('a store that lets a second candidate take a held lease fails the "second candidate" case', async () => {
    const { expect } = await import('@jest/globals');
    const broken = new MemoryLeaseStore();
    const acquire = broken.acquire.bind(broken);
    // Broken: forgets the current holder before every acquire.
    broken.acquire = async (request, signal) => {
      broken.breakLease(request.leaseName);
      return acquire(request, signal);
    };
    const secondCandidate = leaseStoreContract(() => broken).find((c) =>
      c.name.startsWith('a second candidate'),
    )!;
    await expect(secondCandidate.run()).rejects.toThrow();
  });
});
