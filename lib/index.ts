// Public API of nestjs-leader-election. Nothing else is exported.
export { systemClock, type Clock, type TimerHandle } from './core/clock.js';
export {
  ELECTION_DEFAULTS,
  InvalidElectionOptionError,
  MAX_LEASE_SECONDS,
  MIN_LEASE_SECONDS,
  resolveElectionOptions,
  type ElectionOptions,
  type ElectionTimingOptions,
  type ResolvedElectionOptions,
} from './core/election-options.js';
export {
  LeaderElector,
  LeadershipEndedError,
  type LeaderElectorDependencies,
  type LeaderRole,
  type Leadership,
  type LeadershipState,
  type StopOptions,
} from './core/leader-elector.js';
export {
  LeaseLostError,
  LeaseStoreError,
  PermanentStoreError,
  TransientStoreError,
  type AcquireRequest,
  type AcquireResult,
  type LeaseObservation,
  type LeaseStore,
  type LeaseStoreErrorKind,
} from './core/lease-store.js';
export { silentLogger, type ElectionLogger } from './core/logger.js';
export {
  AzureBlobLeaseStore,
  DEFAULT_CONTAINER_NAME,
  type AccountUrlStoreOptions,
  type AzureBlobLeaseStoreOptions,
  type ConnectionStringStoreOptions,
  type ContainerClientStoreOptions,
} from './stores/azure-blob/azure-blob-lease-store.js';
export { MemoryLeaseStore } from './stores/memory/memory-lease-store.js';
