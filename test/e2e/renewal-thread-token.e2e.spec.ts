import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { startAzurite, type RunningAzurite } from '../support/azurite.mjs';
import {
  BLOCK_MS,
  killBlockingLeaders,
  startBlockingLeader,
  type BlockingLeaderLine as Line,
} from './blocking-leader-process.js';

// Issue 11, renewal off the main thread with a TokenCredential: the main thread mints storage tokens
// and hands them to the renewal thread. On an Azurite of its own over HTTPS with --oauth basic; the
// blocking leader is a separate process. Split from renewal-thread.e2e.spec.ts so the two run side by side.

jest.setTimeout(90_000);

afterEach(() => killBlockingLeaders());

describe('renewal off the main thread: each way to reach storage', () => {
  describe('accountUrl + TokenCredential (Azurite over HTTPS with --oauth basic)', () => {
    let oauthAzurite: RunningAzurite;
    beforeAll(async () => {
      oauthAzurite = await startAzurite({ oauth: true });
    });
    afterAll(async () => {
      await oauthAzurite?.stop();
    });

    async function runWithToken(thread: boolean, blocks: number): Promise<Line[]> {
      const leader = startBlockingLeader({
        ACCOUNT_URL: oauthAzurite.accountUrl!,
        NODE_EXTRA_CA_CERTS: oauthAzurite.caFile!,
        TOKEN_LIFETIME_MS: '30000',
        CONTAINER: `e2e-token-${randomBytes(4).toString('hex')}`,
        THREAD: thread ? '1' : '0',
        MAX_BLOCKED_MS: '60000',
        BLOCK_MS: String(BLOCK_MS),
        BLOCKS: String(blocks),
        GAP_MS: '1000',
      });
      const lines = [await leader.next()];
      for (let i = 0; i < blocks; i++) lines.push(await leader.next());
      return lines;
    }

    it('tokens minted on the main thread reach the thread before they expire: two 20 s blocks (41 s, past the 30 s token life) keep the lease under one term', async () => {
      const [before, first, second] = await runWithToken(true, 2);
      expect(before).toMatchObject({ leading: true, term: 1 });
      expect(first).toMatchObject({ afterBlock: 1, isLeader: true, active: true, term: 1 });
      // The second block renews with a token minted after the first: the first one expired during it.
      expect(second).toMatchObject({ afterBlock: 2, isLeader: true, active: true, term: 1 });
      expect(second!.tokensMinted).toBeGreaterThanOrEqual(2);
    });

    it('control: the same credential with main-thread renewals loses the lease in a 20 s block', async () => {
      const [before, after] = await runWithToken(false, 1);
      expect(before).toMatchObject({ leading: true, term: 1 });
      expect(after).toMatchObject({ afterBlock: 1, isLeader: false, active: false });
    });
  });
});
