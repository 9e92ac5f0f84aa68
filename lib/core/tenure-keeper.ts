import { sleep, type Clock } from './clock.js';
import type { LeadershipEndReason } from './leadership-events.js';
import { errorKindOf, LeaseRecordLostError } from './lease-store.js';
import type { RecordLossRules } from './record-loss.js';
import { messageOf, type StoreHealth } from './store-health.js';
import type { ElectionLogger } from './logger.js';
import type { RenewalDelegate } from './renewal-delegate.js';
import { beliefDeadline, delegateRenewals, Tenure, type TenureEnvironment } from './tenure.js';
import { renewalBudget, renewalDueAt, renewalRetryDelay, type Timings } from './timing.js';
import { HeartbeatLapses, keepHeartbeating } from './fast-failover.js';

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
  /** Fast failover: one heartbeat call, bounded and aborted like a renewal. */
  sendHeartbeat?(tenure: Tenure, timeoutMs: number): Promise<void>;
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
  /** Fast failover: tenures that ended because no heartbeat succeeded within livenessMs. */
  readonly heartbeatLapses: HeartbeatLapses;

  constructor(private readonly host: TenureKeeperHost) {
    this.heartbeatLapses = new HeartbeatLapses(host.logger, host.lease.leaseName);
    this.environment = {
      ...host,
      leaseName: host.lease.leaseName,
      onDeadline: (tenure) => this.onDeadline(tenure),
    };
  }

  /** A new tenure on an acquire sent at `sentAt`; undefined when its deadline has already passed. */
  begin(term: number, sentAt: number): Tenure | undefined {
    const { clock, logger, lease, renewalDelegate } = this.host;
    if (clock.now() >= beliefDeadline(sentAt, sentAt, this.host.timings)) {
      logger.warn(
        `Acquired lease "${lease.leaseName}" too late to use it ` +
          '(the request took longer than the lease); acquiring again',
      );
      return undefined;
    }
    const delegated =
      renewalDelegate && delegateRenewals(renewalDelegate, lease, this.host.timings, sentAt, logger);
    const tenure = new Tenure(term, sentAt, this.environment, delegated);
    this.heartbeat(tenure);
    return tenure;
  }

  /** Fast failover: heartbeats for `tenure` until it ends (a loop beside the renewals). */
  private heartbeat(tenure: Tenure): void {
    const { clock, logger, lease, timings, stopSignal, health, sendHeartbeat } = this.host;
    const fast = timings.fastFailover;
    if (!fast || !sendHeartbeat) return;
    const host = {
      clock,
      logger,
      leaseName: lease.leaseName,
      fast,
      requestTimeoutMs: timings.requestTimeoutMs,
      stopSignal,
      send: (timeoutMs: number) => sendHeartbeat(tenure, timeoutMs),
      lost: (message: string, recordLost: boolean) => this.lost(tenure, message, recordLost),
      answered: () => health.answered(),
      failed: (error: unknown) => void health.failed(error, 'heartbeat'),
    };
    keepHeartbeating(host, tenure).catch((error: unknown) =>
      logger.error(`Unexpected error in the heartbeats of "${lease.leaseName}": ${messageOf(error)}`),
    );
  }

  /** isLeader()'s check: follows a delegated renewal, then steps down if the deadline passed. */
  check(tenure: Tenure): boolean {
    this.followDelegate(tenure);
    if (tenure.isValid()) return true;
    this.noteLapse(tenure);
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
        this.noteLapse(tenure);
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

  /** The fast belief (not the lease) ran out while the tenure was current: warned once, counted. */
  private noteLapse(tenure: Tenure): void {
    const fast = this.host.timings.fastFailover;
    if (fast && this.host.current() === tenure && tenure.state === 'leading' && tenure.heartbeatBound())
      this.heartbeatLapses.lapsed(fast);
  }

  private deadlineMissedReason(tenure: Tenure): string {
    return tenure.deadlineMissedReason(this.host.health.lastError?.message);
  }
}
