import { InvalidElectionOptionError, validateLeaseName } from '../../core/election-options.js';
import { connect, type Connection, type ConnectionFlags } from '../connection.js';
import { CliError, ExitCode, type ExitCodeValue } from '../exit-codes.js';
import { getLease, storageError, type LeaseRow } from '../leases.js';
import type { Output } from '../output.js';
import { sanitize } from '../sanitize.js';

export interface EndLeaseFlags extends ConnectionFlags {
  yes?: boolean;
}

/** How `break` and `release` differ: the break period, what to say before, and what to say after. */
export interface EndLeaseKind {
  verb: 'break' | 'release';
  /** Break period passed to Break Lease, seconds (Azure uses the shorter of it and the time left). */
  breakPeriodSeconds: number;
  /** Whether a lease already breaking is left alone (release) or broken at once (break). */
  actOnBreaking: boolean;
  consequence(row: LeaseRow, where: string): string;
  done(row: LeaseRow, secondsLeft: number | undefined): string;
}

/**
 * Shared by `break` and `release`: look the lease up (3 when missing), say what acting means for
 * safety, refuse without --yes (2), then Break Lease with the kind's break period. Break Lease needs
 * no lease id: only the holder knows it, so an operator cannot release in Azure's sense.
 */
export async function endLease(
  kind: EndLeaseKind,
  leaseArgument: string,
  flags: EndLeaseFlags,
  env: NodeJS.ProcessEnv,
  output: Output,
): Promise<ExitCodeValue> {
  let leaseName: string;
  try {
    leaseName = validateLeaseName(leaseArgument, '<lease>');
  } catch (error) {
    if (error instanceof InvalidElectionOptionError) {
      throw new CliError(
        ExitCode.usage,
        `Invalid <lease>: got ${JSON.stringify(sanitize(leaseArgument, 80))}; allowed: ${error.allowed}.`,
      );
    }
    throw error;
  }
  const connection = await connect(flags, env, output);
  const before = await getLease(connection, leaseName);
  const name = `lease "${before.lease}"`;
  if (!before.held || (before.state === 'breaking' && !kind.actOnBreaking)) {
    output.out(
      `${capital(name)} in ${connection.where} is ${describeState(before)}: nothing to ${kind.verb}.\n`,
    );
    return ExitCode.ok;
  }
  output.out(`${kind.consequence(before, connection.where)}\n`);
  if (!flags.yes) {
    output.err(`Refused: nothing was changed. Run again with --yes to ${kind.verb} ${name}.\n`);
    return ExitCode.usage;
  }
  const secondsLeft = await breakLease(connection, leaseName, kind.breakPeriodSeconds);
  if (secondsLeft === null) {
    output.out(`${capital(name)} was no longer held when the request arrived: nothing was changed.\n`);
    return ExitCode.ok;
  }
  output.out(`${kind.done(before, secondsLeft)}\n`);
  return ExitCode.ok;
}

/** Break Lease; null when the lease was not held any more (409 LeaseNotPresentWithLeaseOperation). */
async function breakLease(
  connection: Connection,
  leaseName: string,
  breakPeriodSeconds: number,
): Promise<number | undefined | null> {
  try {
    const response = await connection.container
      .getBlobClient(leaseName)
      .getBlobLeaseClient()
      .breakLease(breakPeriodSeconds, { abortSignal: connection.requestSignal() });
    return response.leaseTime;
  } catch (error) {
    const status = (error as { statusCode?: unknown }).statusCode;
    const code = (error as { details?: { errorCode?: unknown } }).details?.errorCode;
    if (status === 409 && code === 'LeaseNotPresentWithLeaseOperation') return null;
    throw storageError(error, connection, 'Break Lease', leaseName);
  }
}

export function describeHolder(row: LeaseRow): string {
  const holder = row.holder === null ? 'an unknown holder' : `"${row.holder}"`;
  return row.term === null ? `held by ${holder}` : `held by ${holder}, term ${row.term}`;
}

function describeState(row: LeaseRow): string {
  switch (row.state) {
    case 'available':
      return 'not held (available)';
    case 'expired':
      return 'not held (expired)';
    case 'broken':
      return 'not held (broken)';
    case 'breaking':
      return `already breaking (${describeHolder(row)}): it ends when its current period runs out`;
    default:
      return `not held (${row.state})`;
  }
}

function capital(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
