import fc from 'fast-check';
import type { FaultKind, Operation } from './connection.js';
import { describeOp, JOBS, normalizeOp, SIDE, World, type Op, type SimConfig } from './world.js';

/** One step of a schedule: apply an operation, then let `dtMs` of virtual time pass. */
export interface Step {
  op: Op;
  dtMs: number;
}

export class SimCommand implements fc.AsyncCommand<object, World> {
  constructor(readonly step: Step) {}
  check(): boolean {
    return true;
  }
  async run(_model: object, world: World): Promise<void> {
    await world.apply(this.step.op);
    world.throwIfViolated();
    await world.advance(this.step.dtMs);
    world.throwIfViolated();
  }
  toString(): string {
    return `${describeOp(this.step.op)}; +${this.step.dtMs} ms`;
  }
}

/** Which operations a generator favours (every profile can produce every operation). */
export interface Profile {
  name: string;
  weights: Partial<Record<Op['t'], number>>;
  maxCommands: number;
  /** Leaves out paths that end a tenure without a hand-over drain on today's core, to reach the others. */
  noStepDown?: boolean;
  noFailback?: boolean;
  /** Adjusts the drawn configuration (e.g. priorities and failback always on). */
  shape?: (config: SimConfig) => SimConfig;
}

const BASE: Record<Op['t'], number> = {
  wait: 4,
  start: 2,
  stop: 1,
  crash: 1,
  stepDown: 2,
  yieldTo: 3,
  pause: 2,
  block: 1,
  fault: 4,
  loseRecord: 1,
  deleteContainer: 1,
  gatedRun: 2,
  taskFail: 1,
  // Off in the older profiles (their schedules per seed stay as they were); see drainFails and mixed.
  drainThrows: 0,
  flapSide: 1,
  yieldOnAcquire: 1,
  partition: 0,
  partitionOnLoss: 0,
  // Fast profile only (the other profiles' schedules per seed stay as they were).
  heartbeatOutage: 0,
};

export const PROFILES: Record<string, Profile> = {
  mixed: { name: 'mixed', weights: { drainThrows: 1 }, maxCommands: 40 },
  /** Drains that throw (a hook or a task's stop): the lease is left to expire, never released. */
  drainFails: {
    name: 'drainFails',
    weights: { drainThrows: 4, stepDown: 4, yieldTo: 4, gatedRun: 4, stop: 2, loseRecord: 0, flapSide: 0 },
    maxCommands: 30,
  },
  /** Step-downs with leader work running (defect 2). */
  stepdown: {
    name: 'stepdown',
    weights: { stepDown: 6, gatedRun: 5, taskFail: 3, loseRecord: 0, deleteContainer: 0, crash: 0 },
    maxCommands: 30,
  },
  /** Hand-overs (yieldTo, failback) with leader work running (defects 1 and 5). */
  handover: {
    name: 'handover',
    weights: { yieldTo: 8, gatedRun: 4, fault: 1, loseRecord: 0, deleteContainer: 0, crash: 0, pause: 1 },
    maxCommands: 30,
    noStepDown: true,
  },
  /** Named successors: failback, and yieldTo right after an acquisition (defect 5). No leader work. */
  successor: {
    name: 'successor',
    weights: {
      yieldTo: 4,
      yieldOnAcquire: 6,
      gatedRun: 0,
      loseRecord: 0,
      deleteContainer: 0,
      fault: 1,
      pause: 1,
    },
    maxCommands: 30,
    noStepDown: true,
    shape: (c) => ({
      ...c,
      presence: true,
      tasks: false,
      priorities: c.priorities ?? [2, 0, 1, 0, 1],
      failbackAfterMs: c.failbackAfterMs ?? 0,
    }),
  },
  /** Record loss with partitions (defect 3). */
  recordLoss: {
    name: 'recordLoss',
    weights: {
      loseRecord: 6,
      fault: 8,
      partition: 3,
      partitionOnLoss: 3,
      pause: 2,
      yieldTo: 0,
      yieldOnAcquire: 0,
      gatedRun: 0,
      flapSide: 0,
    },
    maxCommands: 40,
    noStepDown: true,
    noFailback: true,
  },
  /**
   * Fast failover (issue 21): faults on heartbeats apart from renewals, pauses shorter and longer than
   * livenessMs, breaks racing heartbeats, heartbeat outages inside a holder's belief. Every schedule
   * runs the mode, at livenessMs 3000, 5000 or 10 000.
   */
  fast: {
    name: 'fast',
    weights: {
      fault: 8,
      pause: 5,
      block: 3,
      crash: 3,
      loseRecord: 0,
      deleteContainer: 0,
      heartbeatOutage: 10,
    },
    maxCommands: 40,
    shape: (c) => {
      // livenessMs 3000, 5000 or 10 000 (read off draws the profile already makes, so other profiles'
      // schedules stay as they were): at 10 000 a heartbeat answered late may take up to an interval
      // (3 s), more than the margin plus Azure's whole-second timestamps leave between belief and break.
      const fast = c.fastLivenessMs ?? [3000, 5000, 10_000][c.startMask % 3]!;
      return {
        ...c,
        delegated: false,
        fastLivenessMs: fast,
        retryIntervalMs: Math.min(c.retryIntervalMs, fast / 2),
      };
    },
  },
  /** Followers observe through listings served stale by up to one poll half the time (issue 23). */
  listing: {
    name: 'listing',
    weights: { yieldTo: 3, stepDown: 3 },
    maxCommands: 40,
    shape: (c) => ({ ...c, listing: true }),
  },
  /** Many tenures of a second lease on the renewal thread (defect 4). */
  slots: {
    name: 'slots',
    weights: {
      flapSide: 6,
      fault: 4,
      yieldTo: 0,
      yieldOnAcquire: 0,
      loseRecord: 0,
      deleteContainer: 0,
      crash: 0,
      stop: 0,
    },
    maxCommands: 20,
    noStepDown: true,
    noFailback: true,
  },
};

