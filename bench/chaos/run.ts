/**
 * `npm run chaos -- [options]`: the fault harness CLI (see harness.ts for what it does, checker.ts
 * for what it checks). Exit code: 0 all checks passed, 1 a safety check failed, 2 bad usage or the
 * harness itself failed, 3 only a takeover-time bound was exceeded, 130 interrupted.
 */
import { parseArgs } from 'node:util';
import { exitCodeOf, formatReport } from './checker.js';
import { DEFAULTS, runChaos } from './harness.js';
import { formatLocksReport } from './locks-checker.js';
import { ALL_FAULT_KINDS, FAULT_KINDS, OPT_IN_FAULT_KINDS, type FaultKind } from './types.js';

const usage = `Usage: npm run chaos -- [options]

  --seed <n>          PRNG seed; the same seed gives the same fault plan (default: random, printed)
  --duration <s>      seconds during which faults are injected (default 60); the last fault is
                      then seen through to recovery
  --replicas <n>      replica processes (default ${DEFAULTS.replicas})
  --out <dir>         output folder (default bench/results/chaos-<seed>/)
  --faults <list>     comma-separated fault kinds to draw from (default: all)
                      ${FAULT_KINDS.join(', ')}; opt-in: ${OPT_IN_FAULT_KINDS.join(', ')}
                      (block: the leader's leader-only job busy-loops for k × D, see --block-factor)
  --block-factor <k>  block faults last k × D (default ${DEFAULTS.blockFactor})
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

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
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
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : String(error)}\n\n${usage}`);
    return 2;
  }
  if (values.help) {
    console.log(usage);
    return 0;
  }

  let options;
  try {
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
    if (values['block-factor'] !== undefined && !faults?.includes('block'))
      throw new Error('--block-factor needs --faults with block');
    const mode = values.mode ?? 'ticks';
    if (mode !== 'ticks' && mode !== 'leader-task' && mode !== 'locks')
      throw new Error(`--mode must be "ticks", "leader-task" or "locks", got "${mode}"`);
    if (values['task-heartbeat'] !== undefined && mode !== 'leader-task')
      throw new Error('--task-heartbeat needs --mode leader-task');
    if (values.failback !== undefined && !values.priorities) throw new Error('--failback needs --priorities');
    const replicas = positive('replicas', values.replicas);
    if (replicas !== undefined && (!Number.isInteger(replicas) || replicas < 2))
      throw new Error('--replicas must be a whole number ≥ 2');
    options = {
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
    };
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : String(error)}\n\n${usage}`);
    return 2;
  }

  // Ctrl-C: stop injecting, shut every child down, still check and report what was recorded.
  const controller = new AbortController();
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) {
      console.error(`\n${signal} again: exiting now (children are killed on exit)`);
      process.exit(130);
    }
    interrupted = true;
    console.error(`\n${signal}: stopping the run and cleaning up…`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  console.log(
    `chaos: seed ${options.seed}, ${options.durationMs / 1000} s of faults, ${options.replicas ?? DEFAULTS.replicas} replicas${options.leaderTask ? ', leader-task mode' : ''}${options.locks ? ', locks mode' : ''}${options.renewalThread ? ', renewal thread' : ''}${options.priorities ? `, priorities${options.failbackAfterMs !== undefined ? `, failback after ${options.failbackAfterMs} ms` : ''}` : ''}`,
  );
  try {
    const result = await runChaos({
      ...options,
      signal: controller.signal,
      log: values.quiet ? undefined : (line) => console.log(line),
    });
    console.log(formatReport(result.report, result.files));
    if (result.report.locks) console.log(formatLocksReport(result.report.locks));
    if (interrupted) return 130;
    return exitCodeOf(result.report);
  } catch (error) {
    console.error(
      `chaos run failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    return 2;
  }
}

process.exitCode = await main();
