// Public API of nestjs-leader-election/testing: test your own leader-only code without storage.
export {
  LeaderElectionTesting,
  LeaderElectionTestingModule,
  type LeaderElectionTestingOptions,
} from './leader-election-testing.module.js';
export { ManualLeaderElector } from './manual-leader-elector.js';
export { LockTesting } from './lock-testing.js';
export { ManualClock } from './manual-clock.js';
export {
  leaseStoreContract,
  type LeaseStoreContractCase,
  type LeaseStoreContractOptions,
} from './lease-store-contract.js';
