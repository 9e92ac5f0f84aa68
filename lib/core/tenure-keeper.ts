import { sleep, type Clock } from './clock.js';
import type { LeadershipEndReason } from './leadership-events.js';
import { errorKindOf, LeaseRecordLostError } from './lease-store.js';
import type { RecordLossRules } from './record-loss.js';
import { messageOf, type StoreHealth } from './store-health.js';
import type { ElectionLogger } from './logger.js';
import type { RenewalDelegate } from './renewal-delegate.js';
import { delegateRenewals, Tenure, type TenureEnvironment } from './tenure.js';
import { deadlineAfter, renewalBudget, renewalDueAt, renewalRetryDelay, type Timings } from './timing.js';

/** What keeping a tenure needs from its elector. */
export interface TenureKeeperHost {
  clock: Clock;
  logger: ElectionLogger;
  lease: { leaseName: string; leaseId: string };
  timings: Timings;
  drainTimeoutMs: number;
  renewalDelegate?: RenewalDelegate;
  health: StoreHealth;
  recordLoss: RecordLossRules;
  stopSignal: AbortSignal;
  /** The elector's current tenure: only that one is kept or ended. */
  current(): Tenure | undefined;
  /** One renew call, bounded by `timeoutMs` and aborted when the tenure ends. */
  sendRenew(tenure: Tenure, timeoutMs: number): Promise<void>;
  /** Ends `tenure` (if still current) with `reason`. */
  demote(tenure: Tenure, reason: LeadershipEndReason, message: string): void;
}

/**
 * Keeps the current tenure going, or ends it: renewals on the main thread (or following the renewal
 * thread's progress), the deadline check behind every isLeader() call and the deadline timer, and
 * what a definite loss means for the record-loss rules.
 */
export class TenureKeeper {
  private readonly environment: TenureEnvironment;

  constructor(private readonly host: TenureKeeperHost) {
    this.environment = {
      ...host,
      leaseName: host.lease.leaseName,
      onDeadline: (tenure) => this.onDeadline(tenure),
    };
  }

  /** A new tenure on an acquire sent at `sentAt`; undefined when its deadline has already passed. */
  begin(term: number, sentAt: number): Tenure | undefined {
    const { clock, logger, lease, renewalDelegate } = this.host;
    if (clock.now() >= deadlineAfter(sentAt, this.host.timings)) {
      logger.warn(
        `Acquired lease "${lease.leaseName}" too late to use it ` +
          '(the request took longer than the lease); acquiring again',
      );
      return undefined;
    }
    const delegated =
      renewalDelegate && delegateRenewals(renewalDelegate, lease, this.host.timings, sentAt, logger);
    return new Tenure(term, sentAt, this.environment, delegated);
  }

  /** isLeader()'s check: follows a delegated renewal, then steps down if the deadline passed. */
  check(tenure: Tenure): boolean {
    this.followDelegate(tenure);
    if (tenure.isValid()) return true;
    this.host.demote(tenure, 'deadline', this.deadlineMissedReason(tenure));
    return false;
  }

  /** The deadline timer fired: step down unless the deadline moved (timers may fire a little early). */
  private onDeadline(tenure: Tenure): void {
    if (this.host.current() !== tenure) return;
    if (this.check(tenure)) tenure.armDeadlineTimer();
  }

  /**
   * The leader's half of the loop for one tenure. Delegated: follow the renewal thread's progress.
   * Main thread: sleep until the renewal is due, then renew, retrying transient failures until the
   * deadline, each bounded by the time left; a definite loss ends the tenure at once.
   */
  async renewWhenDue(tenure: Tenure): Promise<void> {
    const { clock, timings, stopSignal, health } = this.host;
    const tenureOrStop = [stopSignal, tenure.signal];
    const going = (): boolean => tenure.state === 'leading' && !stopSignal.aborted;
    if (tenure.delegated) {
      while (going()) {
        this.followDelegate(tenure);
        if (!going()) return;
        await sleep(clock, renewalRetryDelay(tenure.deadline, clock.now(), timings), tenureOrStop);
      }
      return;
    }
    await sleep(clock, renewalDueAt(tenure.lastSendAt, timings) - clock.now(), tenureOrStop);
    while (going()) {
      const sentAt = clock.now();
      if (sentAt >= tenure.deadline) {
        this.host.demote(tenure, 'deadline', this.deadlineMissedReason(tenure));
        return;
      }
      tenure.lastRenewAttemptAt = sentAt;
      try {
        await this.host.sendRenew(tenure, renewalBudget(tenure.deadline, sentAt, timings));
        if (tenure.state !== 'leading') return; // ended while the answer was on its way
        tenure.renewed(sentAt);
        health.answered();
        return;
      } catch (error) {
        if (!going()) return;
        if (errorKindOf(error) === 'lost') {
          health.answered();
          const recordLost = error instanceof LeaseRecordLostError;
          this.lost(tenure, `lease lost: ${messageOf(error)}`, recordLost);
          return;
        }
        health.failed(error, 'renewal');
        await sleep(clock, renewalRetryDelay(tenure.deadline, clock.now(), timings), tenureOrStop);
      }
    }
  }

  /** Reads the renewal thread's progress (a shared-memory read): a loss ends the tenure at once. */
  private followDelegate(tenure: Tenure): void {
    if (!tenure.delegated) return;
    const sentBefore = tenure.lastSendAt;
    const lost = tenure.followDelegate();
    if (lost) this.lost(tenure, `lease lost: ${lost.message}`, lost.recordLost);
    else if (tenure.lastSendAt > sentBefore) this.host.health.answered();
  }

  private lost(tenure: Tenure, message: string, recordLost: boolean): void {
    // Our record is gone: a loss noticed like any other, waited out for D (no shortcut for its holder).
    if (recordLost) this.host.recordLoss.ownRecordLost(tenure.term);
    this.host.demote(tenure, 'lost', message);
  }

  private deadlineMissedReason(tenure: Tenure): string {
    return tenure.deadlineMissedReason(this.host.health.lastError?.message);
  }
}
