import { describe, expect, it, jest } from '@jest/globals';
import { Subject } from 'rxjs';
import { LeaderElectionSetupError } from '../../lib/core/errors.js';
import type { Leadership, LeaderElector } from '../../lib/core/leader-elector.js';
import { runWhileLeader, type LeaderTaskOptions } from '../../lib/core/leader-task.js';
import { ManualClock, settle } from '../support/manual-clock.js';
import { RecordingLogger } from '../support/recording-logger.js';

// runWhileLeader's rules against a scripted elector on the manual clock: one run per tenure, never
// two at once, restarts with a bounded doubling backoff, step-down on failure, whenIdle's bound, and
// dispose() ending the registration.

class ScriptedElector {
  readonly leaseName = 'jobs';
  readonly events = new Subject<{ type: string; term?: number }>();
  readonly events$ = this.events.asObservable();
  leadership?: Leadership & { end(): void };
  stepDowns = 0;

  lead(term: number, announce = true): Leadership & { end(): void } {
    const controller = new AbortController();
    let active = true;
    const tenure = {
      leaseName: this.leaseName,
      identity: 'me',
      term,
      signal: controller.signal,
      since: 0,
      isActive: () => active,
      remainingMs: () => (active ? 10_000 : 0),
      end: () => {
        active = false;
        if (this.leadership === tenure) this.leadership = undefined;
        controller.abort(new Error(`term ${term} ended`));
      },
    };
    this.leadership = tenure;
    if (announce) this.events.next({ type: 'acquired', term });
    return tenure;
  }

  async stepDown(): Promise<void> {
    this.stepDowns += 1;
    this.leadership?.end();
  }
}

function register(
  task: (leadership: Leadership) => unknown,
  options: LeaderTaskOptions = {},
): {
  elector: ScriptedElector;
  clock: ManualClock;
  logger: RecordingLogger;
  handle: ReturnType<typeof runWhileLeader>;
} {
  const elector = new ScriptedElector();
  const clock = new ManualClock();
  const logger = new RecordingLogger();
  const handle = runWhileLeader(elector as unknown as LeaderElector, task, { clock, logger, ...options });
  return { elector, clock, logger, handle };
}

/** A task that runs until released (`finish`), optionally ignoring its signal. */
function gatedTask(ignoreSignal = false) {
  const started: number[] = [];
  const finishers: Array<() => void> = [];
  const task = (leadership: Leadership): Promise<void> => {
    started.push(leadership.term);
    return new Promise<void>((resolve) => {
      finishers.push(resolve);
      if (!ignoreSignal) leadership.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  };
  return { task, started, finish: () => finishers.splice(0).forEach((resolve) => resolve()) };
}

// These run first: each one fails by assertion, before any clock advance, on a mutant that would
// otherwise make the longer tests below loop or wait for ever.
describe('leader task rules: restart backoff and whenIdle, checked step by step', () => {
  it('restart backoff: restartDelayMs after the first failure, doubled after each further one, logged with the count in a row', async () => {
    const { elector, clock, logger } = register(
      () => {
        throw new Error('broken');
      },
      { restartDelayMs: 100 },
    );
    elector.lead(1);
    await settle();
    expect(logger.text()).toBe(
      'error: leader task of "jobs" (term 1) failed (1 in a row): broken; restarting in 100 ms',
    );
    await clock.advance(100);
    expect(logger.lines[1]!.message).toBe(
      'leader task of "jobs" (term 1) failed (2 in a row): broken; restarting in 200 ms',
    );
  });

  it('restart backoff defaults: 1 s after the first failure, doubling up to 30 s', async () => {
    const { elector, clock, logger } = register(() => {
      throw new Error('broken');
    });
    elector.lead(1);
    await settle();
    expect(logger.lines[0]!.message).toContain('restarting in 1000 ms');
    await clock.advance(1_000 + 2_000 + 4_000 + 8_000 + 16_000);
    expect(logger.lines.map((line) => line.message.replace(/.*restarting in /, ''))).toEqual([
      '1000 ms',
      '2000 ms',
      '4000 ms',
      '8000 ms',
      '16000 ms',
      '30000 ms',
    ]);
  });

  it('whenIdle: true at once when no run is going', async () => {
    const { handle } = register(() => undefined);
    let idle: boolean | undefined;
    void handle.whenIdle().then((result) => (idle = result));
    await settle();
    expect(idle).toBe(true);
  });

  it('whenIdle(bound): false once the bound passes while a run is still going', async () => {
    const work = gatedTask(true);
    const { elector, clock, handle } = register(work.task);
    elector.lead(1);
    let idle: boolean | undefined;
    void handle.whenIdle(1_000).then((result) => (idle = result));
    await clock.advance(1_000);
    expect(idle).toBe(false);
  });

  it('a task that returns after its tenure ended is not "finished while leading": nothing is logged', async () => {
    const work = gatedTask();
    const { elector, logger, handle } = register(work.task);
    elector.lead(1).end(); // the task returns when its signal aborts
    await settle();
    expect(handle.running).toBe(false);
    expect(logger.lines).toEqual([]);
  });

  it('an acquired event for another term than the current tenure starts nothing (no wait for the running run)', async () => {
    const work = gatedTask();
    const { elector, logger, handle } = register(work.task);
    elector.lead(1);
    elector.events.next({ type: 'acquired', term: 7 });
    await settle();
    expect(logger.lines).toEqual([]);
    expect(handle.runs).toBe(1);
  });

  it('without a logger option, warnings go to the console named "LeaderTask:<lease>"', async () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const elector = new ScriptedElector();
      const work = gatedTask(true);
      runWhileLeader(elector as unknown as LeaderElector, work.task, { clock: new ManualClock() });
      elector.lead(1).end();
      elector.lead(2); // waits for term 1's run, which ignores its signal: a warning
      await settle();
      expect(warn).toHaveBeenCalledWith(
        '[LeaderTask:jobs] leader task of "jobs" (term 2) waits for the previous tenure\'s run, ' +
          'which has not stopped after its signal aborted',
      );
    } finally {
      warn.mockRestore();
    }
  });
});