const replica = fc.integer({ min: 0, max: 4 });
const dt = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 3000 }) },
  { weight: 2, arbitrary: fc.integer({ min: 3000, max: 20_000 }) },
);
const OPERATIONS: Operation[] = [
  'observe',
  'acquire',
  'renew',
  'release',
  'announce',
  'list',
  'withdraw',
  'heartbeat',
  'break',
];

function opArbitrary(t: Op['t']): fc.Arbitrary<Op> {
  switch (t) {
    case 'wait':
      return fc.constant({ t });
    case 'start':
    case 'stop':
    case 'crash':
      return replica.map((r) => ({ t, r }));
    case 'stepDown':
      return fc
        .record({
          r: fc.oneof(fc.constant('leader' as const), replica),
          cooldownMs: fc.option(fc.oneof(fc.constant(0), fc.integer({ min: 100, max: 8000 })), {
            nil: undefined,
          }),
        })
        .map(({ r, cooldownMs }) => ({ t, r, ...(cooldownMs !== undefined ? { cooldownMs } : {}) }));
    case 'yieldTo':
    case 'yieldOnAcquire':
      return replica.map((to) => ({ t, to }));
    case 'pause':
      return fc.record({ r: replica, ms: fc.integer({ min: 200, max: 25_000 }) }).map((x) => ({ t, ...x }));
    case 'block':
      return fc.record({ r: replica, ms: fc.integer({ min: 200, max: 10_000 }) }).map((x) => ({ t, ...x }));
    case 'fault':
      return fc
        .record({
          r: fc.option(replica, { nil: undefined, freq: 3 }),
          kind: fc.constantFrom<FaultKind>(
            'transient',
            'hang',
            'unknown',
            'lands-late',
            'partial',
            'latency',
          ),
          ops: fc.option(fc.subarray(OPERATIONS, { minLength: 1 }), { nil: undefined }),
          lease: fc.option(fc.constantFrom(JOBS, SIDE), { nil: undefined, freq: 3 }),
          ms: fc.integer({ min: 100, max: 30_000 }),
          delayMs: fc.integer({ min: 50, max: 9000 }),
        })
        .map(({ r, ops, lease, ...rest }) => ({
          t,
          ...rest,
          ...(r !== undefined ? { r } : {}),
          ...(ops !== undefined ? { ops } : {}),
          ...(lease !== undefined ? { lease } : {}),
        }));
    case 'partition':
      return fc
        .record({ r: replica, ms: fc.integer({ min: 15_000, max: 45_000 }) })
        .map((x) => ({ t, ...x }));
    case 'partitionOnLoss':
      return fc.integer({ min: 15_000, max: 45_000 }).map((ms) => ({ t, ms }));
    case 'loseRecord':
      return fc.constantFrom(JOBS, SIDE).map((lease) => ({ t, lease }));
    case 'deleteContainer':
      return fc.integer({ min: 0, max: 5000 }).map((ms) => ({ t, ms }));
    case 'gatedRun':
      return fc
        .record({
          durationMs: fc.integer({ min: 100, max: 20_000 }),
          drainMs: fc.integer({ min: 0, max: 6000 }),
        })
        .map((x) => ({ t, ...x }));
    case 'taskFail':
      return fc.constant({ t });
    case 'drainThrows':
      return fc
        .record({
          r: replica,
          ms: fc.integer({ min: 1000, max: 40_000 }),
          afterMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 12_000 })),
        })
        .map((x) => ({ t, ...x }));
    case 'heartbeatOutage':
      return fc
        .record({
          r: fc.oneof(
            { weight: 3, arbitrary: fc.constant('leader' as const) },
            { weight: 1, arbitrary: replica },
          ),
          kind: fc.constantFrom<'hang' | 'transient'>('hang', 'transient'),
          permille: fc.integer({ min: 0, max: 1000 }),
          // Often answered just before the heartbeat's timeout (one interval): the latest a belief can move.
          slowAnswerPermille: fc.option(
            fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 900, max: 999 })),
            { nil: undefined },
          ),
        })
        .map(({ slowAnswerPermille, ...x }) => ({
          t,
          ...x,
          ...(slowAnswerPermille !== undefined ? { slowAnswerPermille } : {}),
        }));
    case 'flapSide':
      return fc
        .oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 200, max: 300 }))
        .map((n) => ({ t, n }));
  }
}

