import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** What GET /leader of the sample app answers. */
export interface ReplicaLeaderView {
  identity: string;
  leases: Array<{
    leaseName: string;
    role: string;
    leader?: string;
    term?: number;
    consecutiveFailures: number;
  }>;
  /** The sample app's @LeaderTask consumer on this replica. */
  consumer?: { running: boolean; term?: number; processed: number };
  /** Live members of the default lease, best first, as this replica last listed them (presence on). */
  members?: Array<{
    identity: string;
    priority: number;
    canLead: boolean;
    startedAt: number;
    lastSeenAgoMs: number;
    role: 'leader' | 'follower';
    self: boolean;
  }>;
}

export const SAMPLE_APP_MAIN = fileURLToPath(new URL('../../dist/sample-app/src/main.js', import.meta.url));

/**
 * One sample-app replica as a child process (built by `npm run build:apps`). Used by the demo and by
 * the multi-process e2e test. Output goes to a log file so the terminal stays readable.
 */
export class ReplicaProcess {
  private child?: ChildProcess;
  private exit?: Promise<unknown>;
  status: 'running' | 'stopped' | 'killed' | 'exited' | 'not started' = 'not started';
  /** Called with each line the replica writes to stdout, as it arrives (the demo watches the consumer's lines). */
  onLine?: (line: string) => void;

  constructor(
    readonly id: string,
    readonly port: number,
    private readonly env: Record<string, string>,
    private readonly logFile?: string,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.status === 'running';
  }

  async start(readyTimeoutMs = 30_000): Promise<void> {
    const child = spawn(process.execPath, ['--enable-source-maps', SAMPLE_APP_MAIN], {
      env: { ...process.env, NO_COLOR: '1', ...this.env, PORT: String(this.port), INSTANCE_ID: this.id },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.status = 'running';
    if (this.logFile) {
      const log = createWriteStream(this.logFile, { flags: 'a' });
      child.stdout.pipe(log);
      child.stderr.pipe(log);
    } else {
      child.stdout.resume();
      child.stderr.resume();
    }
    createInterface({ input: child.stdout }).on('line', (line) => this.onLine?.(line));
    this.exit = once(child, 'exit').then(() => {
      if (this.status === 'running') this.status = 'exited';
    });
    const started = Date.now();
    while (!(await this.view())) {
      if (this.status !== 'running')
        throw new Error(`replica ${this.id} exited during startup (see ${this.logFile ?? 'its output'})`);
      if (Date.now() - started > readyTimeoutMs)
        throw new Error(`replica ${this.id} did not answer on port ${this.port} within ${readyTimeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Graceful stop (SIGTERM → Nest shutdown hooks → lease released). Resolves when the process exited. */
  async stop(): Promise<void> {
    if (!this.child || this.status !== 'running') return;
    this.status = 'stopped';
    this.child.kill('SIGTERM');
    await this.exit;
  }

  /** Crash (SIGKILL): the lease is not released and must expire. */
  async kill(): Promise<void> {
    if (!this.child || this.status !== 'running') return;
    this.status = 'killed';
    this.child.kill('SIGKILL');
    await this.exit;
  }

  /** The replica's own view of the elections, or undefined when it does not answer. */
  async view(timeoutMs = 1_000): Promise<ReplicaLeaderView | undefined> {
    if (this.status !== 'running') return undefined;
    try {
      const response = await fetch(`http://127.0.0.1:${this.port}/leader`, {
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (!response.ok) return undefined;
      return (await response.json()) as ReplicaLeaderView;
    } catch {
      return undefined;
    }
  }

  /** This replica's role for a lease, as it reports it. */
  async role(leaseName = 'leader'): Promise<string | undefined> {
    return (await this.view())?.leases.find((lease) => lease.leaseName === leaseName)?.role;
  }
}

/** Polls until one running replica reports itself leader of `leaseName`; returns it with the time waited. */
export async function waitForLeader(
  replicas: ReplicaProcess[],
  options: { leaseName?: string; timeoutMs: number; exclude?: ReplicaProcess; pollMs?: number },
): Promise<{ leader: ReplicaProcess; waitedMs: number; term?: number }> {
  const started = Date.now();
  for (;;) {
    for (const replica of replicas) {
      if (replica === options.exclude || !replica.running) continue;
      const lease = (await replica.view())?.leases.find(
        (entry) => entry.leaseName === (options.leaseName ?? 'leader'),
      );
      if (lease?.role === 'leader')
        return { leader: replica, waitedMs: Date.now() - started, term: lease.term };
    }
    if (Date.now() - started > options.timeoutMs) throw new Error(`no leader within ${options.timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 50));
  }
}
