/* eslint-disable @typescript-eslint/no-require-imports */
/**
 * The renewal thread's code. It runs as an `eval` worker (a string), so the same code works from the
 * published ESM build, from CommonJS apps and under test runners that transform TypeScript: the
 * function below is serialised with toString() and must stay self-contained (no imports, no outer
 * variables). Layout and time rules: see shared-renewal-state.ts, whose constants are repeated here.
 *
 * Per held lease: renew every renewIntervalMs after the last send, each request bounded by
 * min(requestTimeoutMs, deadline − now) with the deadline = last send + D − safetyMargin (worker
 * clock); publish each successful send time (converted to the main clock, rounded early) to shared
 * memory; 409/412 → LOST, 404 → RECORD_LOST; transient errors retried every renewRetryIntervalMs
 * until the deadline. Before each renewal, the main thread's heartbeat must be younger than
 * maxBlockedMs: a main thread blocked longer stops being renewed for (STOPPED_BLOCKED), so a wedged
 * process cannot hold a lease for ever. With exitOnBlockedDeadline, a main thread still blocked when
 * the deadline passes ends the process (SIGKILL: nothing else can interrupt it).
 */
export function renewalWorkerMain(): void {
  const { parentPort, workerData } = require('node:worker_threads') as typeof import('node:worker_threads');
  const { performance } = require('node:perf_hooks') as typeof import('node:perf_hooks');
  const timeBase = (workerData as { timeBase?: { lowUs: bigint; highUs: bigint } }).timeBase;
  // With a time base (RenewalThread always gives one) this thread reads the process's monotonic clock,
  // the one the base was measured on: the conversion does not depend on when this thread started.
  const nowUs = timeBase
    ? (): bigint => process.hrtime.bigint() / 1000n
    : (): bigint => BigInt(Math.floor(performance.now() * 1000));
  // Without one: the offset handshake, first thing (the main thread wrote its clock into PROBE,
  // state[1], before starting us; each µs before this read, e.g. loading the SDK, skews deadlines).
  const probedUs = timeBase ? 0n : nowUs() - Atomics.load((workerData as { state: BigInt64Array }).state, 1);
  // Worker time − main time, two bounds: converting to the main clock with the upper one makes send
  // times early (safe); converting main times here with the lower one keeps this deadline ≤ the main one.
  const toMainOffsetUs = timeBase ? timeBase.highUs : probedUs;
  const fromMainOffsetUs = timeBase ? timeBase.lowUs : probedUs;
  const data = workerData as {
    state: BigInt64Array;
    storageModulePath: string;
    /** Either a connection string (account key or SAS) … */
    connectionString?: string;
    /** … or an account URL, with tokens minted on the main thread and posted here ('token' messages). */
    accountUrl?: string;
    containerName: string;
    /** The store's pipeline options (STORE_PIPELINE_OPTIONS: no SDK retries, our user agent). */
    pipelineOptions: object;
    maxBlockedMs: number;
    exitOnBlockedDeadline: boolean;
  };
  const { BlobServiceClient } = require(data.storageModulePath) as typeof import('@azure/storage-blob');
  const HEARTBEAT = 0;
  const SLOT_BASE = 4;
  const SLOT_SIZE = 4;
  const LOST = 1n;
  const RECORD_LOST = 2n;
  const STOPPED_BLOCKED = 3n;
  const ENDED = 4n;
  const state = data.state;
  const pipelineOptions = data.pipelineOptions;
  // A TokenCredential cannot cross threads; its tokens can. This one hands the SDK the newest token
  // the main thread posted (the SDK caches it and asks again near its expiry); before the first
  // arrives, a request waits for it, bounded by the request's own abort signal.
  let token: { token: string; expiresOnTimestamp: number } | undefined;
  const waitingForToken = new Set<() => void>();
  const relayedCredential = {
    getToken: (_scopes: string | string[], options?: { abortSignal?: AbortSignal }) =>
      new Promise<{ token: string; expiresOnTimestamp: number }>((resolve, reject) => {
        if (token) return resolve(token);
        const signal = options?.abortSignal;
        const onAbort = (): void => {
          waitingForToken.delete(arrived);
          reject(new Error('no storage token from the main thread yet'));
        };
        const arrived = (): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve(token!);
        };
        waitingForToken.add(arrived);
        signal?.addEventListener('abort', onAbort, { once: true });
      }),
  };
  const service = data.connectionString
    ? BlobServiceClient.fromConnectionString(data.connectionString, pipelineOptions)
    : new BlobServiceClient(data.accountUrl!, relayedCredential, pipelineOptions);
  const container = service.getContainerClient(data.containerName);
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(ms, 2_147_483_647))));
  const at = (slot: number, field: number): number => SLOT_BASE + slot * SLOT_SIZE + field;
  const ACTIVE = 0n;
  const word = (hold: { generation: number }, code: bigint): bigint => BigInt(hold.generation) * 8n + code;
  /** Moves this generation's slot from ACTIVE to `code`; false when the slot is no longer ours. */
  const setState = (hold: { slot: number; generation: number }, code: bigint): boolean =>
    Atomics.compareExchange(state, at(hold.slot, 1), word(hold, ACTIVE), word(hold, code)) ===
    word(hold, ACTIVE);
  const ended = new Set<string>();

  interface Hold {
    slot: number;
    generation: number;
    leaseName: string;
    leaseId: string;
    sentAtUs: string;
    leaseDurationMs: number;
    safetyMarginMs: number;
    renewIntervalMs: number;
    renewRetryIntervalMs: number;
    requestTimeoutMs: number;
  }

  async function renewWhileHeld(hold: Hold): Promise<void> {
    const key = `${hold.slot}:${hold.generation}`;
    const lease = container.getBlobClient(hold.leaseName).getBlobLeaseClient(hold.leaseId);
    // Send times on the worker clock (never later than the truth: this deadline is never after the main
    // thread's).
    let sentUs = BigInt(hold.sentAtUs) + fromMainOffsetUs;
    // The value this generation last wrote (or the main thread wrote at begin): the CAS expectation.
    let published = BigInt(hold.sentAtUs);
    const deadlineUs = (): bigint => sentUs + BigInt((hold.leaseDurationMs - hold.safetyMarginMs) * 1000);
    for (;;) {
      await sleep(Number(sentUs + BigInt(hold.renewIntervalMs * 1000) - nowUs()) / 1000);
      for (;;) {
        if (ended.has(key)) return;
        const now = nowUs();
        if (now >= deadlineUs()) return; // the main thread steps down at the same deadline
        const silenceMs = Number(now - toMainOffsetUs - Atomics.load(state, HEARTBEAT)) / 1000;
        if (silenceMs > data.maxBlockedMs) {
          if (!setState(hold, STOPPED_BLOCKED)) return;
          parentPort!.postMessage({
            type: 'stopped',
            slot: hold.slot,
            generation: hold.generation,
            silenceMs,
          });
          if (data.exitOnBlockedDeadline) {
            await sleep(Number(deadlineUs() - nowUs()) / 1000);
            const stillSilentMs = Number(nowUs() - toMainOffsetUs - Atomics.load(state, HEARTBEAT)) / 1000;
            if (!ended.has(key) && stillSilentMs > data.maxBlockedMs) process.kill(process.pid, 'SIGKILL');
          }
          return;
        }
        const controller = new AbortController();
        const timeoutMs = Math.min(hold.requestTimeoutMs, Number(deadlineUs() - now) / 1000);
        const timer = setTimeout(() => controller.abort(), timeoutMs);
        try {
          await lease.renewLease({ abortSignal: controller.signal });
          clearTimeout(timer);
          sentUs = now;
          if (ended.has(key)) return;
          const next = now - toMainOffsetUs;
          if (Atomics.load(state, at(hold.slot, 2)) !== BigInt(hold.generation)) return;
          if (Atomics.compareExchange(state, at(hold.slot, 0), published, next) !== published) return;
          published = next;
          break;
        } catch (error) {
          clearTimeout(timer);
          const status = (error as { statusCode?: number }).statusCode;
          if (status === 404 || status === 409 || status === 412) {
            if (ended.has(key)) return;
            // The status first, then the state: a reader that sees the loss sees its status too (the
            // message below, with the error code, may arrive after the main thread acted on the loss).
            const noLoss = BigInt(hold.generation) * 1024n;
            const detail = noLoss + BigInt(status);
            if (Atomics.compareExchange(state, at(hold.slot, 3), noLoss, detail) !== noLoss) return;
            if (!setState(hold, status === 404 ? RECORD_LOST : LOST)) return;
            parentPort!.postMessage({
              type: 'lost',
              slot: hold.slot,
              generation: hold.generation,
              status,
              message: `renewal thread: HTTP ${status} ${(error as { code?: string }).code ?? ''}`.trim(),
            });
            return;
          }
          await sleep(Math.min(hold.renewRetryIntervalMs, Number(deadlineUs() - nowUs()) / 1000));
        }
      }
    }
  }

  parentPort!.on(
    'message',
    (
      message:
        | { type: 'hold'; hold: Hold }
        | { type: 'end'; slot: number; generation: number }
        | { type: 'token'; token: string; expiresOnTimestamp: number },
    ) => {
      if (message.type === 'token') {
        token = { token: message.token, expiresOnTimestamp: message.expiresOnTimestamp };
        for (const arrived of [...waitingForToken]) arrived();
        waitingForToken.clear();
      } else if (message.type === 'hold') {
        void renewWhileHeld(message.hold);
      } else if (message.type === 'end') {
        ended.add(`${message.slot}:${message.generation}`);
        setState(message, ENDED);
      }
    },
  );
  parentPort!.postMessage({ type: 'ready' });
}
