// A leader whose main thread then runs CPU-bound work for BLOCK_MS (a busy loop nothing can
// interrupt), BLOCKS times with GAP_MS of free event loop between, with renewals on the renewal
// thread (THREAD=1) or on the main thread. Storage: CONNECTION_STRING, or ACCOUNT_URL with a
// TokenCredential whose tokens Azurite (--oauth basic) accepts for TOKEN_LIFETIME_MS (the child then
// needs NODE_EXTRA_CA_CERTS for Azurite's certificate). Prints one JSON line when leading and one
// after each block. Used by test/e2e/renewal-thread.e2e.spec.ts; needs the built library (npm run
// build:apps builds dist/lib).
import { AzureBlobLeaseStore, LeaderElector, RenewalThread, silentLogger } from '../../dist/lib/index.js';
import { azuriteToken } from './azurite.mjs';

const {
  CONNECTION_STRING,
  ACCOUNT_URL,
  TOKEN_LIFETIME_MS,
  CONTAINER,
  THREAD,
  MAX_BLOCKED_MS,
  BLOCK_MS,
  BLOCKS,
  GAP_MS,
} = process.env;
let tokensMinted = 0;
const credential = {
  async getToken() {
    tokensMinted += 1;
    return azuriteToken(Number(TOKEN_LIFETIME_MS ?? 3_600_000));
  },
};
const connection = ACCOUNT_URL
  ? { accountUrl: ACCOUNT_URL, credential }
  : { connectionString: CONNECTION_STRING };
const store = new AzureBlobLeaseStore({ ...connection, containerName: CONTAINER });
const thread =
  THREAD === '1'
    ? new RenewalThread({ ...connection, containerName: CONTAINER, maxBlockedMs: Number(MAX_BLOCKED_MS) })
    : undefined;
await thread?.ready;
const elector = new LeaderElector(
  store,
  { leaseName: 'blocked-job', identity: 'blocked', retryIntervalMs: 200, retryJitter: 0, presence: false },
  { renewalDelegate: thread, logger: silentLogger },
);
await elector.start();
const leadership = await elector.waitForLeadership();
console.log(JSON.stringify({ leading: true, term: leadership.term }));
for (let block = 1; block <= Number(BLOCKS ?? 1); block++) {
  if (block > 1) await new Promise((resolve) => setTimeout(resolve, Number(GAP_MS ?? 0)));
  const end = Date.now() + Number(BLOCK_MS);
  while (Date.now() < end) {
    // CPU-bound work: the event loop does not turn.
  }
  console.log(
    JSON.stringify({
      afterBlock: block,
      isLeader: elector.isLeader(),
      active: leadership.isActive(),
      term: elector.state.term,
      tokensMinted,
    }),
  );
}
await elector.stop();
await thread?.close();
process.exit(0);
