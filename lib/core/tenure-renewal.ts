import { sleep, type Clock } from './clock.js';
import { errorKindOf, LeaseRecordLostError } from './lease-store.js';
import type { StoreHealth } from './store-health.js';
import type { Tenure } from './tenure.js';
import { renewalBudget, renewalDueAt, renewalRetryDelay, type Timings } from './timing.js';

/** What a tenure's renewal needs from its elector. */
export interface RenewalHost {
  clock: Clock;
  timings: Timings;
  health: StoreHealth;
  stopSignal: AbortSignal;
  /** One renew call, bounded by `timeoutMs` and aborted when the tenure ends. */
  sendRenew(tenure: Tenure, timeoutMs: number): Promise<void>;
  /** The store said the lease is gone; `recordLost` when the record itself vanished inside the deadline. */
  lost(tenure: Tenure, message: string, recordLost: boolean): void;
  deadlinePassed(tenure: Tenure): void;
  /** Reads the renewal thread's progress for a delegated tenure (may end it). */
  followDelegate(tenure: Tenure): void;
}

/**
 * The leader's half of the loop for one tenure. Delegated: follow the renewal thread's progress.
 * Main thread: sleep until the renewal is due, then renew, retrying transient failures until the
 * deadline, each bounded by the time left; a definite loss ends the tenure at once.
 */
export async function renewWhenDue(tenure: Tenure, host: RenewalHost): Promise<void> {
  const { clock, timings, stopSignal } = host;
  const tenureOrStop = [stopSignal, tenure.signal];
  const going = (): boolean => tenure.state === 'leading' && !stopSignal.aborted;
  if (tenure.delegated) {
    while (going()) {
      host.followDelegate(tenure);
      if (!going()) return;
      await sleep(clock, renewalRetryDelay(tenure.deadline, clock.now(), timings), tenureOrStop);
    }
    return;
  }
  await sleep(clock, renewalDueAt(tenure.lastSendAt, timings) - clock.now(), tenureOrStop);
  while (going()) {
    const sentAt = clock.now();
    if (sentAt >= tenure.deadline) {
      host.deadlinePassed(tenure);
      return;
    }
    tenure.lastRenewAttemptAt = sentAt;
    try {
      await host.sendRenew(tenure, renewalBudget(tenure.deadline, sentAt, timings));
      if (tenure.state !== 'leading') return; // ended while the answer was on its way
      tenure.renewed(sentAt);
      host.health.answered();
      return;
    } catch (error) {
      if (!going()) return;
      if (errorKindOf(error) === 'lost') {
        host.health.answered();
        // Our lease was valid until the deadline, so a record gone now was lost while we held it.
        const recordLost = error instanceof LeaseRecordLostError && clock.now() < tenure.deadline;
        host.lost(
          tenure,
          `lease lost: ${error instanceof Error ? error.message : String(error)}`,
          recordLost,
        );
        return;
      }
      host.health.failed(error, 'renewal');
      await sleep(clock, renewalRetryDelay(tenure.deadline, clock.now(), timings), tenureOrStop);
    }
  }
}
