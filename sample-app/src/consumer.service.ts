import { Injectable, Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { LeaderTask, type Leadership } from 'nestjs-leader-election';

/** What GET /leader reports about the consumer of this replica. */
export interface ConsumerStatus {
  running: boolean;
  term?: number;
  /** Messages handled by this replica since it started. */
  processed: number;
}

/**
 * A single-reader consumer (a catch-up subscription, an ordered queue): exactly one replica may
 * read at a time, for as long as it leads. @LeaderTask starts it on every new tenure with that
 * tenure's term and AbortSignal; it must stop soon after the signal aborts. At shutdown the module
 * aborts the signal and waits for this method to return before it releases the lease, so the next
 * leader's consumer never starts beside this one.
 */
@Injectable()
export class ConsumerService {
  private readonly logger = new Logger('Consumer');
  private current?: { term: number };
  private processed = 0;

  @LeaderTask()
  async consume(leadership: Leadership): Promise<void> {
    const { term, signal } = leadership;
    this.current = { term };
    this.logger.log(`consumer started (term ${term})`);
    try {
      while (!signal.aborted) {
        // Stand-in for `await subscription.next({ signal })`: wait for the next message.
        await sleep(250, undefined, { signal }).catch(() => undefined);
        if (signal.aborted) break;
        // Handle it, tagging writes with the term so the target can reject a deposed reader:
        // e.g. await orders.apply(message, { fencingTerm: term })
        this.processed++;
      }
    } finally {
      this.current = undefined;
      this.logger.log(`consumer stopped (term ${term}, ${reasonOf(signal)})`);
    }
  }

  status(): ConsumerStatus {
    return { running: this.current !== undefined, term: this.current?.term, processed: this.processed };
  }
}

function reasonOf(signal: AbortSignal): string {
  if (!signal.aborted) return 'returned';
  const reason: unknown = signal.reason;
  // The tenure's signal aborts with a LeadershipEndedError whose `reason` says why (e.g. "election stopped").
  if (reason && typeof reason === 'object' && 'reason' in reason)
    return String((reason as { reason: unknown }).reason);
  return reason instanceof Error ? reason.message : String(reason);
}
