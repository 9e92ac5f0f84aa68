/**
 * Thrown by LeaderElectionService reads (getState, state$, currentLeader, waitForLeadership,
 * stepDown) for a lease this replica does not take part in. Reads never start an election: lease
 * names may come from input, and each election holds storage requests and memory for ever.
 * Defined with the other errors in core/errors.ts; this path stays for existing deep imports.
 */
export { UnknownLeaseError } from '../core/errors.js';
