/**
 * The fault harness's command line (`npm run chaos -- [options]`): parsing and checking the options,
 * with no side effects (run.ts starts the run), so bad input can be tested without processes.
 */
import { parseArgs } from 'node:util';
import { DEFAULTS, resolveTimings, type ChaosOptions } from './harness.js';
import { ALL_FAULT_KINDS, FAULT_KINDS, OPT_IN_FAULT_KINDS, type FaultKind } from './types.js';

export const usage = `Usage: npm run chaos -- [options]

  --seed <n>          PRNG seed; the same seed gives the same fault plan (default: random, printed)
  --duration <s>      seconds during which faults are injected (default 60); the last fault is
                      then seen through to recovery
  --replicas <n>      replica processes (default ${DEFAULTS.replicas})
  --out <dir>         output folder (default bench/results/chaos-<seed>/)
  --faults <list>     comma-separated fault kinds to draw from (default: all)
                      ${FAULT_KINDS.join(', ')}; opt-in: ${OPT_IN_FAULT_KINDS.join(', ')}
                      (block: the leader's leader-only job busy-loops for k × D, see --block-factor)
  --fast <ms>         fast-failover mode: replicas run fastFailover { livenessMs: <ms> }; block is
                      drawn by default; stops, partitions and latency scale with livenessMs (SIGSTOP
                      shorter and longer than it); takeovers are held to the fast bound (not with
                      --renewal thread). A run of ≥ 500 faults: --fast 3000 --duration 6000
  --block-factor <k>  block faults last k × D (k × livenessMs with --fast) (default ${DEFAULTS.blockFactor})
  --renewal <who>     main (default): renewals on the replicas' event loop; thread: the
                      renewalThread option (renewals from a worker thread)
  --max-blocked-ms <ms>  with --renewal thread: renewalThread.maxBlockedMs (default ${DEFAULTS.maxBlockedMs})
  --lease <s>         lease duration D in seconds, 15–60 (default ${DEFAULTS.leaseSeconds})
  --retry <ms>        follower poll interval R (default ${DEFAULTS.retryIntervalMs})
  --renew <ms>        leader renew interval (default D/3)
  --job-interval <ms> @Interval of the leader-only job (default ${DEFAULTS.jobIntervalMs})
  --job-duration <ms> how long each run takes (default ${DEFAULTS.jobDurationMs})
  --slack <ms>        added to every takeover bound (default ${DEFAULTS.slackMs})
  --mode <mode>       ticks (default): the leader-only @Interval job only;
                      leader-task: the replicas also run a @LeaderTask that journals a heartbeat
                      every ${DEFAULTS.taskHeartbeatMs} ms (--task-heartbeat); the checker also checks that no
                      two tasks ran at once and reports each fault's task hand-over gap
                      locks: the replicas also contend for one lock (tryWithLock in a loop) and
                      run an @OnOneReplica job every second; the checker adds: no two valid lock
                      holders, no fencing-token regression, no doubled tick (missed ticks counted)
  --task-heartbeat <ms>  heartbeat period in leader-task mode (default ${DEFAULTS.taskHeartbeatMs})
  --priorities        replicas get priorities (r1 = n, r2 = n − 1, …; restarts keep theirs), presence on;
                      the checker also reports how long a non-preferred replica led while r1 was healthy
                      before each fault the harness waits (bounded, same bound with or without
                      --failback) for r1 to lead again whenever it runs
  --failback <ms>     with --priorities: failback after the better replica has been present this long
  --quiet             no progress lines, only the summary
  -h, --help`;

function positive(name: string, raw: string | undefined, fallback?: number): number | undefined {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`--${name} must be a positive number, got "${raw}"`);
  return value;
}

export type ParsedChaosArgs =
  { help: true } | { help: false; quiet: boolean; options: ChaosOptions & { durationMs: number } };

