import { LeaderElectionError } from '../core/errors.js';

/** The CLI's exit codes (documented in docs/cli.md and in `--help`). */
export const ExitCode = {
  /** Done (including "nothing to do", and Ctrl-C ending `watch`). */
  ok: 0,
  /** Storage or connection error: unreachable endpoint, authentication, permission, service error. */
  storage: 1,
  /**
   * Usage error (bad option or argument, malformed connection string), or an action refused without --yes.
   */
  usage: 2,
  /** The lease, or its container, does not exist. */
  notFound: 3,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** An error the CLI reports as one message on stderr, ending with the given exit code. */
export class CliError extends LeaderElectionError {
  constructor(
    readonly exitCode: ExitCodeValue,
    message: string,
  ) {
    super(message);
  }
}

export const EXIT_CODES_HELP = `
Exit codes:
  0  done (also: nothing to do; Ctrl-C ends watch)
  1  storage or connection error (unreachable, authentication, permission, service error)
  2  usage error, or an action refused without --yes
  3  lease or container not found`;
