import { Injectable, Logger } from '@nestjs/common';
import {
  LeaderElection,
  type LeaderChangedEvent,
  type LeadershipAcquiredEvent,
  type LeadershipLostEvent,
  type OnLeaderChanged,
  type OnLeadershipAcquired,
  type OnLeadershipLost,
} from 'nestjs-leader-election';

/**
 * Leadership hooks of the default lease: one log line per transition, in the elector's order. Hooks
 * are notifications (metrics, logs, a readiness flag); work that must stop with the tenure belongs in
 * a @LeaderTask (see ConsumerService). A hook that throws is logged and the election goes on.
 */
@Injectable()
@LeaderElection()
export class LeadershipLogService implements OnLeadershipAcquired, OnLeadershipLost, OnLeaderChanged {
  private readonly logger = new Logger('Leadership');

  onLeadershipAcquired({ leaseName, term, expiresAt }: LeadershipAcquiredEvent): void {
    this.logger.log(
      `became leader of "${leaseName}" (term ${term}; believed until ${new Date(expiresAt).toISOString()} unless renewed)`,
    );
  }

  onLeadershipLost({ leaseName, term, reason, message }: LeadershipLostEvent): void {
    this.logger.log(`stopped leading "${leaseName}" (term ${term}): ${reason} — ${message}`);
  }

  onLeaderChanged({ leaseName, leader, term, self }: LeaderChangedEvent): void {
    if (!self) this.logger.log(`"${leaseName}" is now led by ${leader} (term ${term ?? '?'})`);
  }
}
