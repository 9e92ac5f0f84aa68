import { connect, type ConnectionFlags } from '../connection.js';
import { ExitCode, type ExitCodeValue } from '../exit-codes.js';
import { listLeases } from '../leases.js';
import type { Output } from '../output.js';
import { renderJson, renderTable } from '../render.js';

export interface StatusFlags extends ConnectionFlags {
  json?: boolean;
}

/** `status`: every lease blob in the container, as a table or a JSON array. */
export async function status(
  flags: StatusFlags,
  env: NodeJS.ProcessEnv,
  output: Output,
): Promise<ExitCodeValue> {
  const connection = await connect(flags, env, output);
  const rows = await listLeases(connection);
  output.out(flags.json ? renderJson(rows) : renderTable(rows, connection.where));
  return ExitCode.ok;
}
