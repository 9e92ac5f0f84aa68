// One replica of the per-run fault bench (bench/perf/locks-faults.ts): ticks once per second (its wall
// clock shifted by OFFSET_MS) and runs each tick through LockManager.runOnce, journaling every run.
// Environment: AZURE_STORAGE_CONNECTION_STRING, CONTAINER_NAME, JOB, REPLICA, OFFSET_MS, JOURNAL.
import { appendFileSync } from 'node:fs';
import { LockManager } from '../../lib/locks/lock-manager.js';
import { AzureBlobLeaseStore } from '../../lib/stores/azure-blob/azure-blob-lease-store.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is required`);
  return value;
};
const replica = env('REPLICA');
const offset = Number(env('OFFSET_MS'));
const job = env('JOB');
const journal = env('JOURNAL');
const manager = new LockManager(
  new AzureBlobLeaseStore({
    connectionString: env('AZURE_STORAGE_CONNECTION_STRING'),
    containerName: env('CONTAINER_NAME'),
  }),
  { identity: replica },
);
const write = (entry: object): void => appendFileSync(journal, `${JSON.stringify({ ...entry, replica })}\n`);

write({ event: 'boot', pid: process.pid, at: Date.now() });
const tick = (): void => {
  const tickAt = Math.floor((Date.now() + offset) / 1000) * 1000;
  manager
    .runOnce(
      job,
      tickAt,
      async ({ term, signal }) => {
        const start = Date.now();
        await new Promise((resolve) => setTimeout(resolve, 50)); // the work
        write({ event: 'run', tickAt, term, start, end: Date.now(), aborted: signal.aborted });
      },
      { spreadMs: 500 },
    )
    .then(
      (result) => {
        if (!result.ran) write({ event: 'skip', tickAt, reason: result.reason });
      },
      (error: unknown) => write({ event: 'error', tickAt, error: String(error) }),
    );
};
setTimeout(() => {
  tick();
  setInterval(tick, 1_000);
}, Math.random() * 1_000);
process.on('SIGTERM', () => {
  void manager.stop(2_000).then(() => process.exit(0));
});
