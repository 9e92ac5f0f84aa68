import { EventEmitter } from 'node:events';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { LeaseLostError, LeaseRecordLostError, type LeaseStore } from '../../lib/core/lease-store.js';
import type { RenewalDelegate } from '../../lib/core/renewal-delegate.js';
import type { Owner, Scheduler } from './sim-clock.js';

/**
 * The real renewal thread (lib/renewal: RenewalThread and the worker function it evals) on simulated
 * time: its Worker is replaced by one that runs the same worker source in this thread, with
 * `require` answering node:worker_threads (a port whose messages travel on virtual timers),
 * node:perf_hooks (the virtual clock) and @azure/storage-blob (a lease client that renews through
 * the replica's simulated connection). Its shared memory is the real SharedArrayBuffer layout, so
 * slot allocation, generations and the elector's reads are the library's own code.
 */
interface WorkerEnv {
  sched: Scheduler;
  main: Owner;
  worker: Owner;
  connection: LeaseStore;
  /** The worker's clock runs this far ahead of the main thread's (exercises the offset conversion). */
  skewMs: number;
  kill(): void;
}

const nodeRequire = createRequire(import.meta.url);
const workerThreads = nodeRequire('node:worker_threads') as { Worker: new (...args: unknown[]) => unknown };
const RealWorker = workerThreads.Worker;
let pendingEnv: WorkerEnv | undefined;

class SimWorker extends EventEmitter {
  private readonly portListeners: Array<(message: unknown) => void> = [];
  private terminated = false;
  private readonly env!: WorkerEnv;

  constructor(source: string, options: { workerData: Record<string, unknown> }) {
    super();
    // Any other worker (none in a simulation, but the module stays patched) is a real one.
    if (!pendingEnv) return new RealWorker(source, options) as SimWorker;
    const env = pendingEnv;
    this.env = env;
    const { sched, worker, main } = env;
    const parentPort = {
      on: (event: string, listener: (message: unknown) => void) => {
        if (event === 'message') this.portListeners.push(listener);
      },
      postMessage: (message: unknown) => {
        const copy = structuredClone(message);
        sched.setTimeout(main, () => !this.terminated && this.emit('message', copy), 0);
      },
    };
    const fakeRequire = (id: string): unknown => {
      if (id === 'node:worker_threads' || id === 'worker_threads')
        return { parentPort, workerData: options.workerData };
      if (id === 'node:perf_hooks' || id === 'perf_hooks')
        return { performance: { now: () => sched.now + env.skewMs } };
      if (id === options.workerData.storageModulePath) return fakeStorageSdk(env.connection);
      throw new Error(`simulated renewal worker: unexpected require("${id}")`);
    };
    const setTimer = (callback: () => void, ms: number): number => sched.setTimeout(worker, callback, ms);
    const clearTimer = (id: number): void => sched.clearTimeout(id);
    const fakeProcess = { pid: 0, kill: () => env.kill(), hrtime: { bigint: () => simMonotonicNs(env) } };
    // The same string the real Worker would eval; `__name` is what some transpilers insert (keepNames).
    const run = new Function('require', 'setTimeout', 'clearTimeout', 'process', '__name', source) as (
      ...args: unknown[]
    ) => void;
    sched.setTimeout(worker, () => run(fakeRequire, setTimer, clearTimer, fakeProcess, (f: unknown) => f), 0);
  }

  postMessage(message: unknown): void {
    const copy = structuredClone(message);
    const env = this.env;
    env.sched.setTimeout(
      env.worker,
      () => {
        if (this.terminated) return;
        for (const listener of this.portListeners) listener(copy);
      },
      0,
    );
  }

  unref(): this {
    return this;
  }

  terminate(): Promise<number> {
    this.terminated = true;
    return Promise.resolve(0);
  }
}