export function commandsArbitrary(profile: Profile): fc.Arbitrary<Iterable<fc.AsyncCommand<object, World>>> {
  const weights = {
    ...BASE,
    ...profile.weights,
    ...(profile.noStepDown ? { stepDown: 0, taskFail: 0 } : {}),
  };
  const arbitraries = (Object.keys(weights) as Array<Op['t']>)
    .filter((t) => weights[t] > 0)
    .map((t) => ({
      weight: weights[t],
      arbitrary: fc.record({ op: opArbitrary(t), dtMs: dt }).map((step) => new SimCommand(step)),
    }));
  return fc.commands([fc.oneof(...arbitraries)], { maxCommands: profile.maxCommands });
}

export function configArbitrary(profile: Profile): fc.Arbitrary<SimConfig> {
  return fc
    .record({
      replicas: fc.integer({ min: 2, max: 5 }),
      leaseDurationSeconds: fc.constantFrom(15, 20),
      retryIntervalMs: fc.constantFrom(1000, 2000),
      retryJitter: fc.constantFrom(0, 0.2),
      presence: fc.boolean(),
      presenceIntervalMs: fc.constantFrom(2000, 5000),
      priorities: fc.option(fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 5, maxLength: 5 }), {
        nil: undefined,
      }),
      failbackAfterMs: fc.option(fc.integer({ min: 0, max: 10_000 }), { nil: undefined }),
      delegated: profile.name === 'slots' ? fc.constant(true) : fc.boolean(),
      tasks: fc.boolean(),
      onError: fc.array(fc.constantFrom<'restart' | 'step-down'>('restart', 'step-down'), {
        minLength: 5,
        maxLength: 5,
      }),
      startMask: fc.integer({ min: 1, max: 31 }),
      // One schedule in four runs on a store without record versions (unconditional acquires).
      unversioned: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
      // One schedule in three runs fast failover (issue 21), at livenessMs 3000 or 5000.
      fastLivenessMs: fc
        .integer({ min: 0, max: 5 })
        .map((n) => (n === 0 ? 3000 : n === 1 ? 5000 : undefined)),
      // Mixed replicas (a rolling deploy): most run the world's livenessMs, some the mode off or slower.
      fastVariants: fc.array(
        fc.constantFrom<'same' | 'off' | 'slower'>('same', 'same', 'same', 'off', 'slower'),
        {
          minLength: 5,
          maxLength: 5,
        },
      ),
    })
    .map((c) => {
      const presence = c.presence || c.priorities !== undefined || c.failbackAfterMs !== undefined;
      // Fast failover refuses the renewal thread, and needs followers polling every livenessMs / 2.
      const fast = c.delegated || profile.name === 'slots' ? undefined : c.fastLivenessMs;
      return {
        ...c,
        fastLivenessMs: fast,
        retryIntervalMs: fast ? Math.min(c.retryIntervalMs, fast / 2) : c.retryIntervalMs,
        presence,
        // Failback needs priorities to mean anything.
        failbackAfterMs: c.priorities && !profile.noFailback ? c.failbackAfterMs : undefined,
        onError: profile.noStepDown ? c.onError.map(() => 'restart' as const) : c.onError,
        shutdownTimeoutMs: 10_000,
      } satisfies SimConfig;
    })
    .map((c) => (profile.shape ? profile.shape(c) : c));
}