describe('leader task rules', () => {
  it('starts one run per tenure on its acquired event, and none for other events or a stale term', async () => {
    const work = gatedTask();
    const { elector, handle } = register(work.task);
    expect(handle.running).toBe(false);
    elector.events.next({ type: 'renewed', term: 1 });
    expect(work.started).toEqual([]);
    const first = elector.lead(1);
    expect(work.started).toEqual([1]);
    expect(handle.running).toBe(true);
    expect(handle.runs).toBe(1);
    elector.events.next({ type: 'acquired', term: 7 }); // not the current tenure's term
    await settle();
    first.end();
    await settle();
    expect(handle.running).toBe(false);
    elector.events.next({ type: 'acquired', term: 2 }); // no tenure at all
    await settle();
    expect(work.started).toEqual([1]);
    elector.lead(3);
    await settle();
    expect(work.started).toEqual([1, 3]);
    expect(handle.runs).toBe(2);
  });

  it('a replica that already leads starts at once', () => {
    const elector = new ScriptedElector();
    elector.lead(4, false);
    const work = gatedTask();
    runWhileLeader(elector as unknown as LeaderElector, work.task, { clock: new ManualClock() });
    expect(work.started).toEqual([4]);
  });

  it('a task that returns while leading is done for that tenure (logged at debug), and runs again on the next', async () => {
    let calls = 0;
    const { elector, logger } = register(() => void (calls += 1), { name: 'Orders.sync' });
    const tenure = elector.lead(1);
    await settle();
    expect(calls).toBe(1);
    expect(logger.text()).toBe(
      'debug: Orders.sync of "jobs" (term 1) finished while leading; it runs again on the next tenure',
    );
    tenure.end();
    elector.lead(2);
    await settle();
    expect(calls).toBe(2);
  });

  it('a task that ends after its tenure ended is logged quietly at debug, never restarted', async () => {
    const { elector, logger, handle } = register(async (leadership) => {
      await new Promise((resolve) => leadership.signal.addEventListener('abort', resolve));
      throw new Error('interrupted');
    });
    elector.lead(1).end();
    await settle();
    expect(logger.text()).toBe(
      'debug: leader task of "jobs" (term 1) ended after its tenure ended: interrupted',
    );
    expect(handle.runs).toBe(1);
  });

  it('a failing task restarts within its tenure after a doubling backoff capped at maxRestartDelayMs', async () => {
    const starts: number[] = [];
    const { elector, clock, logger, handle } = register(
      () => {
        starts.push(clock.now());
        throw new Error('broken');
      },
      { restartDelayMs: 100, maxRestartDelayMs: 350 },
    );
    elector.lead(1);
    await clock.advance(2_000);
    expect(starts.slice(0, 5)).toEqual([0, 100, 300, 650, 1_000]);
    expect(handle.runs).toBe(starts.length);
    expect(logger.lines[0]).toEqual({
      level: 'error',
      message: 'leader task of "jobs" (term 1) failed (1 in a row): broken; restarting in 100 ms',
    });
    expect(logger.lines[2]!.message).toContain('failed (3 in a row): broken; restarting in 350 ms');
    elector.leadership!.end();
    await clock.advance(2_000);
    const ended = starts.length;
    await clock.advance(2_000);
    expect(starts.length).toBe(ended); // no restarts once the tenure ended
  });

  it("onError 'step-down' gives up leadership once, logging why", async () => {
    const { elector, logger, handle } = register(
      () => {
        throw new Error('poison');
      },
      { onError: 'step-down', name: 'consumer' },
    );
    elector.lead(1);
    await settle();
    expect(elector.stepDowns).toBe(1);
    expect(handle.runs).toBe(1);
    expect(logger.text()).toBe(
      'error: consumer of "jobs" (term 1) failed: poison; stepping down so another replica can lead',
    );
  });

  it('never two runs at once: a new tenure waits for the previous run that ignores its signal, then runs if still current', async () => {
    const work = gatedTask(true);
    const { elector, logger, handle } = register(work.task);
    elector.lead(1).end();
    elector.lead(2);
    await settle();
    expect(work.started).toEqual([1]);
    expect(logger.text()).toContain(
      'warn: leader task of "jobs" (term 2) waits for the previous tenure\'s run, which has not stopped after its signal aborted',
    );
    work.finish();
    await settle();
    expect(work.started).toEqual([1, 2]);
    expect(handle.running).toBe(true);
    elector.leadership!.end();
    elector.lead(3);
    elector.leadership!.end(); // term 3 ends before term 2's run stops
    work.finish();
    await settle();
    expect(work.started).toEqual([1, 2]);
    expect(handle.running).toBe(false);
  });

  it('whenIdle: true at once when idle, true when the run ends, false after its bound; without a bound it waits', async () => {
    const work = gatedTask(true);
    const { elector, clock, handle } = register(work.task);
    await expect(handle.whenIdle(0)).resolves.toBe(true);
    elector.lead(1).end();
    const bounded = handle.whenIdle(1_000);
    let unbounded: boolean | undefined;
    void handle.whenIdle().then((idle) => (unbounded = idle));
    let early: boolean | undefined;
    void handle.whenIdle(5_000).then((idle) => (early = idle));
    await clock.advance(999);
    expect(unbounded).toBeUndefined();
    await clock.advance(1);
    await expect(bounded).resolves.toBe(false);
    await clock.advance(60_000);
    expect(unbounded).toBeUndefined();
    expect(early).toBe(false);
    const later = handle.whenIdle(1_000);
    work.finish();
    await settle();
    expect(unbounded).toBe(true);
    await expect(later).resolves.toBe(true);
    await clock.advance(2_000); // its bound passing after it resolved changes nothing
  });

  it('dispose(): no new runs on later tenures, and a restarting run stops restarting', async () => {
    const work = gatedTask();
    const { elector, handle } = register(work.task);
    handle.dispose();
    elector.lead(1);
    await settle();
    expect(work.started).toEqual([]);

    let failures = 0;
    const restarting = register(
      () => {
        failures += 1;
        throw new Error('x');
      },
      { restartDelayMs: 10 },
    );
    restarting.elector.lead(1);
    await restarting.clock.advance(5);
    restarting.handle.dispose();
    await restarting.clock.advance(1_000);
    expect(failures).toBe(1);
  });

  it('bad options are refused, naming the option, the value and what is allowed', () => {
    const elector = new ScriptedElector() as unknown as LeaderElector;
    expect(() => runWhileLeader(elector, 'nope' as never)).toThrow(
      new LeaderElectionSetupError('runWhileLeader: task must be a function'),
    );
    expect(() => runWhileLeader(elector, () => 0, { onError: 'ignore' as never })).toThrow(
      'Invalid leader task option "onError": got "ignore"; allowed: "restart" or "step-down"',
    );
    for (const value of [-1, Number.NaN, Number.POSITIVE_INFINITY, '5' as unknown as number])
      expect(() => runWhileLeader(elector, () => 0, { restartDelayMs: value })).toThrow(
        `Invalid leader task option "restartDelayMs": got ${String(value)}; allowed: a number of ms ≥ 0`,
      );
    expect(() => runWhileLeader(elector, () => 0, { maxRestartDelayMs: -5 })).toThrow(
      'Invalid leader task option "maxRestartDelayMs": got -5; allowed: a number of ms ≥ 0',
    );
    expect(() =>
      runWhileLeader(elector, () => 0, { restartDelayMs: 0, clock: new ManualClock() }),
    ).not.toThrow();
  });

  it('a maxRestartDelayMs below restartDelayMs is raised to it', async () => {
    const starts: number[] = [];
    const { elector, clock } = register(
      () => {
        starts.push(clock.now());
        throw new Error('x');
      },
      { restartDelayMs: 200, maxRestartDelayMs: 50 },
    );
    elector.lead(1);
    await clock.advance(700);
    expect(starts.slice(0, 4)).toEqual([0, 200, 400, 600]);
  });
});