/** @azure/storage-blob as far as the worker uses it: renewLease through the simulated connection. */
function fakeStorageSdk(connection: LeaseStore): unknown {
  const service = {
    getContainerClient: () => ({
      getBlobClient: (leaseName: string) => ({
        getBlobLeaseClient: (leaseId: string) => ({
          renewLease: async (options: { abortSignal: AbortSignal }) => {
            try {
              await connection.renew(leaseName, leaseId, options.abortSignal);
            } catch (error) {
              throw asRestError(error);
            }
          },
        }),
      }),
    }),
  };
  class BlobServiceClient {
    static fromConnectionString(): unknown {
      return service;
    }
    constructor() {
      return service as unknown as BlobServiceClient;
    }
  }
  return { BlobServiceClient };
}

function asRestError(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const statusCode =
    error instanceof LeaseRecordLostError
      ? 404
      : error instanceof LeaseLostError
        ? 409
        : (error as { statusCode?: number }).statusCode;
  return Object.assign(new Error(error.message), { statusCode, code: (error as { code?: string }).code });
}

type RenewalThreadClass = new (
  options: Record<string, unknown>,
) => RenewalDelegate & { close(): Promise<void> };
let loaded: Promise<RenewalThreadClass> | undefined;

/** Imports lib/renewal/renewal-thread.ts with node:worker_threads' Worker replaced by SimWorker. */
export function loadRenewalThread(): Promise<RenewalThreadClass> {
  loaded ??= (async () => {
    workerThreads.Worker = SimWorker as unknown as typeof RealWorker;
    syncBuiltinESMExports();
    const module = (await import('../../lib/renewal/renewal-thread.js')) as unknown as {
      RenewalThread: RenewalThreadClass;
    };
    return module.RenewalThread;
  })();
  return loaded;
}

export interface SimRenewalThread {
  delegate: RenewalDelegate;
  /** The main thread's heartbeat (RenewalThread's setInterval callback), to be run on virtual time. */
  beat(): void;
}

/**
 * Constructs a real RenewalThread on simulated time. systemClock (which RenewalThread reads for its
 * probe and heartbeat) follows fake timers via `setTimeout.clock`: that is set to the virtual time
 * while RenewalThread code runs, and its setInterval is captured so the heartbeat runs on a virtual timer.
 */
export function createRenewalThread(
  RenewalThread: RenewalThreadClass,
  env: Omit<WorkerEnv, 'kill'> & { kill?: () => void },
  options: { maxBlockedMs: number; heartbeatMs: number },
): SimRenewalThread {
  const { sched } = env;
  let heartbeat: (() => void) | undefined;
  const originalSetInterval = globalThis.setInterval;
  const construct = (): RenewalDelegate => {
    pendingEnv = { ...env, kill: env.kill ?? (() => undefined) };
    globalThis.setInterval = ((callback: () => void) => {
      heartbeat = callback;
      return { unref: () => undefined, ref: () => undefined, hasRef: () => false };
    }) as unknown as typeof setInterval;
    try {
      const thread = new RenewalThread({
        connectionString: 'UseDevelopmentStorage=true',
        containerName: 'sim',
        maxBlockedMs: options.maxBlockedMs,
        heartbeatMs: options.heartbeatMs,
        monotonicNs: () => simMonotonicNs(env),
      });
      return thread;
    } finally {
      globalThis.setInterval = originalSetInterval;
      pendingEnv = undefined;
    }
  };
  const delegate = onSimClock(sched, construct);
  return { delegate, beat: () => onSimClock(sched, () => heartbeat?.()) };
}

/** The process's monotonic clock (process.hrtime.bigint) on virtual time, shared by both threads. */
function simMonotonicNs(env: { sched: Scheduler; skewMs: number }): bigint {
  return BigInt(Math.round((env.sched.now + env.skewMs) * 1e6));
}

/** Runs `fn` with systemClock reading the virtual time (it reads the clock of faked timers). */
function onSimClock<T>(sched: Scheduler, fn: () => T): T {
  const timer = globalThis.setTimeout as unknown as { clock?: unknown };
  const had = Object.prototype.hasOwnProperty.call(timer, 'clock');
  const previous = timer.clock;
  timer.clock = { now: sched.now };
  try {
    return fn();
  } finally {
    if (had) timer.clock = previous;
    else delete timer.clock;
  }
}