export interface Scenario {
  config: SimConfig;
  seed: number;
  commands: Iterable<fc.AsyncCommand<object, World>>;
}

export function scenarioArbitrary(profile: Profile): fc.Arbitrary<Scenario> {
  return fc.record({
    config: configArbitrary(profile),
    seed: fc.integer({ min: 0, max: 0x7fffffff }),
    commands: commandsArbitrary(profile),
  });
}

/** Runs one schedule; throws a SimViolation (or any error) when an invariant breaks. */
export async function runScenario(
  scenario: Scenario,
  tracing = false,
  onWorld?: (world: World) => void,
): Promise<World> {
  const world = new World(scenario.config, scenario.seed, tracing);
  onWorld?.(world);
  await world.init();
  await fc.asyncModelRun(() => ({ model: {}, real: world }), scenario.commands);
  await world.finish();
  return world;
}

/** The schedule of a scenario as text: its configuration and steps. */
export function describeScenario(scenario: Scenario): string {
  const c = scenario.config;
  const lines = [
    `config: ${c.replicas} replicas, D ${c.leaseDurationSeconds} s${c.fastLivenessMs ? `, fast failover ${c.fastLivenessMs} ms${c.fastVariants ? ` (per replica: ${c.fastVariants.slice(0, c.replicas).join('/')})` : ''}` : ''}, retry ${c.retryIntervalMs} ms ±${c.retryJitter * 100} %, presence ${c.presence ? `${c.presenceIntervalMs} ms` : 'off'}` +
      `${c.priorities ? `, priorities ${c.priorities.slice(0, c.replicas).join('/')}` : ''}` +
      `${c.failbackAfterMs !== undefined ? `, failback after ${c.failbackAfterMs} ms` : ''}` +
      `${c.delegated ? ', e1 renews on the renewal thread (+ side lease)' : ''}` +
      `${c.listing ? ', followers observe by listing (up to one poll stale)' : ''}` +
      `${c.tasks ? `, leader tasks (onError ${c.onError.slice(0, c.replicas).join('/')})` : ''}` +
      `${c.unversioned ? ', store without record versions' : ''}` +
      `, started at 0: ${
        [...Array(c.replicas).keys()]
          .filter((r) => c.startMask & (1 << r))
          .map((r) => `e${r + 1}`)
          .join(' ') || 'none'
      }`,
    `world seed: ${scenario.seed}`,
  ];
  let i = 0;
  for (const command of scenario.commands) {
    const step = ((command as { cmd?: SimCommand }).cmd ?? (command as SimCommand)).step;
    lines.push(`  ${++i}. ${describeOp(normalizeOp(step.op, c.replicas))}; +${step.dtMs} ms`);
  }
  return lines.join('\n');
}

/** A scenario as plain data (for pinned regressions): configuration, world seed and steps. */
export interface PinnedSchedule {
  config: SimConfig;
  seed: number;
  steps: Step[];
}

export function toPinned(scenario: Scenario): PinnedSchedule {
  return {
    config: scenario.config,
    seed: scenario.seed,
    // fast-check hands the commands over wrapped (CommandWrapper.cmd).
    steps: [...scenario.commands].map((command) => {
      const step = ((command as { cmd?: SimCommand }).cmd ?? (command as SimCommand)).step;
      return { ...step, op: normalizeOp(step.op, scenario.config.replicas) };
    }),
  };
}

export function fromPinned(pinned: PinnedSchedule): Scenario {
  return {
    config: pinned.config,
    seed: pinned.seed,
    commands: pinned.steps.map((step) => new SimCommand(step)),
  };
}
