/**
 * A lease id this replica no longer acquires with, while the lease may still be held under it: until
 * `until` (D after the last request of ours that may still land under it, plus its timeout).
 */
export interface RetiredLease {
  readonly id: string;
  readonly until: number;
}

/**
 * The lease ids a candidacy has retired. A released id: its release may land late, so a record naming
 * this replica is not taken as its own meanwhile. An id left to expire (work of an ended tenure may
 * still run): likewise, and it is never released, since freeing it would let another replica lead
 * beside that work (docs/GUARANTEES.md, "a lease left to expire").
 */
export class RetiredLeases {
  private recordNotOursUntil = -Infinity;
  private leftToExpire: RetiredLease[] = [];

  /** `id` was carried by a release: it may land late. */
  released(lease: RetiredLease): void {
    this.recordNotOursUntil = Math.max(this.recordNotOursUntil, lease.until);
  }

  /** `id` is left to expire: never released, never taken up as ours while it may be held. */
  leftToExpireUnder(lease: RetiredLease, now: number): void {
    this.released(lease);
    this.leftToExpire = [...this.leftToExpire.filter((old) => old.until > now), lease];
  }

  /** A record naming this replica may still be held under one of its retired ids. */
  mayHoldRecord(now: number): boolean {
    return now < this.recordNotOursUntil;
  }

  /** The lease left to expire under `id`, while it may still be held. */
  leftToExpireAs(id: string, now: number): RetiredLease | undefined {
    return this.leftToExpire.find((lease) => lease.id === id && now < lease.until);
  }

  /** The last lease left to expire, while it may still be held. */
  stillLeftToExpire(now: number): RetiredLease | undefined {
    return this.leftToExpire.filter((lease) => now < lease.until).at(-1);
  }
}

/** The log line when a lease left to expire is not released: the truth, not "Released lease". */
export function leftToExpireLine(leaseName: string, left: RetiredLease, now: number): string {
  return (
    `Not releasing lease "${leaseName}": it was left to expire (work of an ended tenure may still ` +
    `run) and is surely free within ${Math.ceil((left.until - now) / 1000)} s`
  );
}
