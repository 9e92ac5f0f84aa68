// Reads JSON-lines journals written by replicas (appended by several processes), incrementally.
import { closeSync, existsSync, openSync, readSync, fstatSync } from 'node:fs';

export interface JournalEntry {
  event: string;
  replica: string;
  pid: number;
  [key: string]: unknown;
}

export class JournalReader {
  readonly entries: JournalEntry[] = [];
  private offset = 0;
  private partial = '';

  constructor(readonly path: string) {}

  /** Reads whatever was appended since the last call; returns the new entries. */
  poll(): JournalEntry[] {
    if (!existsSync(this.path)) return [];
    const fd = openSync(this.path, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size <= this.offset) return [];
      const buffer = Buffer.alloc(size - this.offset);
      readSync(fd, buffer, 0, buffer.length, this.offset);
      this.offset = size;
      const text = this.partial + buffer.toString('utf8');
      const lines = text.split('\n');
      this.partial = lines.pop() ?? '';
      const fresh: JournalEntry[] = [];
      for (const line of lines) {
        if (!line.trim()) continue;
        try {
          fresh.push(JSON.parse(line) as JournalEntry);
        } catch {
          // a torn line would be a journal bug; skip it rather than abort the benchmark
        }
      }
      this.entries.push(...fresh);
      return fresh;
    } finally {
      closeSync(fd);
    }
  }

  /** Polls until `find` returns something (checking new and old entries), or times out, or `failIf` names a failure. */
  async waitFor<T>(
    find: (entries: JournalEntry[]) => T | undefined,
    timeoutMs: number,
    what: string,
    failIf?: () => string | undefined,
  ): Promise<T> {
    const started = Date.now();
    for (;;) {
      this.poll();
      const found = find(this.entries);
      if (found !== undefined) return found;
      const failure = failIf?.();
      if (failure) throw new Error(`${failure} while waiting for ${what}`);
      if (Date.now() - started > timeoutMs)
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} in ${this.path}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}
