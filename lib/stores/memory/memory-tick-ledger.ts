import {
  decideClaim,
  EMPTY_LEDGER,
  withClaim,
  type ClaimResult,
  type LedgerDocument,
  type TickClaim,
  type TickLedger,
  type TickRecord,
} from '../../core/tick-ledger.js';

/**
 * A tick ledger in process memory: for the memory store (one per store, so replicas sharing a
 * MemoryLeaseStore share it) and the testing kit. Claims are atomic (one synchronous step).
 */
export class MemoryTickLedger implements TickLedger {
  private readonly documents = new Map<string, LedgerDocument>();

  async lastTick(leaseName: string, job: string, signal?: AbortSignal): Promise<TickRecord | undefined> {
    signal?.throwIfAborted();
    const record = this.documents.get(leaseName)?.jobs[job];
    return record ? { ...record } : undefined;
  }

  async claim(request: TickClaim, signal?: AbortSignal): Promise<ClaimResult> {
    signal?.throwIfAborted();
    const document = this.documents.get(request.leaseName) ?? EMPTY_LEDGER;
    const result = decideClaim(document.jobs[request.job], document.term, request);
    if (result.claimed) this.documents.set(request.leaseName, withClaim(document, request));
    return result;
  }
}

const ledgers = new WeakMap<object, MemoryTickLedger>();

/** The ledger of a memory store (created on first use): replicas on one store share their ledger. */
export function memoryTickLedgerOf(store: object): MemoryTickLedger {
  let ledger = ledgers.get(store);
  if (!ledger) ledgers.set(store, (ledger = new MemoryTickLedger()));
  return ledger;
}
