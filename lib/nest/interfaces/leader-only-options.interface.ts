export interface LeaderOnlyOptions {
  /** Lease (election) this method is gated on. Default: the module's `leaseName` ("leader"). */
  leaseName?: string;
  /**
   * Let a new run start while the previous run of the same method on the same instance is still
   * going (e.g. a slow @Interval job). Default false: the overlapping tick is skipped.
   */
  allowOverlap?: boolean;
}

/** What @LeaderOnly records on the method (read by the explorer and the interceptor). */
export interface LeaderOnlyMetadata {
  leaseName?: string;
  allowOverlap: boolean;
  /** "ClassName.method", for logs. */
  handlerName: string;
}
