import type { LeaseObservation, LeaseStore } from './lease-store.js';

/**
 * Optional batched observation port of a {@link LeaseStore}: every lease record of the store (one
 * container) read at once, e.g. one List Blobs with metadata. It only replaces observations: acquire,
 * renew and release stay per-lease operations, so a stale listing costs a refused acquire or a poll,
 * never safety (docs/OPERATIONS.md, "Many leases").
 */
export interface LeaseLister {
  /**
   * Observations of `leaseNames` (and possibly other leases of the store), read as `observe()` reads
   * one. A lease absent from the map is observed alone with observe() (one request), so that a missing
   * record carries the store's own version of "missing" and an acquire on it stays conditional.
   */
  listLeases(
    leaseNames: readonly string[],
    signal: AbortSignal,
  ): Promise<ReadonlyMap<string, LeaseObservation>>;
  /** Followers list from this many leases followed in the store on (the switch-over rule). */
  readonly listingFromLeases: number;
  /** Leases per listing request (a listing of more takes several): bounds the listing's time. */
  readonly listingPageSize?: number;
}

/** The store's lister, when it has one. */
export function leaseListerOf(store: LeaseStore): LeaseLister | undefined {
  const candidate = store as Partial<LeaseLister>;
  return typeof candidate.listLeases === 'function' &&
    typeof candidate.listingFromLeases === 'number' &&
    candidate.listingFromLeases >= 1
    ? (store as LeaseStore & LeaseLister)
    : undefined;
}
