import type { Clock, TimerHandle } from '../core/clock.js';

interface Timer {
  id: number;
  at: number;
  seq: number;
  callback: () => void;
}

/**
 * A clock that only moves when the test says so (like ManualLockClock in @nestjs/locks), for driving
 * a LeaderElector in unit tests: `new LeaderElector(store, options, { clock })`. advance() fires due
 * timers in time order and lets
 * promise chains settle between them (with setImmediate: do not combine it with fake timers that fake
 * setImmediate), so async code runs as it would, at exact virtual times.
 */
export class ManualClock implements Clock {
  private time = 0;
  private seq = 0;
  private readonly timers = new Map<number, Timer>();
  readonly wallStart = Date.UTC(2026, 0, 1);

  now(): number {
    return this.time;
  }

  wallNow(): number {
    return this.wallStart + this.time;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { id, at: this.time + Math.max(0, delayMs), seq: id, callback });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as number);
  }

  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  async advance(ms: number): Promise<void> {
    await this.advanceTo(this.time + ms);
  }

  async advanceTo(target: number): Promise<void> {
    await settle();
    for (;;) {
      const next = this.nextDue(target);
      if (!next) break;
      this.timers.delete(next.id);
      this.time = Math.max(this.time, next.at);
      next.callback();
      await settle();
    }
    this.time = Math.max(this.time, target);
    await settle();
  }

  /**
   * Moves time forward WITHOUT firing timers: what a stalled process sees when it resumes and
   * code runs before the overdue timers do.
   */
  jump(ms: number): void {
    this.time += ms;
  }

  private nextDue(target: number): Timer | undefined {
    let best: Timer | undefined;
    for (const timer of this.timers.values()) {
      if (timer.at > target) continue;
      if (!best || timer.at < best.at || (timer.at === best.at && timer.seq < best.seq)) best = timer;
    }
    return best;
  }
}

/** Lets every pending promise continuation run (a few macrotask turns). */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
