import type { Clock, TimerHandle } from '../../lib/core/clock.js';

/** A simulated process: SIGSTOP pauses all of it, a blocked main thread only its main-thread owners. */
export class Proc {
  paused = false;
  blocked = false;
  dead = false;
  constructor(readonly name: string) {}
}

/**
 * Who a timer belongs to: a thread of a process, or the network/world (never halted). A halted
 * owner's timers stay due but do not fire until it runs again, while time, and the store's leases,
 * go on. A dead process's timers never fire (SIGKILL).
 */
export class Owner {
  readonly timers = new Set<number>();
  constructor(
    readonly name: string,
    readonly proc?: Proc,
    readonly thread: 'main' | 'worker' = 'main',
  ) {}

  get halted(): boolean {
    const proc = this.proc;
    if (!proc) return false;
    return proc.dead || proc.paused || (this.thread === 'main' && proc.blocked);
  }
}

interface Timer {
  id: number;
  at: number;
  owner: Owner;
  callback: () => void;
}

/** The one virtual time of a simulation, and every timer in it. No real timer is ever used. */
export class Scheduler {
  private time = 0;
  private seq = 0;
  private readonly timers = new Map<number, Timer>();
  /** Called after every timer and its promise continuations have run. */
  onStep?: () => void;
  /** Timers fired so far (a cost measure). */
  fired = 0;

  get now(): number {
    return this.time;
  }

  setTimeout(owner: Owner, callback: () => void, delayMs: number): number {
    const id = ++this.seq;
    const delay = Number.isFinite(delayMs) ? Math.max(0, delayMs) : 2_147_483_647;
    this.timers.set(id, { id, at: this.time + delay, owner, callback });
    owner.timers.add(id);
    return id;
  }

  clearTimeout(id: number): void {
    const timer = this.timers.get(id);
    if (!timer) return;
    this.timers.delete(id);
    timer.owner.timers.delete(id);
  }

  /** A Clock for code that runs on `owner`. */
  clockFor(owner: Owner): Clock {
    return {
      now: () => this.time,
      wallNow: () => WALL_START + this.time,
      setTimeout: (callback, delayMs): TimerHandle => this.setTimeout(owner, callback, delayMs),
      clearTimeout: (handle) => this.clearTimeout(handle as number),
    };
  }

  /** Moves time to `target`, firing due timers of running owners in time order (ties: creation order). */
  async advanceTo(target: number): Promise<void> {
    await settle();
    this.onStep?.();
    for (;;) {
      const next = this.nextDue(target);
      if (!next) break;
      this.timers.delete(next.id);
      next.owner.timers.delete(next.id);
      this.time = Math.max(this.time, next.at);
      this.fired += 1;
      next.callback();
      await settle();
      this.onStep?.();
    }
    this.time = Math.max(this.time, target);
    await settle();
    this.onStep?.();
  }

  private nextDue(target: number): Timer | undefined {
    let best: Timer | undefined;
    for (const timer of this.timers.values()) {
      if (timer.at > target) continue;
      if (timer.owner.proc?.dead) {
        this.timers.delete(timer.id);
        timer.owner.timers.delete(timer.id);
        continue;
      }
      if (timer.owner.halted) continue;
      if (!best || timer.at < best.at || (timer.at === best.at && timer.id < best.id)) best = timer;
    }
    return best;
  }
}

export const WALL_START = Date.UTC(2026, 0, 1);

/**
 * Lets every pending promise continuation run: the simulated code only continues from promises and
 * virtual timers, so one macrotask turn drains every microtask chain it started.
 */
export function settle(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}
