import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { DelegatedLease, DelegatedRenewal, RenewalDelegate } from '../core/renewal-delegate.js';
import { systemClock } from '../core/clock.js';
import { safeLogger, type ElectionLogger } from '../core/logger.js';
import { STORE_PIPELINE_OPTIONS, type TokenCredential } from '../stores/azure-blob/azure-blob-lease-store.js';
import { renewalWorkerMain } from './renewal-worker-source.js';
import { TokenRelay, tokenCoverMs } from './token-relay.js';
import {
  createSharedState,
  HEARTBEAT,
  lossDetailOfWord,
  lossDetailWord,
  MAX_SLOTS,
  PROBE,
  slotIndex,
  SlotState,
  stateOfWord,
  stateWord,
  toMs,
  toUs,
} from './shared-renewal-state.js';
import { LeaderElectionError, LeaderElectionSetupError } from '../core/errors.js';

/**
 * How the thread reaches storage. A connection string (account key or SAS) crosses into the thread
 * as it is. A TokenCredential object cannot: it stays on the main thread, which mints tokens with it
 * and hands each one over long before it expires (see TokenRelay).
 */
export type RenewalThreadConnection =
  | { connectionString: string; accountUrl?: never; credential?: never }
  | { accountUrl: string; credential: TokenCredential; connectionString?: never };

export type RenewalThreadOptions = RenewalThreadConnection & RenewalThreadSettings;

export interface RenewalThreadSettings {
  containerName: string;
  /**
   * Longest time the main thread may be blocked (no heartbeat) and still have its leases renewed,
   * ms. Default 60000 (4 × the default lease): a CPU-bound job of up to a minute keeps the lease. The
   * last renewal goes out between maxBlockedMs − renewInterval and maxBlockedMs into a block, and the
   * lease then runs out D after it. A block that ends before that keeps the tenure until its deadline
   * (last renewal + D − safetyMargin), then the process steps down and, at its next poll, re-acquires
   * its own still-held lease (same lease id) with a new term: nobody else can take it meanwhile. Only
   * a block that outlasts the lease (from about maxBlockedMs + D − renewInterval into it) lets
   * another replica take over, within about maxBlockedMs + D + R: a wedged process cannot hold the
   * lease for ever.
   */
  maxBlockedMs?: number;
  /**
   * End the process (SIGKILL) if the main thread is still blocked when a lease's deadline passes.
   * Default false.
   */
  exitOnBlockedDeadline?: boolean;
  /** How often the main thread proves it runs, ms. Default 100. */
  heartbeatMs?: number;
  logger?: ElectionLogger;
  /**
   * @internal The monotonic clock both threads read (`process.hrtime.bigint`, ns): CLOCK_MONOTONIC is
   * one clock for every thread of a process. Replaced only by the simulation tester.
   */
  monotonicNs?: () => bigint;
}

/**
 * One renewal thread per process, however many leases (a RenewalDelegate for LeaderElector). The
 * main thread keeps deciding: it acquires, steps down, and reads every deadline synchronously from
 * shared memory; the thread only renews leases the main thread holds, and only while the main thread
 * has beaten within maxBlockedMs.
 */
export class RenewalThread implements RenewalDelegate {
  private readonly state = createSharedState();
  private readonly worker: Worker;
  private readonly tokens?: TokenRelay;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly logger: ElectionLogger;
  private readonly losses = new Map<string, { recordLost: boolean; message: string }>();
  private readonly stops = new Map<string, string>();
  /** Slot:generation keys of tenures not ended: a message arriving after its tenure ended is dropped. */
  private readonly liveKeys = new Set<string>();
  /** Slots owned by a tenure that has not ended: a slot is given out again only once freed. */
  private readonly usedSlots = new Set<number>();
  private readonly maxBlockedMs: number;
  private generation = 0;
  private closed = false;
  readonly ready: Promise<void>;

