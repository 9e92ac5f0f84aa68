import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { LeaderElectionHealthIndicator } from './health/leader-election.health-indicator.js';
import type { LeaderElectionModuleOptions } from './interfaces/leader-election-options.interface.js';
import { RESOLVED_LEADER_ELECTION_OPTIONS } from './leader-election.constants.js';
import { LeaderElectionExplorer } from './leader-election.explorer.js';
import { LEADER_ELECTION_METRICS_PROVIDER } from './leader-election-metrics.binding.js';
import {
  LEADER_ELECTION_MODULE_OPTIONS,
  LeaderElectionConfigurableModule,
} from './leader-election.module-definition.js';
import { resolveLeaderElectionOptions } from './leader-election-options.resolver.js';
import { LeaderElectionService } from './leader-election.service.js';
import { LeaderOnlyInterceptor } from './leader-only.interceptor.js';

/**
 * LeaderElectionModule.forRoot({ connectionString, ... }) or
 * LeaderElectionModule.forRootAsync({ imports, inject, useFactory | useClass | useExisting, isGlobal }).
 * Options are validated when the module is created: a bad value stops the app at boot.
 */
@Module({
  imports: [DiscoveryModule],
  providers: [
    {
      provide: RESOLVED_LEADER_ELECTION_OPTIONS,
      inject: [LEADER_ELECTION_MODULE_OPTIONS],
      useFactory: (options: LeaderElectionModuleOptions) => resolveLeaderElectionOptions(options),
    },
    LeaderElectionService,
    LEADER_ELECTION_METRICS_PROVIDER,
    LeaderElectionExplorer,
    LeaderElectionHealthIndicator,
    LeaderOnlyInterceptor,
  ],
  exports: [LeaderElectionService, LeaderElectionHealthIndicator, LeaderOnlyInterceptor],
})
export class LeaderElectionModule extends LeaderElectionConfigurableModule {}
