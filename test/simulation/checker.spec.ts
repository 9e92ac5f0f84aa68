import { describe, expect, it } from '@jest/globals';
import type { AcquireRequest } from '../../lib/core/lease-store.js';
import { PINNED } from './pinned.js';
import { runScenario } from './scenario.js';
import { World, type SimConfig } from './world.js';

/**
 * The checker must be able to fail: each invariant that none of the old core's defects broke is
 * broken here on purpose, by sabotaging the store model (the elector is the real one).
 */
const CONFIG: SimConfig = {
  replicas: 2,
  leaseDurationSeconds: 15,
  retryIntervalMs: 1000,
  retryJitter: 0,
  presence: true,
  presenceIntervalMs: 2000,
  delegated: false,
  tasks: false,
  onError: ['restart', 'restart', 'restart', 'restart', 'restart'],
  startMask: 3,
  shutdownTimeoutMs: 10_000,
};

async function violationOf(
  run: (world: World) => Promise<void>,
  config: Partial<SimConfig> = {},
): Promise<string> {
  const world = new World({ ...CONFIG, ...config }, 1);
  await world.init();
  try {
    await run(world);
    world.throwIfViolated();
    await world.finish();
  } catch (error) {
    return (error as { invariant?: string }).invariant ?? String(error);
  }
  return 'none';
}

describe('simulation checker: every invariant can fail', () => {
  it('passes a quiet cluster (control)', async () => {
    expect(await violationOf((w) => w.advance(60_000))).toBe('none');
  });

  it('(d) fast failover: a run overtaken while its tenure still believed is not excused', async () => {
    // The lease is broken the moment the holder steps down, far inside its 9 s belief; its run drains
    // 5 s (≥ the margin), which the checker used to excuse whatever the timing.
    const overtaken = (broken: boolean) =>
      violationOf(
        async (world) => {
          await world.advance(5000);
          await world.apply({ t: 'gatedRun', durationMs: 30_000, drainMs: 5000 });
          await world.advance(100);
          await world.apply({ t: 'stepDown', r: 'leader', cooldownMs: 60_000 });
          await world.advance(10);
          const record = world.model.leases.get('jobs')!;
          if (broken) expect(world.model.breakStale('jobs', record.etag)).toBe(true);
          await world.advance(2000);
          await world.apply({ t: 'gatedRun', durationMs: 30_000, drainMs: 0 });
          await world.advance(10_000);
        },
        { fastLivenessMs: 10_000 },
      );
    expect(await overtaken(false)).toBe('none'); // control: the drain holds the lease
    expect(await overtaken(true)).toBe('d');
  });

  it('(b) a store that writes the same term twice', async () => {
    const violation = await violationOf(async (world) => {
      const acquire = world.model.acquire.bind(world.model);
      world.model.acquire = (request: AcquireRequest, writeTerm?: boolean) => {
        const result = acquire({ ...request, minimumTerm: 0 }, writeTerm);
        const record = world.model.leases.get(request.leaseName);
        if (result.acquired && record) record.term = result.term = 1;
        return result;
      };
      await world.advance(5000);
      await world.apply({ t: 'stepDown', r: 'leader', cooldownMs: 60_000 });
      await world.advance(20_000);
    });
    expect(violation).toBe('b');
  });

  it('(e) a timer left behind by a stopped elector', async () => {
    const violation = await violationOf(async (world) => {
      await world.apply({ t: 'stop', r: 1 });
      await world.advance(20_000);
      world.leaveTimerOnStoppedElector(1);
      await world.advance(1000);
    });
    expect(violation).toBe('e');
  });

  it('(f) liveness: a store that refuses every acquire', async () => {
    const violation = await violationOf(async (world) => {
      world.model.acquire = () => ({ acquired: false, observation: { held: true, term: 0 } });
      await world.advance(1000);
    });
    expect(violation).toBe('f');
  });

  it('(f) liveness: a leader that is stopping does not count (its stop never ends; nobody else can lead)', async () => {
    const violation = await violationOf(async (world) => {
      await world.advance(5000);
      const r = [0, 1].find((i) => world.electorOf(i).isLeader())!;
      expect(r).toBeDefined();
      const leader = world.electorOf(r);
      leader.stop = () => new Promise<void>(() => undefined); // stays 'stopping', and renewing, for ever
      await world.apply({ t: 'stop', r });
      await world.advance(1000);
    });
    expect(violation).toBe('f');
  });

  it('(h) a store whose If-Match never fails: the pinned paused-observer schedule takes the successor’s lease', async () => {
    const pinned = PINNED.find((p) => p.name.startsWith('open on the new core: a replica paused'))!;
    const violation = await runScenario(pinned.scenario(), false, (world) => {
      world.model.conditionHolds = () => true;
    }).then(
      () => 'none',
      (error: unknown) => (error as { invariant?: string }).invariant ?? String(error),
    );
    expect(violation).toBe('h');
  });

  it('(i) a hand-over whose successor is refused', async () => {
    const violation = await violationOf(
      async (world) => {
        await world.advance(5000); // e1 leads (e2 not started yet)
        await world.apply({ t: 'start', r: 1 });
        await world.advance(5000);
        const acquire = world.model.acquire.bind(world.model);
        world.model.acquire = (request: AcquireRequest, writeTerm?: boolean) =>
          request.identity === 'e2'
            ? { acquired: false, observation: { held: true, term: 0 } }
            : acquire(request, writeTerm);
        await world.apply({ t: 'yieldTo', to: 1 });
        await world.advance(200); // the release has landed; the ex-leader's one-poll cooldown still runs
        // The ex-leader leaves too (behind the world's back, so the expectation stands).
        void world.electorOf(0).stop();
        await world.advance(60_000);
      },
      { startMask: 1 },
    );
    expect(violation).toBe('i');
  });
});

/**
 * The checker must not fail a correct core: schedules that once raised a false alarm because of the
 * simulator itself (not the elector), each kept here so that the checker does not regress.
 */
describe('simulation checker: no false alarms', () => {
  it('(f) liveness: every replica stopping when the schedule ends, one is restarted once it has stopped', async () => {
    // Presence keeps both stops in flight (the withdraw goes over the network) when finish() runs.
    const violation = await violationOf(async (world) => {
      await world.apply({ t: 'stop', r: 0 });
      await world.apply({ t: 'stop', r: 1 });
    });
    expect(violation).toBe('none');
  });

  it('(f) stability: a replica restarted after a fault on all is excused by that fault', async () => {
    const ended: string[] = [];
    const violation = await violationOf(
      async (world) => {
        await world.advance(5000); // e1 leads alone
        await world.apply({ t: 'stop', r: 0 });
        await world.advance(1000); // stopped
        // Renewals fail until too close to the restarted e1's deadline for a retry: it ends by deadline.
        await world.apply({ t: 'fault', kind: 'transient', ops: ['renew'], ms: 14_000, delayMs: 0 });
        await world.apply({ t: 'start', r: 0 }); // a new process, created after the fault
        world.electorOf(0).events$.subscribe((e) => void (e.type === 'lost' && ended.push(e.reason)));
        await world.advance(60_000);
      },
      { delegated: true, startMask: 1 },
    );
    expect(ended).toContain('deadline'); // the fault did end the new process's tenure
    expect(violation).toBe('none');
  });
});
