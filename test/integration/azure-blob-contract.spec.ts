import { randomBytes } from 'node:crypto';
import { describe, it } from '@jest/globals';
import { AzureBlobLeaseStore } from '../../lib/stores/azure-blob/azure-blob-lease-store.js';
import { leaseStoreContract } from '../../lib/testing/index.js';

// The shipped LeaseStore contract suite against the Azure store on the Jest global Azurite. The
// expiry cases need a manual clock and are exercised on the memory store; lease expiry on Azurite
// is covered by test/integration/leader-election.azurite.spec.ts.
const connectionString = process.env.AZURITE_CONNECTION_STRING!;
const containerName = `it-contract-${randomBytes(4).toString('hex')}`;

describe('LeaseStore contract: AzureBlobLeaseStore on Azurite', () => {
  const store = new AzureBlobLeaseStore({ connectionString, containerName });
  const cases = leaseStoreContract(() => store, {
    deleteRecord: async (leaseName) => {
      const blob = store.container.getBlobClient(leaseName);
      await blob
        .getBlobLeaseClient()
        .breakLease(0)
        .catch(() => undefined);
      await blob.delete();
    },
    capabilities: { previousTerm: true, recoveredTerm: true, recordLostError: true },
  });
  for (const contractCase of cases) it(contractCase.name, () => contractCase.run());
});
