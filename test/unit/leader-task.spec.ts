import { afterEach, describe, expect, it } from '@jest/globals';
import type { Leadership } from '../../lib/core/leader-elector.js';
import { runWhileLeader, type LeaderTaskHandle } from '../../lib/core/leader-task.js';
import { D, RENEW, RETRY, setup, stopAllElectors } from '../support/elector-harness.js';
import { RecordingLogger } from '../support/recording-logger.js';

afterEach(stopAllElectors);

const never = new AbortController().signal;

/** A task that runs until its signal aborts, recording each run; `ignoreSignal` keeps it running until `finish()`. */
function recordingTask(options: { ignoreSignal?: boolean } = {}) {
  const runs: { term: number; abortedWith?: string; ended: boolean }[] = [];
  const finishers: (() => void)[] = [];
  let concurrent = 0;
  let maxConcurrent = 0;
  const task = async (leadership: Leadership): Promise<void> => {
    const run: { term: number; abortedWith?: string; ended: boolean } = {
      term: leadership.term,
      ended: false,
    };
    runs.push(run);
    concurrent += 1;
    maxConcurrent = Math.max(maxConcurrent, concurrent);
    try {
      await new Promise<void>((resolve) => {
        finishers.push(resolve);
        if (options.ignoreSignal) return;
        leadership.signal.addEventListener(
          'abort',
          () => {
            run.abortedWith = String((leadership.signal.reason as Error).message);
            resolve();
          },
          { once: true },
        );
      });
    } finally {
      concurrent -= 1;
      run.ended = true;
    }
  };
  return {
    task,
    runs,
    finishAll: () => finishers.splice(0).forEach((finish) => finish()),
    maxConcurrent: () => maxConcurrent,
  };
}

let handles: LeaderTaskHandle[] = [];
afterEach(() => {
  for (const handle of handles) handle.dispose();
  handles = [];
});

