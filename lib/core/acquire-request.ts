import type { ResolvedElectionOptions } from './election-options.js';
import type { AcquireRequest, LeaseObservation } from './lease-store.js';

/** The acquire a candidate sends after `observation` (one candidate proposes one lease id throughout). */
export function acquireRequestAfter(
  lease: { leaseName: string; identity: string; options: ResolvedElectionOptions },
  observation: LeaseObservation,
  leaseId: string,
  minimumTerm: number,
): AcquireRequest {
  const { fastFailover, leaseDurationSeconds } = lease.options;
  return {
    leaseName: lease.leaseName,
    leaseId,
    identity: lease.identity,
    durationSeconds: leaseDurationSeconds,
    minimumTerm,
    // Taken only if the record is still the one observed: a pause or a slow request between the
    // observation and the acquire cannot make a stale observation win (GUARANTEES.md).
    ...(observation.etag !== undefined ? { ifMatch: observation.etag } : {}),
    // Fast failover: followers judge this holder by the livenessMs it declares here, never by theirs.
    ...(fastFailover ? { livenessMs: fastFailover.livenessMs } : {}),
  };
}
