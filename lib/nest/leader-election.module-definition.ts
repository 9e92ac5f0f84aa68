import { ConfigurableModuleBuilder } from '@nestjs/common';
import { InvalidElectionOptionError } from '../core/errors.js';
import type {
  LeaderElectionModuleExtras,
  LeaderElectionModuleOptions,
} from './interfaces/leader-election-options.interface.js';

/**
 * `isGlobal` defaults to true, like `ScheduleModule.forRoot()` (always global) and `@nestjs/locks`
 * (`setExtras({ isGlobal: true }, …)`): the module is infrastructure registered once, in the root
 * module, and feature modules inject `LeaderElectionService`, `LeaderOnlyInterceptor` and
 * `LeaderElectionHealthIndicator` without importing it. `isGlobal: false` keeps it local to the
 * importing module. Only an explicit `false` turns it off (an `isGlobal: undefined` spread from a
 * config object keeps the default); anything but a boolean is refused.
 */
export const {
  ConfigurableModuleClass: LeaderElectionConfigurableModule,
  MODULE_OPTIONS_TOKEN: LEADER_ELECTION_MODULE_OPTIONS,
  OPTIONS_TYPE: LEADER_ELECTION_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: LEADER_ELECTION_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<LeaderElectionModuleOptions>({ moduleName: 'LeaderElection' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createLeaderElectionOptions')
  .setExtras<LeaderElectionModuleExtras>({ isGlobal: true }, (definition, { isGlobal }) => {
    // Structural, so checked here, when forRoot/forRootAsync is called (e.g. "false" from the environment).
    if (isGlobal !== undefined && typeof isGlobal !== 'boolean')
      throw new InvalidElectionOptionError('isGlobal', isGlobal, 'true or false (default true)');
    return { ...definition, global: isGlobal !== false };
  })
  .build();