  constructor(options: RenewalThreadOptions) {
    const maxBlockedMs = options.maxBlockedMs ?? 60_000;
    if (typeof maxBlockedMs !== 'number' || !Number.isFinite(maxBlockedMs) || maxBlockedMs < 1_000) {
      throw new LeaderElectionSetupError(
        `Invalid renewal thread option "maxBlockedMs": got ` +
          `${typeof maxBlockedMs === 'number' ? maxBlockedMs : typeof maxBlockedMs}; ` +
          'allowed: a number of ms ≥ 1000',
      );
    }
    this.maxBlockedMs = maxBlockedMs;
    const byString = typeof options.connectionString === 'string' && options.connectionString !== '';
    const byToken =
      typeof options.accountUrl === 'string' &&
      /^https?:\/\//.test(options.accountUrl) &&
      typeof options.credential?.getToken === 'function';
    if (byString === byToken) {
      throw new LeaderElectionSetupError(
        'Invalid renewal thread options: give either "connectionString" (account key or SAS) ' +
          'or "accountUrl" with a TokenCredential "credential" ' +
          '(its tokens are minted on the main thread and handed to the thread)',
      );
    }
    this.logger = safeLogger(
      options.logger ?? { log: () => undefined, warn: () => undefined, error: () => undefined },
    );
    // The elector's clock (systemClock): the thread converts its own readings to it.
    const beat = (): void => {
      Atomics.store(this.state, HEARTBEAT, toUs(systemClock.now()));
    };
    beat();
    Atomics.store(this.state, PROBE, toUs(systemClock.now()));
    // One time base for both threads, measured here rather than when the thread starts running (a
    // process stopped meanwhile would skew a later measurement by the stop): see mainClockBase.
    const timeBase = mainClockBase(options.monotonicNs ?? (() => process.hrtime.bigint()));
    this.heartbeat = setInterval(beat, options.heartbeatMs ?? 100);
    this.heartbeat.unref();
    const storageModulePath = createRequire(import.meta.url).resolve('@azure/storage-blob');
    this.worker = new Worker(`(${renewalWorkerMain.toString()})()`, {
      eval: true,
      workerData: {
        state: this.state,
        timeBase,
        storageModulePath,
        ...(options.connectionString !== undefined
          ? { connectionString: options.connectionString }
          : { accountUrl: options.accountUrl }),
        containerName: options.containerName,
        pipelineOptions: STORE_PIPELINE_OPTIONS,
        maxBlockedMs,
        exitOnBlockedDeadline: options.exitOnBlockedDeadline ?? false,
      },
    });
    this.worker.unref();
    if (options.credential) {
      this.tokens = new TokenRelay({
        credential: options.credential,
        coverMs: tokenCoverMs(maxBlockedMs),
        deliver: (token) => this.worker.postMessage({ type: 'token', ...token }),
        logger: this.logger,
      });
    }
    const started = new Promise<void>((resolve, reject) => {
      this.worker.once('error', reject);
      this.worker.on(
        'message',
        (message: {
          type: string;
          slot?: number;
          generation?: number;
          status?: number;
          message?: string;
          silenceMs?: number;
        }) => {
          if (message.type === 'ready') resolve();
          // A message about a tenure that has ended is not kept (nothing would ever delete it).
          const key = `${message.slot}:${message.generation}`;
          const live = this.liveKeys.has(key);
          if (message.type === 'lost' && live)
            this.losses.set(key, {
              recordLost: message.status === 404,
              message: message.message ?? 'lease lost',
            });
          if (message.type === 'stopped') {
            const why = this.stoppedReason(message.silenceMs);
            if (live) this.stops.set(key, why);
            this.logger.warn(`Renewal thread: ${why}`);
          }
        },
      );
    });
    this.ready = Promise.all([started, this.tokens?.first]).then(() => undefined);
    this.worker.on('error', (error) =>
      this.logger.error(
        'Renewal thread failed (leases are then renewed by nobody and expire; restart the process): ' +
          error.message,
      ),
    );
  }

