import { getEventListeners } from 'node:events';
import { describe, expect, it } from '@jest/globals';
import { linkSignals, MAX_TIMER_DELAY_MS, sleep, systemClock } from '../../lib/core/clock.js';
import { ManualClock } from '../support/manual-clock.js';

describe('systemClock', () => {
  it('caps delays at 2^31 − 1 ms instead of letting Node fire them after 1 ms', async () => {
    let fired = false;
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning.name);
    process.on('warning', onWarning);
    const handle = systemClock.setTimeout(() => (fired = true), Number.MAX_SAFE_INTEGER);
    await new Promise((resolve) => setTimeout(resolve, 30));
    systemClock.clearTimeout(handle);
    process.off('warning', onWarning);
    expect(fired).toBe(false);
    expect(warnings).not.toContain('TimeoutOverflowWarning');
    expect(MAX_TIMER_DELAY_MS).toBe(2 ** 31 - 1);
  });
});

describe('sleep', () => {
  it('resolves when any of several signals aborts, and leaves no listener on any of them', async () => {
    const clock = new ManualClock();
    const a = new AbortController();
    const b = new AbortController();
    let done = false;
    const sleeping = sleep(clock, 10_000, [a.signal, b.signal]).then(() => (done = true));
    expect(getEventListeners(a.signal, 'abort')).toHaveLength(1);
    b.abort();
    await sleeping;
    expect(done).toBe(true);
    expect(getEventListeners(a.signal, 'abort')).toHaveLength(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('removes its listeners from long-lived signals when the time is up', async () => {
    const clock = new ManualClock();
    const longLived = new AbortController();
    for (let i = 0; i < 100; i++) {
      const sleeping = sleep(clock, 1_000, [longLived.signal]);
      await clock.advance(1_000);
      await sleeping;
    }
    expect(getEventListeners(longLived.signal, 'abort')).toHaveLength(0);
  });
});

describe('linkSignals', () => {
  it('aborts with the reason of the source that aborted first', () => {
    const a = new AbortController();
    const b = new AbortController();
    const linked = linkSignals([a.signal, b.signal]);
    expect(linked.signal.aborted).toBe(false);
    b.abort(new Error('b went away'));
    a.abort(new Error('a too'));
    expect(linked.signal.aborted).toBe(true);
    expect((linked.signal.reason as Error).message).toBe('b went away');
    expect(getEventListeners(a.signal, 'abort')).toHaveLength(0);
  });

  it('is aborted at once when a source already is', () => {
    const a = new AbortController();
    a.abort('gone');
    expect(linkSignals([a.signal]).signal.reason).toBe('gone');
  });

  it('dispose() detaches it from the sources', () => {
    const longLived = new AbortController();
    for (let i = 0; i < 100; i++) linkSignals([longLived.signal]).dispose();
    expect(getEventListeners(longLived.signal, 'abort')).toHaveLength(0);
    const kept = linkSignals([longLived.signal]);
    kept.dispose();
    longLived.abort();
    expect(kept.signal.aborted).toBe(false);
  });
});
