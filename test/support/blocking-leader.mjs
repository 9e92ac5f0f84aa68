// A leader whose main thread then runs CPU-bound work for BLOCK_MS (a busy loop nothing can
// interrupt), with renewals on the renewal thread (THREAD=1) or on the main thread. Prints one JSON
// line when leading and one after the block. Used by test/e2e/renewal-thread.e2e.spec.ts; needs the
// built library (npm run build:apps builds dist/lib).
import { AzureBlobLeaseStore, LeaderElector, RenewalThread, silentLogger } from '../../dist/lib/index.js';

const { CONNECTION_STRING, CONTAINER, THREAD, MAX_BLOCKED_MS, BLOCK_MS } = process.env;
const store = new AzureBlobLeaseStore({ connectionString: CONNECTION_STRING, containerName: CONTAINER });
const thread = THREAD === '1' ? new RenewalThread({ connectionString: CONNECTION_STRING, containerName: CONTAINER, maxBlockedMs: Number(MAX_BLOCKED_MS) }) : undefined;
await thread?.ready;
const elector = new LeaderElector(
  store,
  { leaseName: 'blocked-job', identity: 'blocked', retryIntervalMs: 200, retryJitter: 0, presence: false },
  { renewalDelegate: thread, logger: silentLogger },
);
await elector.start();
const leadership = await elector.waitForLeadership();
console.log(JSON.stringify({ leading: true, term: leadership.term }));
const end = Date.now() + Number(BLOCK_MS);
while (Date.now() < end) {
  // CPU-bound work: the event loop does not turn.
}
console.log(JSON.stringify({ afterBlock: true, isLeader: elector.isLeader(), active: leadership.isActive(), term: elector.state.term }));
await elector.stop();
await thread?.close();
process.exit(0);