  begin(lease: DelegatedLease): DelegatedRenewal {
    if (this.closed) throw new LeaderElectionError('The renewal thread is closed');
    let slot = 0;
    while (slot < MAX_SLOTS && this.usedSlots.has(slot)) slot += 1;
    if (slot === MAX_SLOTS)
      throw new LeaderElectionError(`All ${MAX_SLOTS} renewal thread slots are held by running tenures`);
    this.usedSlots.add(slot);
    const generation = ++this.generation;
    const key = `${slot}:${generation}`;
    Atomics.store(this.state, slotIndex(slot, 0), toUs(lease.sentAt));
    Atomics.store(this.state, slotIndex(slot, 2), BigInt(generation));
    Atomics.store(this.state, slotIndex(slot, 3), lossDetailWord(generation, 0));
    Atomics.store(this.state, slotIndex(slot, 1), stateWord(generation, SlotState.ACTIVE));
    this.liveKeys.add(key);
    this.worker.postMessage({
      type: 'hold',
      hold: { ...lease, slot, generation, sentAtUs: toUs(lease.sentAt).toString() },
    });
    let ended = false;
    const mine = (): boolean => Atomics.load(this.state, slotIndex(slot, 2)) === BigInt(generation);
    return {
      lastSentAt: () => (mine() ? toMs(Atomics.load(this.state, slotIndex(slot, 0))) : -Infinity),
      lost: () => {
        if (!mine()) return undefined;
        const word = stateOfWord(Atomics.load(this.state, slotIndex(slot, 1)));
        if (word.generation !== generation) return undefined;
        const state = word.state;
        if (state !== SlotState.LOST && state !== SlotState.RECORD_LOST) return undefined;
        // The worker's message (with the error code) may not have arrived yet; the status it wrote
        // into the slot before the state did.
        const detail = lossDetailOfWord(Atomics.load(this.state, slotIndex(slot, 3)));
        const status = detail.generation === generation ? detail.status : 0;
        return (
          this.losses.get(key) ?? {
            recordLost: state === SlotState.RECORD_LOST,
            message: status ? `renewal thread: HTTP ${status}` : 'lease lost (renewal thread)',
          }
        );
      },
      // As with a loss, the slot's state may show the stop before the message saying how long it was.
      stoppedBecause: () =>
        this.stops.get(key) ??
        (Atomics.load(this.state, slotIndex(slot, 1)) === stateWord(generation, SlotState.STOPPED_BLOCKED)
          ? this.stoppedReason()
          : undefined),
      end: () => {
        if (ended) return;
        ended = true;
        this.liveKeys.delete(key);
        this.losses.delete(key);
        this.stops.delete(key);
        this.worker.postMessage({ type: 'end', slot, generation });
        // Free for a later tenure: the worker writes to it only by compare-and-set on its own values.
        this.usedSlots.delete(slot);
      },
    };
  }

  private stoppedReason(silenceMs?: number): string {
    const silence = silenceMs === undefined ? '' : ` for ${Math.round(silenceMs / 1000)} s`;
    return (
      `a renewal was due while the main thread had not run${silence} ` +
      `(more than maxBlockedMs, ${this.maxBlockedMs} ms), so the renewal thread stopped renewing`
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    this.tokens?.close();
    await this.worker.terminate();
  }
}

/**
 * Where the elector's clock (systemClock, µs) sits on the process's monotonic clock (µs): main time =
 * monotonic − base. Two monotonic reads around one main-clock read bound the base from both sides
 * (the gap is microseconds): the thread converts its times to the main clock with `highUs` (they come
 * out early: deadlines only move earlier) and the main clock's to its own with `lowUs` (its own
 * deadline is never later than the main thread's).
 */
export function mainClockBase(monotonicNs: () => bigint): { lowUs: bigint; highUs: bigint } {
  const before = monotonicNs() / 1000n;
  const main = toUs(systemClock.now());
  const after = monotonicNs() / 1000n + 1n;
  return { lowUs: before - main - 1n, highUs: after - main };
}
