import { validateLeaseName } from '../../core/election-options.js';
import { LEADER_ELECTION_CLASS_METADATA } from '../leader-election.constants.js';

/**
 * Makes a provider receive the leadership transitions of a lease (default: the module's lease)
 * through its OnLeadershipAcquired / OnLeadershipLost / OnLeaderChanged methods, as @LeaderElection(key)
 * does in @nestjs/locks. Required: a method that merely has a hook's name (another library's, say)
 * is never called.
 */
export function LeaderElection(leaseName?: string): ClassDecorator {
  if (leaseName !== undefined) validateLeaseName(leaseName, '@LeaderElection leaseName');
  return (target) => {
    Reflect.defineMetadata(LEADER_ELECTION_CLASS_METADATA, { leaseName }, target);
  };
}

export { getLeaderElectionHooks } from '../leader-election-metadata.accessor.js';
