/**
 * `npm run chaos -- [options]`: the fault harness CLI (see harness.ts for what it does, checker.ts
 * for what it checks). Exit code: 0 all checks passed, 1 a safety check failed, 2 bad usage or the
 * harness itself failed, 3 only a takeover-time bound was exceeded, 130 interrupted.
 */
import { exitCodeOf, formatReport } from './checker.js';
import { parseChaosArgs, usage, type ParsedChaosArgs } from './cli.js';
import { DEFAULTS, runChaos } from './harness.js';
import { formatLocksReport } from './locks-checker.js';

async function main(): Promise<number> {
  let parsed: ParsedChaosArgs;
  try {
    parsed = parseChaosArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : String(error)}\n\n${usage}`);
    return 2;
  }
  if (parsed.help) {
    console.log(usage);
    return 0;
  }
  const { options, quiet } = parsed;
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
    `chaos: seed ${options.seed}, ${options.durationMs / 1000} s of faults, ${options.replicas ?? DEFAULTS.replicas} replicas${options.leaderTask ? ', leader-task mode' : ''}${options.locks ? ', locks mode' : ''}${options.renewalThread ? ', renewal thread' : ''}${options.fastLivenessMs !== undefined ? `, fast failover (livenessMs ${options.fastLivenessMs} ms)` : ''}${options.priorities ? `, priorities${options.failbackAfterMs !== undefined ? `, failback after ${options.failbackAfterMs} ms` : ''}` : ''}`,
  );
  try {
    const result = await runChaos({
      ...options,
      signal: controller.signal,
      log: quiet ? undefined : (line) => console.log(line),
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
