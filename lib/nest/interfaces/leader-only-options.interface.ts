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
  /**
   * For @Cron handlers: a tick that fell into a leadership gap (crash, partition, deploy) runs once on
   * the next leader as soon as it leads, if the tick is at most `deadlineMs` old. Only the latest
   * missed tick runs. Each tick is recorded in the lease's tick ledger before its run starts, so a
   * tick runs at most once across tenures (docs/leader-work.md, "Missed cron ticks").
   */
  catchUp?: { deadlineMs: number };
}

/** What @LeaderOnly records on the method (read by the explorer and the interceptor). */
export interface LeaderOnlyMetadata {
  leaseName?: string;
  allowOverlap: boolean;
  runMissedTimeout: boolean;
  /** Set with @LeaderOnly({ catchUp }) (validated: a whole number of ms ≥ 1). */
  catchUp?: { deadlineMs: number };
  /** "ClassName.method", for logs. */
  handlerName: string;
}
