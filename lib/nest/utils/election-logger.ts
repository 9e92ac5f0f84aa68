import { Logger } from '@nestjs/common';
import { safeLogger, silentLogger, type ElectionLogger } from '../../core/logger.js';
import type { ResolvedLeaderElectionOptions } from '../leader-election-options.resolver.js';

/**
 * The module's logger: the `logger` option, or Nest's Logger; wrapped so a throwing logger never breaks a
 * tick, the loop or shutdown.
 */
export function electionLogger(options: Pick<ResolvedLeaderElectionOptions, 'logger'>): ElectionLogger {
  return safeLogger(
    options.logger === false ? silentLogger : (options.logger ?? new Logger('LeaderElection')),
  );
}
