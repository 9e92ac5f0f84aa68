import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from '../connection.js';
import { CliError, ExitCode, type ExitCodeValue } from '../exit-codes.js';
import { listLeases } from '../leases.js';
import type { Output } from '../output.js';
import { renderJson, renderTable } from '../render.js';
import type { StatusFlags } from './status.js';

export interface WatchFlags extends StatusFlags {
  /** Seconds between refreshes. */
  interval: number;
  /** Stop after this many refreshes (default: until Ctrl-C). */
  count?: number;
}

const CLEAR_SCREEN = '\u001b[H\u001b[2J';
const CLEAR_TO_END = '\u001b[0J';
const linesUp = (n: number) => `\u001b[${n}F`;

/**
 * `watch`: `status` refreshed every --interval seconds. On a terminal each refresh redraws the
 * screen in place; in a pipe the frames follow each other (with --json: one array per line).
 * A failed refresh is shown and watching goes on (storage blips are what one watches for); the
 * exit code is that of the last refresh, and 0 after Ctrl-C.
 */
export async function watch(
  flags: WatchFlags,
  env: NodeJS.ProcessEnv,
  output: Output,
  stop: AbortSignal,
): Promise<ExitCodeValue> {
  const connection = await connect(flags, env, output);
  let code: ExitCodeValue;
  let previousRows = 0;
  for (let refresh = 1; ; refresh++) {
    let frame: string;
    try {
      const rows = await untilStopped(listLeases(connection), stop);
      if (rows === STOPPED) return ExitCode.ok;
      code = ExitCode.ok;
      frame = flags.json ? renderJson(rows, false) : renderTable(rows, connection.where);
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      code = error.exitCode;
      frame = `${flags.json ? '' : `${connection.where}: `}refresh failed: ${error.message}\n`;
      if (flags.json) {
        output.err(frame);
        frame = '';
      }
    }
    if (stop.aborted) return ExitCode.ok;
    if (flags.json) {
      output.out(frame);
    } else {
      const header =
        `Every ${flags.interval}s, ${new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')}` +
        `${flags.count ? ` (${refresh}/${flags.count})` : ''}, Ctrl-C to stop\n`;
      const size = output.terminalSize;
      if (size) {
        // Redraw in place: back to the first line of the previous frame, clear to the end, draw.
        // A frame taller than the terminal cannot be reached by moving up: clear the screen instead.
        const text = `${header}${frame}`;
        const rows = rowsOf(text, size.columns);
        output.out(
          (previousRows === 0
            ? ''
            : previousRows < size.rows
              ? `${linesUp(previousRows)}${CLEAR_TO_END}`
              : CLEAR_SCREEN) + text,
        );
        previousRows = rows;
      } else {
        output.out(`${header}${frame}\n`);
      }
    }
    if (flags.count !== undefined && refresh >= flags.count) return code;
    try {
      await sleep(flags.interval * 1000, undefined, { signal: stop });
    } catch {
      return ExitCode.ok; // Ctrl-C
    }
  }
}

const STOPPED = Symbol('stopped');

/** The request's result, or STOPPED as soon as Ctrl-C is pressed (a slow request does not hold the exit). */
function untilStopped<T>(request: Promise<T>, stop: AbortSignal): Promise<T | typeof STOPPED> {
  if (stop.aborted) return Promise.resolve(STOPPED);
  return new Promise((resolve, reject) => {
    const onStop = () => resolve(STOPPED);
    stop.addEventListener('abort', onStop, { once: true });
    request.then(
      (value) => {
        stop.removeEventListener('abort', onStop);
        resolve(value);
      },
      (error: unknown) => {
        stop.removeEventListener('abort', onStop);
        reject(error);
      },
    );
  });
}

/** Terminal rows a text ending with a line break takes, wrapping lines wider than the terminal. */
function rowsOf(text: string, columns: number): number {
  const lines = text.replace(/\n$/, '').split('\n');
  return lines.reduce((rows, line) => rows + Math.max(1, Math.ceil(Array.from(line).length / columns)), 0);
}
