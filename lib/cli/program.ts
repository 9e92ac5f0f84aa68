import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { BREAK } from './commands/break.js';
import { endLease, type EndLeaseFlags } from './commands/end-lease.js';
import { RELEASE } from './commands/release.js';
import { status, type StatusFlags } from './commands/status.js';
import { watch, type WatchFlags } from './commands/watch.js';
import { CONNECTION_STRING_ENV, DEFAULT_CONTAINER_NAME } from './connection.js';
import { CliError, EXIT_CODES_HELP, ExitCode, type ExitCodeValue } from './exit-codes.js';
import { Output, secretsOfConnectionString, secretsOfUrl, type OutputStreams } from './output.js';

export const PROGRAM_NAME = 'nestjs-leader-election';

export interface CliContext extends OutputStreams {
  env: NodeJS.ProcessEnv;
  /** Aborted on Ctrl-C: `watch` then stops and exits 0. */
  stop: AbortSignal;
}

/**
 * Runs the CLI with the given arguments (without `node` and the script) and resolves with the exit
 * code. Never throws: every error becomes one redacted message on stderr and an exit code.
 */
export async function runCli(argv: readonly string[], context: CliContext): Promise<ExitCodeValue> {
  const output = new Output(context);
  // Known before anything is parsed, so even a usage error cannot echo them.
  const envConnectionString = context.env[CONNECTION_STRING_ENV];
  if (envConnectionString) output.addSecrets(...secretsOfConnectionString(envConnectionString));
  for (const [i, arg] of argv.entries()) {
    const inline = /^--(connection-string|account-url)=(.*)$/s.exec(arg);
    const value = inline
      ? inline[2]
      : /^--(connection-string|account-url)$/.test(arg)
        ? argv[i + 1]
        : undefined;
    if (value)
      output.addSecrets(
        ...(arg.startsWith('--account-url') ? secretsOfUrl(value) : secretsOfConnectionString(value)),
      );
  }

  let exitCode: ExitCodeValue = ExitCode.ok;
  const program = buildProgram(output, context, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and help shown on request exit 0; every other parse error is a usage error.
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return ExitCode.ok;
      if (error.code === 'commander.help') return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
      return ExitCode.usage;
    }
    if (error instanceof CliError) {
      output.err(`${PROGRAM_NAME}: ${error.message}\n`);
      return error.exitCode;
    }
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    output.err(`${PROGRAM_NAME}: unexpected error: ${message}\n`);
    return ExitCode.storage;
  }
}

function buildProgram(
  output: Output,
  context: CliContext,
  setExitCode: (code: ExitCodeValue) => void,
): Command {
  const program = new Command(PROGRAM_NAME)
    .description(
      'See and steer the leases of nestjs-leader-election: one Azure Storage blob per lease name in ' +
        'one container.',
    )
    .configureOutput({ writeOut: (text) => output.out(text), writeErr: (text) => output.err(text) })
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', `${CONNECTION_HELP}\n${EXIT_CODES_HELP}`);

  const withConnection = (command: Command): Command =>
    command
      .option(
        '--connection-string <string>',
        `storage connection string, key or SAS (default: $${CONNECTION_STRING_ENV}, preferable: ` +
          `arguments show in ps)`,
      )
      .option(
        '--account-url <url>',
        'blob endpoint, signed in with DefaultAzureCredential (needs @azure/identity installed)',
      )
      .option('--container <name>', 'container of the lease blobs', DEFAULT_CONTAINER_NAME)
      .option(
        '--timeout <seconds>',
        'upper bound of one storage request (status: of the whole listing)',
        seconds('--timeout', 0.1, 600),
        20,
      )
      .addHelpText('after', EXIT_CODES_HELP);

  withConnection(
    program
      .command('status')
      .summary('every lease in the container, as a table or --json')
      .description(
        'Every lease in the container: state, holder, term, when acquired (one List Blobs request per ' +
          '5 000 leases)',
      )
      .option(
        '--json',
        'print a JSON array (sorted by lease; keys lease, state, held, holder, term, acquiredAt, ' +
          'recoveredTerm)',
      ),
  ).action(async (flags: StatusFlags) => setExitCode(await status(flags, context.env, output)));

  withConnection(
    program
      .command('watch')
      .summary('status, refreshed in place until Ctrl-C')
      .description('`status`, refreshed in place until Ctrl-C (exit 0)')
      .option('--json', 'print one JSON array per refresh, one per line')
      .option('--interval <seconds>', 'seconds between refreshes', seconds('--interval', 0.1, 3600), 2)
      .option(
        '--count <n>',
        'stop after n refreshes (exit code of the last one)',
        positiveInteger('--count'),
      ),
  ).action(async (flags: WatchFlags) => setExitCode(await watch(flags, context.env, output, context.stop)));

  withConnection(
    program
      .command('release')
      .argument('<lease>', 'lease name (the blob name)')
      .summary('end a lease when its current period runs out (no overlap; needs --yes)')
      .description(
        'End a lease gently: Break Lease with a 60 s break period, so it ends when its current period ' +
          'runs out. The holder steps down at its next renewal and nobody else can take the lease before ' +
          'then: no overlap. Refused without --yes.',
      )
      .option('--yes', 'confirm: act after stating the consequence'),
  ).action(async (lease: string, flags: EndLeaseFlags) =>
    setExitCode(await endLease(RELEASE, lease, flags, context.env, output)),
  );

  withConnection(
    program
      .command('break')
      .argument('<lease>', 'lease name (the blob name)')
      .summary('end a lease now (another replica may lead at once; needs --yes)')
      .description(
        'End a lease now: Break Lease with break period 0. Another replica may lead at once while the ' +
          'old holder still believes it leads until its next renewal fails or its deadline: jobs may run ' +
          'twice unless fenced with the term. Refused without --yes.',
      )
      .option('--yes', 'confirm: act after stating the consequence'),
  ).action(async (lease: string, flags: EndLeaseFlags) =>
    setExitCode(await endLease(BREAK, lease, flags, context.env, output)),
  );

  return program;
}

const CONNECTION_HELP =
  `
Connection (as the module's options):
  ${CONNECTION_STRING_ENV}       connection string, used when neither --connection-string ` +
  `nor --account-url is given
  --account-url <url>                   blob endpoint with DefaultAzureCredential ` +
  `(npm install @azure/identity)
  --container <name>                    default "${DEFAULT_CONTAINER_NAME}"
Secrets (account key, SAS) are never printed.`;

function seconds(option: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (value.trim() === '' || !Number.isFinite(parsed) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(`${option} takes a number of seconds from ${min} to ${max}.`);
    }
    return parsed;
  };
}

function positiveInteger(option: string): (value: string) => number {
  return (value) => {
    if (!/^\d{1,9}$/.test(value) || Number(value) < 1)
      throw new InvalidArgumentError(`${option} takes a whole number ≥ 1.`);
    return Number(value);
  };
}
