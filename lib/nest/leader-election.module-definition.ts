import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { LeaderElectionModuleExtras, LeaderElectionModuleOptions } from './interfaces/leader-election-options.interface.js';

export const {
  ConfigurableModuleClass: LeaderElectionConfigurableModule,
  MODULE_OPTIONS_TOKEN: LEADER_ELECTION_MODULE_OPTIONS,
  OPTIONS_TYPE: LEADER_ELECTION_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: LEADER_ELECTION_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<LeaderElectionModuleOptions>({ moduleName: 'LeaderElection' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createLeaderElectionOptions')
  .setExtras<LeaderElectionModuleExtras>({ isGlobal: false }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
  .build();
