import type { Provider } from '@nestjs/common';
import { LeaderElectionHealthIndicator } from './health/leader-election.health-indicator.js';
import { LEADER_ELECTION_METRICS_PROVIDER } from './leader-election-metrics.binding.js';
import { LeaderElectionExplorer } from './leader-election.explorer.js';
import { LeaderElectionRegistry } from './leader-election.registry.js';
import { LeaderElectionService } from './leader-election.service.js';
import { LeaderGateRunner } from './leader-gate.js';
import { LeaderOnlyInterceptor } from './leader-only.interceptor.js';
import { LeaderWorkRunner } from './leader-work.js';
import { LeaderWorkTracker } from './leader-work.tracker.js';
import { LockExplorer } from './locks/lock.explorer.js';
import { LOCK_METRICS_PROVIDER } from './locks/lock-metrics.binding.js';
import { LockService } from './locks/lock.service.js';

/** The providers LeaderElectionModule and the testing kit share (after the resolved options). */
export const LEADER_ELECTION_PROVIDERS: Provider[] = [
  LeaderWorkTracker,
  LeaderElectionRegistry,
  LeaderGateRunner,
  LeaderWorkRunner,
  LeaderElectionService,
  LEADER_ELECTION_METRICS_PROVIDER,
  LeaderElectionExplorer,
  LeaderElectionHealthIndicator,
  LeaderOnlyInterceptor,
  LockService,
  LockExplorer,
  LOCK_METRICS_PROVIDER,
];

/** What an app injects (the registry and the gate for extensions: electorCreated$, gatedRuns$). */
export const LEADER_ELECTION_EXPORTS = [
  LeaderElectionService,
  LeaderElectionHealthIndicator,
  LeaderOnlyInterceptor,
  LeaderElectionRegistry,
  LeaderGateRunner,
  LockService,
] as const;
