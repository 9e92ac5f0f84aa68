// Public API of nestjs-leader-election. Nothing else is exported.
export { systemClock, type Clock, type TimerHandle } from './core/clock.js';
export {
  ElectorStoppedError,
  InvalidElectionOptionError,
  LeaderElectionError,
  LeaderElectionSetupError,
  NotLeaderError,
  UnknownLeaseError,
} from './core/errors.js';
export {
  ELECTION_DEFAULTS,
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
  type StoreRequestEvent,
} from './core/leader-elector.js';
export {
  runWhileLeader,
  type LeaderTaskFunction,
  type LeaderTaskFailurePolicy,
  type LeaderTaskHandle,
  type LeaderTaskOptions as CoreLeaderTaskOptions,
} from './core/leader-task.js';
export {
  LEADERSHIP_CHANNELS,
  type LeaderChangedEvent,
  type LeadershipAcquiredEvent,
  type LeadershipEndReason,
  type LeadershipEvent,
  type LeadershipLostEvent,
} from './core/leadership-events.js';
export {
  LeaseLostError,
  LeaseRecordLostError,
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
  type TokenCredential,
} from './stores/azure-blob/azure-blob-lease-store.js';
export { MemoryLeaseStore } from './stores/memory/memory-lease-store.js';
export { MemoryTickLedger } from './stores/memory/memory-tick-ledger.js';
export { AzureBlobTickLedger } from './stores/azure-blob/azure-blob-tick-ledger.js';
export {
  TickLedgerError,
  type ClaimResult,
  type TickClaim,
  type TickLedger,
  type TickRecord,
} from './core/tick-ledger.js';
export type { DelegatedLease, DelegatedRenewal, RenewalDelegate } from './core/renewal-delegate.js';
export {
  RenewalThread,
  type RenewalThreadConnection,
  type RenewalThreadOptions,
  type RenewalThreadSettings,
} from './renewal/renewal-thread.js';
export {
  comparePreference,
  type LeaseMember,
  type PresenceAnnouncement,
  type PresenceRecord,
  type PresenceStore,
} from './core/presence.js';

// OpenTelemetry metrics (optional peer @opentelemetry/api; see docs/metrics.md)
export {
  instrumentElector,
  LeaderElectionMetrics,
  type AcquireOutcome,
  type ElectionMetricsOptions,
  type GatedSkipReason,
} from './metrics/leader-election-metrics.js';
export { DEFAULT_METER_NAME, METRIC_ATTRIBUTES, METRIC_NAMES } from './metrics/metric-names.js';
export type {
  MetricAttributes,
  MetricInstrumentOptions,
  MetricsCounter,
  MetricsGauge,
  MetricsHistogram,
  MetricsMeter,
  MetricsMeterProvider,
} from './metrics/meter-types.js';

// Nest integration
export { LeaderElectionModule } from './nest/leader-election.module.js';
export {
  LEADER_ELECTION_ASYNC_OPTIONS_TYPE,
  LEADER_ELECTION_MODULE_OPTIONS,
  LEADER_ELECTION_OPTIONS_TYPE,
} from './nest/leader-election.module-definition.js';
export {
  LeaderElectionService,
  type GatedRunEvent,
  type LeaderInfo,
} from './nest/leader-election.service.js';
export { LeaderElectionRegistry } from './nest/leader-election.registry.js';
export { LeaderGateRunner } from './nest/leader-gate.js';
export { LeaderOnly, getLeaderOnlyMetadata } from './nest/decorators/leader-only.decorator.js';
export { LeaderTask } from './nest/decorators/leader-task.decorator.js';
export { LeaderElection } from './nest/decorators/leader-election.decorator.js';
export type {
  LeaderTaskOptions,
  OnLeaderChanged,
  OnLeadershipAcquired,
  OnLeadershipLost,
} from './nest/interfaces/leader-work.interface.js';
export { LeaderOnlyInterceptor } from './nest/leader-only.interceptor.js';
export { NotLeaderException, type NotLeaderResponseBody } from './nest/not-leader.exception.js';
export { currentLeadership, type LeadershipContext } from './nest/leadership-context.js';
export {
  LeaderElectionHealthIndicator,
  type LeaderElectionHealthDetails,
  type LeaderElectionHealthResult,
} from './nest/health/leader-election.health-indicator.js';
export { DEFAULT_LEASE_NAME } from './nest/leader-election.constants.js';
export type {
  HealthDetailsLevel,
  LeaderElectionMetricsOptions,
  LeaderElectionModuleExtras,
  LeaderElectionModuleOptions,
} from './nest/interfaces/leader-election-options.interface.js';
export type { LeaderOnlyOptions } from './nest/interfaces/leader-only-options.interface.js';

// Locks for any code, and per-run scheduled jobs (docs/locks.md)
export {
  LockManager,
  type LockManagerOptions,
  type LockResult,
  type RunOnceResult,
} from './locks/lock-manager.js';
export type { LockContext } from './locks/held-lock.js';
export type { LockWaitOptions } from './locks/lock-options.js';
export {
  LockEndedError,
  LockLostError,
  LockManagerStoppedError,
  LockNotAcquiredError,
  type LockEndReason,
} from './locks/lock-errors.js';
export { LOCK_PREFIX } from './locks/lock-names.js';
export { LockService } from './nest/locks/lock.service.js';
export type { JobRunEvent, LockEvent } from './locks/lock-events.js';
export { WithLock, type WithLockOptions } from './nest/locks/with-lock.decorator.js';
export { OnOneReplica, type OnOneReplicaOptions } from './nest/locks/on-one-replica.decorator.js';
export { currentLock } from './locks/lock-context.js';
