/**
 * The memory the main thread and the renewal thread share, as one BigInt64Array (Atomics work on it,
 * so no value is ever read half-written). Times are microseconds on the MAIN thread's monotonic
 * clock (`performance.now()` there): the renewal thread converts its own readings with an offset it
 * measured at start (see measureOffsetUs), rounded so that the main thread's deadline can only come
 * out earlier than the truth, never later.
 *
 *   [0] main thread heartbeat (µs, main clock): proves the main thread still runs
 *   [1] clock probe (µs, main clock): written once by the main thread for the offset handshake
 *   per slot s (from SLOT_BASE + s × SLOT_SIZE):
 *     [+0] send time of the last successful acquire/renew (µs, main clock)
 *     [+1] state word: generation × 8 + state (ACTIVE, LOST, RECORD_LOST, STOPPED_BLOCKED, ENDED)
 *     [+2] generation (which tenure the slot belongs to)
 *     [+3] loss detail: generation × 1024 + HTTP status of the renewal that was refused (0 until then),
 *          written before the state word says LOST, so a reader never sees the loss without its status
 *
 * Ownership: the main thread gives a free slot to a tenure (a new generation) and frees it only when
 * that tenure ends. The renewal thread may still be finishing a renewal of an ended tenure, so it
 * writes only by compare-and-set: a send time against the value it wrote last, a state against its
 * own generation's ACTIVE word. A slot passed on to a later tenure is never written by the old one.
 */
export const HEARTBEAT = 0;
export const PROBE = 1;
export const SLOT_BASE = 4;
export const SLOT_SIZE = 4;
export const MAX_SLOTS = 256;

export const SlotState = { ACTIVE: 0n, LOST: 1n, RECORD_LOST: 2n, STOPPED_BLOCKED: 3n, ENDED: 4n } as const;

/** The state word of a slot: which generation it describes, and that generation's state. */
export function stateWord(generation: number, state: bigint): bigint {
  return BigInt(generation) * 8n + state;
}

export function stateOfWord(word: bigint): { generation: number; state: bigint } {
  return { generation: Number(word / 8n), state: word % 8n };
}

/** The loss detail word of a slot: the generation, and the HTTP status that ended its renewals (0: none). */
export function lossDetailWord(generation: number, status: number): bigint {
  return BigInt(generation) * 1024n + BigInt(status);
}

export function lossDetailOfWord(word: bigint): { generation: number; status: number } {
  return { generation: Number(word / 1024n), status: Number(word % 1024n) };
}

export function createSharedState(): BigInt64Array {
  return new BigInt64Array(
    new SharedArrayBuffer((SLOT_BASE + MAX_SLOTS * SLOT_SIZE) * BigInt64Array.BYTES_PER_ELEMENT),
  );
}

export const toUs = (ms: number): bigint => BigInt(Math.floor(ms * 1000));
export const toMs = (us: bigint): number => Number(us) / 1000;

export function slotIndex(slot: number, field: 0 | 1 | 2 | 3): number {
  return SLOT_BASE + slot * SLOT_SIZE + field;
}

/**
 * The renewal thread's offset to the main clock, from the main thread's probe: the probe was written
 * before the renewal thread read it, so `workerNow − probe` is at least the true offset, and a time
 * converted with it (`workerTime − offset`) is at most the true main-clock time. A send time that
 * comes out early only makes the main thread's deadline earlier: safe.
 */
export function measureOffsetUs(probeUs: bigint, workerNowUs: bigint): bigint {
  return workerNowUs - probeUs;
}

/**
 * How long the main thread has not beaten, as the renewal thread sees it (never overestimated by the
 * offset rounding's direction).
 */
export function mainSilenceMs(state: BigInt64Array, workerNowUs: bigint, offsetUs: bigint): number {
  return toMs(workerNowUs - offsetUs - Atomics.load(state, HEARTBEAT));
}
