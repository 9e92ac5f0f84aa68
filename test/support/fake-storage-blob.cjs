/* eslint-disable @typescript-eslint/no-require-imports, no-undef */
// A stand-in for @azure/storage-blob inside the renewal worker (test/unit/renewal-thread-slots.spec.ts).
// Loading it takes a long time on purpose, and it moves the main thread's clock probe while it loads:
// a worker that measures its clock offset after loading the SDK then reads a wrong probe
// (with workerData.fakeShiftsProbe).
// Each renewLease call is reported to the test and resolves after workerData.fakeRenewMs.
const { parentPort, workerData } = require('node:worker_threads');
const PROBE = 1;
if (workerData.fakeShiftsProbe)
  Atomics.store(workerData.state, PROBE, Atomics.load(workerData.state, PROBE) - 1_000_000_000n);
let calls = 0;
const lease = {
  renewLease: () => {
    calls += 1;
    parentPort.postMessage({ type: 'fake-renew', call: calls });
    return new Promise((resolve) => setTimeout(() => resolve({}), workerData.fakeRenewMs ?? 0));
  },
};
const container = { getBlobClient: () => ({ getBlobLeaseClient: () => lease }) };
module.exports = {
  BlobServiceClient: {
    fromConnectionString: () => ({ getContainerClient: () => container }),
  },
};
