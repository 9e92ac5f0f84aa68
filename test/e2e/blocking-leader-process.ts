import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

// The blocking leader of issue 11 (test/support/blocking-leader.mjs) as a child process, shared by
// renewal-thread.e2e.spec.ts and renewal-thread-token.e2e.spec.ts (two files so that Jest workers
// run their 20 s blocks side by side). Needs dist/lib (npm test builds it in build:apps).

const script = fileURLToPath(new URL('../support/blocking-leader.mjs', import.meta.url));

/** How long the leader's main thread is blocked: longer than the 15 s lease. */
export const BLOCK_MS = 20_000;

export interface BlockingLeaderLine {
  leading?: boolean;
  afterBlock?: number;
  tokensMinted?: number;
  isLeader?: boolean;
  active?: boolean;
  term?: number;
}

const children = new Set<ChildProcess>();

/** Starts the blocking leader; resolves its output lines as they come. */
export function startBlockingLeader(env: Record<string, string>): { next(): Promise<BlockingLeaderLine> } {
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return {
    async next() {
      const { value, done } = await lines.next();
      if (done) throw new Error('the blocking leader exited without output');
      return JSON.parse(value as string) as BlockingLeaderLine;
    },
  };
}

/** Ends every blocking leader started so far (afterEach). */
export function killBlockingLeaders(): void {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
}
