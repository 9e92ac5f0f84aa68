import { ServiceUnavailableException } from '@nestjs/common';
import type { LeadershipState } from '../core/leader-elector.js';

/** Body of the 503 a follower answers on a @LeaderOnly route. */
export interface NotLeaderResponseBody {
  statusCode: 503;
  error: 'Service Unavailable';
  message: string;
  leaseName: string;
  /** Identity of the current leader, when known: clients can retry there. */
  leader: string | null;
  term: number | null;
  retryAfterSeconds: number;
}

export class NotLeaderException extends ServiceUnavailableException {
  constructor(
    readonly state: Pick<LeadershipState, 'leaseName' | 'leader' | 'term'>,
    readonly retryAfterSeconds: number,
  ) {
    const body: NotLeaderResponseBody = {
      statusCode: 503,
      error: 'Service Unavailable',
      message: `This replica is not the leader of "${state.leaseName}"`,
      leaseName: state.leaseName,
      leader: state.leader ?? null,
      term: state.term ?? null,
      retryAfterSeconds,
    };
    super(body);
  }
}
