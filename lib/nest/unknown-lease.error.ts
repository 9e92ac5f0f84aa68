import { unknownLease } from './leader-election.messages.js';

/**
 * Thrown by LeaderElectionService reads (getState, state$, currentLeader, waitForLeadership,
 * stepDown) for a lease this replica does not take part in. Reads never start an election: lease
 * names may come from input, and each election holds storage requests and memory for ever.
 */
export class UnknownLeaseError extends Error {
  constructor(
    readonly leaseName: string,
    readonly declared: string[],
  ) {
    super(unknownLease(leaseName, declared));
    this.name = 'UnknownLeaseError';
  }
}
