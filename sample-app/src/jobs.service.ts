import { Injectable, Logger } from '@nestjs/common';
import { Cron, CronExpression, Interval } from '@nestjs/schedule';
import { LeaderOnly, currentLeadership } from 'nestjs-leader-election';

/** Scheduled work that must happen once per cluster, not once per replica. */
@Injectable()
export class JobsService {
  private readonly logger = new Logger('Jobs');
  heartbeats = 0;

  /** Runs on the leader of the default lease every 10 s. */
  @Cron(CronExpression.EVERY_10_SECONDS)
  @LeaderOnly()
  sendReport(): void {
    const { term } = currentLeadership()!;
    this.logger.log(`report sent (term ${term})`);
  }

  /** A frequent job; decorator order does not matter. */
  @LeaderOnly()
  @Interval(2_000)
  heartbeat(): void {
    this.heartbeats++;
    this.logger.debug(`heartbeat ${this.heartbeats} (term ${currentLeadership()!.term})`);
  }

  /** Its own election: may run on a different replica than the jobs above. */
  @Interval(5_000)
  @LeaderOnly('billing')
  chargeCustomers(): void {
    this.logger.log(`billing run on lease "billing" (term ${currentLeadership()!.term})`);
  }

  /**
   * A long job that honours leadership: it stops as soon as leadership ends (shutdown, lost lease)
   * and tags each write with the term so the receiving system can reject stale writers.
   */
  @Interval(15_000)
  @LeaderOnly()
  async reindex(): Promise<void> {
    const leadership = currentLeadership()!;
    for (let batch = 1; batch <= 10; batch++) {
      if (leadership.signal.aborted) {
        this.logger.warn(
          `reindex stopped after ${batch - 1} batches: ${String((leadership.signal.reason as Error)?.message)}`,
        );
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
      // e.g. await search.write(batch, { fencingTerm: leadership.term })
    }
    this.logger.log(`reindex finished (term ${leadership.term})`);
  }
}
