// Child processes of a benchmark run: every child is registered here and killed when the run
// ends, fails, or is interrupted (SIGINT/SIGTERM), so no replica or Azurite outlives the run.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export interface Tracked {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves with the exit code or signal once the child has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  isRunning(): boolean;
  /** Sends a signal (no-op when already gone). */
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when exited. */
  stop(graceMs?: number): Promise<void>;
}

const children = new Set<Tracked>();
const cleanups = new Set<() => Promise<void> | void>();
let installed = false;

/** Registers work to do when the run ends or is interrupted (e.g. stop Azurite). */
export function onCleanup(fn: () => Promise<void> | void): () => void {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

export function spawnTracked(
  name: string,
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; logFile?: string; stdio?: 'pipe' | 'log' } = {},
): Tracked {
  installCleanupHandlers();
  const child = spawn(command, args, {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (options.logFile) {
    mkdirSync(dirname(options.logFile), { recursive: true });
    const log = createWriteStream(options.logFile, { flags: 'a' });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    child.once('exit', () => setTimeout(() => log.end(), 50));
  } else if (options.stdio !== 'pipe') {
    child.stdout?.resume();
    child.stderr?.resume();
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: -1, signal: null }));
  });
  const tracked: Tracked = {
    name,
    child,
    pid: child.pid ?? -1,
    exited,
    isRunning: () => child.exitCode === null && child.signalCode === null,
    signal: (signal) => {
      if (tracked.isRunning()) child.kill(signal);
    },
    stop: async (graceMs = 5_000) => {
      if (!tracked.isRunning()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => tracked.signal('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  children.add(tracked);
  void exited.then(() => children.delete(tracked));
  return tracked;
}

/** Kills every child still running (SIGKILL) and runs the registered cleanups. */
export async function cleanupAll(): Promise<void> {
  for (const tracked of [...children]) tracked.signal('SIGKILL');
  await Promise.allSettled([...children].map((tracked) => tracked.exited));
  for (const fn of [...cleanups]) {
    cleanups.delete(fn);
    try {
      await fn();
    } catch {
      // best effort
    }
  }
}

function installCleanupHandlers(): void {
  if (installed) return;
  installed = true;
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`\n${signal}: stopping ${children.size} child process(es)…\n`);
    void cleanupAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // Last resort: synchronous kill on any exit path.
  process.once('exit', () => {
    for (const tracked of children) tracked.signal('SIGKILL');
  });
}

export async function waitFor<T>(
  probe: () => T | undefined | false,
  timeoutMs: number,
  what: string,
  stepMs = 50,
): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() - started > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function exitedWithin(tracked: Tracked, ms: number): Promise<boolean> {
  const timer = new Promise<false>((resolve) => setTimeout(() => resolve(false), ms).unref());
  return Promise.race([tracked.exited.then(() => true as const), timer]);
}

export { once };
