import { afterEach, describe, expect, it, vi } from 'vitest';
import { LeaderElector } from '../../lib/core/leader-elector.js';
import { silentLogger } from '../../lib/core/logger.js';
import { MemoryLeaseStore } from '../../lib/stores/memory/memory-lease-store.js';
import { ManualLeaderElector } from '../../lib/testing/manual-leader-elector.js';

// The same promises as test/e2e/fake-timers.e2e.spec.ts, under Vitest's fake timers (issue 12):
// the clock follows the fake timers, so nothing spins and fake time ends a leadership; the testing
// kit's elections create no timers at all.

afterEach(() => {
  vi.useRealTimers();
});

describe('under Vitest fake timers', () => {
  it('vi.runAllTimers() finishes with a leader (no deadline timer re-arming itself against real time)', async () => {
    vi.useFakeTimers();
    const elector = new LeaderElector(
      new MemoryLeaseStore(),
      { leaseName: 'jobs', identity: 'a', presence: false },
      { logger: silentLogger },
    );
    await elector.start();
    expect(elector.isLeader()).toBe(true);
    expect(() => vi.runAllTimers()).not.toThrow();
    const stopping = elector.stop();
    await vi.runOnlyPendingTimersAsync();
    await stopping;
  });

  it('fake time ends a leadership whose renewals cannot complete, and keeps one that renews', async () => {
    vi.useFakeTimers();
    const healthy = new MemoryLeaseStore();
    const kept = new LeaderElector(
      healthy,
      { leaseName: 'jobs', identity: 'a', presence: false },
      { logger: silentLogger },
    );
    await kept.start();
    const stuck = new MemoryLeaseStore();
    const lost = new LeaderElector(
      stuck,
      { leaseName: 'jobs', identity: 'b', presence: false },
      { logger: silentLogger },
    );
    await lost.start();
    stuck.renew = () => new Promise<void>(() => undefined);
    stuck.observe = () => new Promise(() => undefined);
    stuck.acquire = () => new Promise(() => undefined);
    await vi.advanceTimersByTimeAsync(60 * 60_000);
    expect(kept.isLeader()).toBe(true);
    expect(kept.state.term).toBe(1);
    expect(lost.isLeader()).toBe(false);
    const stopping = Promise.all([kept.stop(), lost.stop()]);
    await vi.advanceTimersByTimeAsync(30_000);
    await stopping;
  });

  it("the testing kit's elector creates no timers: vi.getTimerCount() is unchanged while leading and after", async () => {
    vi.useFakeTimers();
    const before = vi.getTimerCount();
    const elector = new ManualLeaderElector(
      { leaseName: 'jobs', identity: 'test' },
      { logger: silentLogger },
      { term: 3 },
    );
    await elector.start();
    expect(elector.isLeader()).toBe(true);
    vi.advanceTimersByTime(24 * 60 * 60_000);
    expect(elector.leadership?.term).toBe(3);
    elector.revoke('deadline');
    expect(elector.isLeader()).toBe(false);
    await elector.stop();
    expect(vi.getTimerCount()).toBe(before);
  });
});