describe('runWhileLeader', () => {
  it('starts in the same turn as the promotion, with the tenure; its signal aborts on step-down; it runs again with the next term', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    const work = recordingTask();
    const startedWhenLeader: boolean[] = [];
    a.elector.events$.subscribe((event) => {
      if (event.type === 'acquired') queueMicrotask(() => startedWhenLeader.push(work.runs.length > 0));
    });
    handles.push(runWhileLeader(a.elector, work.task, { clock, logger: new RecordingLogger() }));
    await a.elector.start();
    expect(work.runs).toEqual([{ term: 1, ended: false }]);
    expect(startedWhenLeader).toEqual([true]);
    await a.elector.stepDown({ cooldownMs: 0 });
    expect(work.runs[0]).toMatchObject({
      ended: true,
      abortedWith: 'Leadership ended: stepped down voluntarily',
    });
    await clock.advance(RETRY);
    expect(work.runs.map((run) => run.term)).toEqual([1, 2]);
    expect(work.maxConcurrent()).toBe(1);
  });

  it('starts at once when the replica already leads; the signal aborts at the deadline, on loss and on stop', async () => {
    const { candidate, clock, memory } = setup();
    const a = candidate('a');
    await a.elector.start();
    const work = recordingTask();
    handles.push(runWhileLeader(a.elector, work.task, { clock, logger: new RecordingLogger() }));
    expect(work.runs).toHaveLength(1);

    a.store.always('renew', { type: 'hang' }); // deadline: 14 s after the last renewal
    await clock.advance(D);
    expect(work.runs[0]!.abortedWith).toMatch(/deadline/);
    a.store.clear();
    await clock.advance(RETRY);
    expect(work.runs).toHaveLength(2);

    memory.breakLease('jobs');
    const b = candidate('b');
    await b.elector.start(); // takes the broken lease
    await clock.advance(RENEW);
    expect(work.runs[1]!.abortedWith).toMatch(/lease lost/);
    await b.elector.stop();
    await clock.advance(RETRY);
    expect(work.runs).toHaveLength(3);

    const stopping = a.elector.stop();
    await clock.advance(100);
    await stopping;
    expect(work.runs[2]!.abortedWith).toMatch(/election stopped/);
    expect(work.maxConcurrent()).toBe(1);
  });

  it('never runs twice at once: a new tenure waits for a run that ignores its signal', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    const logger = new RecordingLogger();
    const work = recordingTask({ ignoreSignal: true });
    const handle = runWhileLeader(a.elector, work.task, { clock, logger });
    handles.push(handle);
    await a.elector.start();
    await a.elector.stepDown({ cooldownMs: 0 });
    await clock.advance(RETRY);
    expect(a.elector.isLeader()).toBe(true); // term 2 began…
    expect(work.runs).toHaveLength(1); // …but its run waits for term 1's
    expect(logger.text()).toMatch(/waits for the previous tenure's run/);
    work.finishAll();
    await clock.advance(1);
    expect(work.runs.map((run) => run.term)).toEqual([1, 2]);
    expect(work.maxConcurrent()).toBe(1);
    expect(handle.running).toBe(true);
  });

  it('restarts a failing task within the tenure with doubling backoff, logging lease and term', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    const logger = new RecordingLogger();
    const starts: number[] = [];
    handles.push(
      runWhileLeader(
        a.elector,
        () => {
          starts.push(clock.now());
          throw new Error('consumer crashed');
        },
        { clock, logger, name: 'Orders.consume', restartDelayMs: 1_000, maxRestartDelayMs: 4_000 },
      ),
    );
    await a.elector.start();
    await clock.advance(12_000);
    expect(starts.slice(0, 5)).toEqual([0, 1_000, 3_000, 7_000, 11_000]);
    expect(logger.text()).toMatch(
      /Orders\.consume of "jobs" \(term 1\) failed \(1 in a row\): consumer crashed; restarting in 1000 ms/,
    );
    expect(a.elector.isLeader()).toBe(true);
  });

  it("onError 'step-down' gives up leadership so another replica can try (what @nestjs/locks does)", async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    const b = candidate('b');
    const logger = new RecordingLogger();
    handles.push(
      runWhileLeader(a.elector, () => Promise.reject(new Error('cannot connect')), {
        clock,
        logger,
        onError: 'step-down',
      }),
    );
    await a.elector.start();
    await b.elector.start();
    await clock.advance(RETRY);
    expect(a.elector.isLeader()).toBe(false);
    expect(b.elector.isLeader()).toBe(true);
    expect(logger.text()).toMatch(/failed: cannot connect; stepping down/);
  });

  it('a run that ends after its tenure ended is not restarted and not an error', async () => {
    const { candidate, clock } = setup();
    const a = candidate('a');
    const logger = new RecordingLogger();
    let runs = 0;
    handles.push(
      runWhileLeader(
        a.elector,
        (leadership) =>
          new Promise<void>((_, reject) => {
            runs += 1;
            leadership.signal.addEventListener('abort', () => reject(leadership.signal.reason), {
              once: true,
            });
          }),
        { clock, logger },
      ),
    );
    await a.elector.start();
    await a.elector.stepDown({ cooldownMs: 60_000 });
    await clock.advance(10_000);
    expect(runs).toBe(1);
    expect(logger.lines.filter((line) => line.level === 'error')).toHaveLength(0);
  });

  it('stop: the lease is not released while a run ignores its signal past the timeout, and is released when work ends in time', async () => {
    const { candidate, clock, memory } = setup();
    const a = candidate('a');
    const stubborn = recordingTask({ ignoreSignal: true });
    const handle = runWhileLeader(a.elector, stubborn.task, { clock, logger: new RecordingLogger() });
    handles.push(handle);
    await a.elector.start();
    const stopping = a.elector.stop({ beforeRelease: () => handle.whenIdle(1_000) });
    await clock.advance(1_500);
    await stopping;
    expect(await memory.observe('jobs', never)).toMatchObject({ held: true, holder: 'a' });
    expect(a.logger.text()).toMatch(/Not releasing lease "jobs": work of the ended tenure is still running/);

    const b = candidate('b');
    const polite = recordingTask();
    const politeHandle = runWhileLeader(b.elector, polite.task, { clock, logger: new RecordingLogger() });
    handles.push(politeHandle);
    await b.elector.start();
    await clock.advance(D + RETRY); // a's lease expires; b takes over
    expect(b.elector.isLeader()).toBe(true);
    const stoppingB = b.elector.stop({ beforeRelease: () => politeHandle.whenIdle(1_000) });
    await clock.advance(100);
    await stoppingB;
    expect(await memory.observe('jobs', never)).toMatchObject({ held: false });
  });

  it('validates its options with a message naming the option', () => {
    const { candidate } = setup();
    const a = candidate('a');
    expect(() => runWhileLeader(a.elector, () => undefined, { onError: 'crash' as never })).toThrow(
      /"onError": got "crash"; allowed: "restart" or "step-down"/,
    );
    expect(() => runWhileLeader(a.elector, () => undefined, { restartDelayMs: -1 })).toThrow(
      /"restartDelayMs"/,
    );
  });
});