/** Parses and checks the CLI arguments; throws an Error naming the option, the value and what is allowed. */
export function parseChaosArgs(args: string[]): ParsedChaosArgs {
  const { values } = parseArgs({
    args,
    options: {
      seed: { type: 'string' },
      duration: { type: 'string' },
      replicas: { type: 'string' },
      out: { type: 'string' },
      faults: { type: 'string' },
      lease: { type: 'string' },
      retry: { type: 'string' },
      renew: { type: 'string' },
      'job-interval': { type: 'string' },
      'job-duration': { type: 'string' },
      slack: { type: 'string' },
      mode: { type: 'string' },
      'task-heartbeat': { type: 'string' },
      priorities: { type: 'boolean', default: false },
      failback: { type: 'string' },
      'block-factor': { type: 'string' },
      renewal: { type: 'string' },
      'max-blocked-ms': { type: 'string' },
      fast: { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return { help: true };

  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0)
    throw new Error(`--seed must be a whole number ≥ 0, got "${values.seed}"`);
  const faults = values.faults
    ?.split(',')
    .map((kind) => kind.trim())
    .filter(Boolean) as FaultKind[] | undefined;
  for (const kind of faults ?? [])
    if (!ALL_FAULT_KINDS.includes(kind))
      throw new Error(`unknown fault kind "${kind}" (known: ${ALL_FAULT_KINDS.join(', ')})`);
  const renewal = values.renewal ?? 'main';
  if (renewal !== 'main' && renewal !== 'thread')
    throw new Error(`--renewal must be "main" or "thread", got "${renewal}"`);
  if (values['max-blocked-ms'] !== undefined && renewal !== 'thread')
    throw new Error('--max-blocked-ms needs --renewal thread');
  const fastLivenessMs = values.fast === undefined ? undefined : Number(values.fast);
  if (fastLivenessMs !== undefined && !(Number.isInteger(fastLivenessMs) && fastLivenessMs > 0))
    throw new Error(`--fast must be livenessMs, a whole number of ms (at least 3000), got "${values.fast}"`);
  if (fastLivenessMs !== undefined && renewal === 'thread')
    throw new Error(
      '--fast cannot be combined with --renewal thread: the library refuses fastFailover with renewalThread (use --renewal main, the default)',
    );
  const drawsBlock = faults ? faults.includes('block') : fastLivenessMs !== undefined;
  if (values['block-factor'] !== undefined && !drawsBlock)
    throw new Error('--block-factor needs --faults with block (or --fast, which draws block by default)');
  const mode = values.mode ?? 'ticks';
  if (mode !== 'ticks' && mode !== 'leader-task' && mode !== 'locks')
    throw new Error(`--mode must be "ticks", "leader-task" or "locks", got "${mode}"`);
  if (values['task-heartbeat'] !== undefined && mode !== 'leader-task')
    throw new Error('--task-heartbeat needs --mode leader-task');
  if (values.failback !== undefined && !values.priorities) throw new Error('--failback needs --priorities');
  const replicas = positive('replicas', values.replicas);
  if (replicas !== undefined && (!Number.isInteger(replicas) || replicas < 2))
    throw new Error('--replicas must be a whole number ≥ 2');
  const options = {
    seed,
    durationMs: positive('duration', values.duration, 60)! * 1000,
    replicas,
    outDir: values.out,
    faults,
    leaseSeconds: positive('lease', values.lease),
    retryIntervalMs: positive('retry', values.retry),
    renewIntervalMs: positive('renew', values.renew),
    jobIntervalMs: positive('job-interval', values['job-interval']),
    jobDurationMs: values['job-duration'] === '0' ? 0 : positive('job-duration', values['job-duration']),
    slackMs: positive('slack', values.slack),
    leaderTask: mode === 'leader-task',
    locks: mode === 'locks',
    taskHeartbeatMs: positive('task-heartbeat', values['task-heartbeat']),
    priorities: values.priorities ?? false,
    failbackAfterMs: values.failback === '0' ? 0 : positive('failback', values.failback),
    blockFactor: positive('block-factor', values['block-factor']),
    renewalThread: renewal === 'thread',
    maxBlockedMs: positive('max-blocked-ms', values['max-blocked-ms']),
    fastLivenessMs,
  };
  resolveTimings(options); // the timing rules (fast failover's livenessMs and R) checked before any process starts
  return { help: false, quiet: values.quiet ?? false, options };
}
