export interface LeaderOnlyOptions {
  /** Lease (election) this method is gated on. Default: the module's `leaseName` ("leader"). */
  leaseName?: string;
  /**
   * Let a new run start while the previous run of the same method on the same instance is still
   * going (e.g. a slow @Interval job). Default false: the overlapping tick is skipped. Applies to
   * scheduled and other background calls only: request handlers (routes, message patterns,
   * resolvers, gateway handlers) are never skipped as overlap, and a nested call from inside the
   * method's own run (recursion) is not an overlap.
   */
  allowOverlap?: boolean;
  /**
   * For @Timeout handlers: when the one-shot tick fired while this replica was a follower (e.g. a
   * new pod during a rolling deploy), run the handler once as soon as this replica first becomes
   * leader of the lease. Default true; false keeps plain skip semantics (the tick is lost).
   */
  runMissedTimeout?: boolean;
}

/** What @LeaderOnly records on the method (read by the explorer and the interceptor). */
export interface LeaderOnlyMetadata {
  leaseName?: string;
  allowOverlap: boolean;
  runMissedTimeout: boolean;
  /** "ClassName.method", for logs. */
  handlerName: string;
}
