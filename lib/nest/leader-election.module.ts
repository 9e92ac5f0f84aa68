import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import type { LeaderElectionModuleOptions } from './interfaces/leader-election-options.interface.js';
import { RESOLVED_LEADER_ELECTION_OPTIONS } from './leader-election.constants.js';
import {
  LEADER_ELECTION_MODULE_OPTIONS,
  LeaderElectionConfigurableModule,
} from './leader-election.module-definition.js';
import { resolveLeaderElectionOptions } from './leader-election-options.resolver.js';
import { LEADER_ELECTION_EXPORTS, LEADER_ELECTION_PROVIDERS } from './leader-election.providers.js';

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
    ...LEADER_ELECTION_PROVIDERS,
  ],
  exports: [...LEADER_ELECTION_EXPORTS],
})
export class LeaderElectionModule extends LeaderElectionConfigurableModule {}
