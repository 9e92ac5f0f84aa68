import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { LeaderElectionModuleExtras, LeaderElectionModuleOptions } from './interfaces/leader-election-options.interface.js';

/**
 * `isGlobal` defaults to true, like `ScheduleModule.forRoot()` (always global) and `@nestjs/locks`
 * (`setExtras({ isGlobal: true }, …)`): the module is infrastructure registered once, in the root
 * module, and feature modules inject `LeaderElectionService`, `LeaderOnlyInterceptor` and
 * `LeaderElectionHealthIndicator` without importing it. `isGlobal: false` keeps it local to the
 * importing module. Only an explicit `false` turns it off (an `isGlobal: undefined` spread from a
 * config object keeps the default).
 */
export const {
  ConfigurableModuleClass: LeaderElectionConfigurableModule,
  MODULE_OPTIONS_TOKEN: LEADER_ELECTION_MODULE_OPTIONS,
  OPTIONS_TYPE: LEADER_ELECTION_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: LEADER_ELECTION_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<LeaderElectionModuleOptions>({ moduleName: 'LeaderElection' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createLeaderElectionOptions')
  .setExtras<LeaderElectionModuleExtras>({ isGlobal: true }, (definition, extras) => ({ ...definition, global: extras.isGlobal !== false }))
  .build();
