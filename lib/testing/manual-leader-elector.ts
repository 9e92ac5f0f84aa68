import { systemClock, type Clock, type TimerHandle } from '../core/clock.js';
import type { ElectionOptions } from '../core/election-options.js';
import {
  LeaderElector,
  type LeaderElectorDependencies,
  type Leadership,
  type StopOptions,
} from '../core/leader-elector.js';
import type { LeaseStore } from '../core/lease-store.js';
import type { LeadershipEndReason } from '../core/leadership-events.js';
import { ElectorStoppedError, InvalidElectionOptionError, LeaderElectionError } from '../core/errors.js';

/**
 * Time that never passes and timers that never fire: a tenure granted by a test lasts until the test
 * ends it, and the elector creates no timer at all, so it never interferes with the test runner's
 * fake timers (runAllTimers, getTimerCount()).
 */
const frozenClock: Clock = {
  now: () => 0,
  wallNow: () => Date.now(),
  setTimeout: (): TimerHandle => undefined,
  clearTimeout: () => undefined,
};

/** A store that is never called (the manual elector makes no requests). */
const unusedStore: LeaseStore = {
  description: 'the testing kit (no storage)',
  observe: () => Promise.reject(new LeaderElectionError('the testing kit makes no storage requests')),
  acquire: () => Promise.reject(new LeaderElectionError('the testing kit makes no storage requests')),
  renew: () => Promise.reject(new LeaderElectionError('the testing kit makes no storage requests')),
  release: () => Promise.resolve(),
};

/**
 * A LeaderElector driven by the test instead of a store: grant() makes this replica leader with a
 * term, revoke() ends the tenure with a reason, follow() shows another replica as leader. Everything
 * downstream is the real thing: the leadership state and stream, events and hooks, AbortSignals,
 * the @LeaderOnly gate, leader tasks and health.
 */
export class ManualLeaderElector extends LeaderElector {
  private lastTerm = 0;
  private initialTerm?: number;
  private readonly handoverDrain?: LeaderElectorDependencies['beforeHandover'];
  private readonly kitDrainTimeoutMs: number;

  constructor(
    options: ElectionOptions,
    dependencies: Omit<LeaderElectorDependencies, 'clock'> = {},
    startAsLeader?: { term?: number },
  ) {
    super(unusedStore, options, { ...dependencies, clock: frozenClock });
    this.handoverDrain = dependencies.beforeHandover;
    this.kitDrainTimeoutMs = dependencies.drainTimeoutMs ?? this.options.leaseDurationMs;
    if (startAsLeader) this.initialTerm = startAsLeader.term ?? 1;
  }

  /** Makes this replica leader with `term` (default: one above the last term seen). Returns the tenure. */
  grant(term = this.lastTerm + 1): Leadership {
    if (!Number.isSafeInteger(term) || term < 1)
      throw new InvalidElectionOptionError('grant(term)', term, 'a whole number ≥ 1');
    if (!this.grantTenure(term)) throw new ElectorStoppedError(this.leaseName);
    this.lastTerm = Math.max(this.lastTerm, term);
    return this.leadership!;
  }

  /** Ends the current tenure (if any) with `reason`, as the real elector would. */
  revoke(
    reason: Exclude<LeadershipEndReason, 'stopped'> = 'lost',
    message = `ended by the test (${reason})`,
  ): void {
    this.endTenure(reason, message);
    // A step-down is followed by the drain, as on the real elector (streams may finish within it).
    if (reason === 'step-down') void this.drain(this.handoverDrain);
  }

  /**
   * Shows `leader` (another replica) as the current leader with `term`, first ending this replica's
   * tenure ('lost').
   */
  follow(leader: string | undefined, term = this.lastTerm + 1): void {
    this.endTenure('lost', `lease taken by ${leader ?? 'nobody'} (set by the test)`);
    if (leader !== undefined) this.lastTerm = Math.max(this.lastTerm, term);
    this.noteLeader(leader, leader === undefined ? undefined : term);
  }

  override start(): Promise<void> {
    if (this.state.role === 'idle') {
      this.enterRole('follower');
      if (this.initialTerm !== undefined) this.grant(this.initialTerm);
    }
    return Promise.resolve();
  }

  override async stepDown(): Promise<void> {
    const leading = this.isLeader();
    this.endTenure('step-down', 'stepped down voluntarily');
    // As on the real elector: resolves once the drain is over (its streams finished, or cut when it gave up).
    if (leading) await this.drain(this.handoverDrain);
  }

  override async stop(options: StopOptions = {}): Promise<void> {
    if (this.state.role === 'stopped') return;
    this.endTenure('stopped', 'election stopped');
    this.enterRole('stopped');
    await this.drain(options.beforeRelease);
  }

  /**
   * Runs a drain as the real elector does (drainWithin), bounded by drainTimeoutMs on the real timers
   * (the kit's tenures have no deadline): `gaveUp` aborts at the bound. Never rejects.
   */
  private async drain(drain: StopOptions['beforeRelease']): Promise<void> {
    if (!drain) return;
    const gaveUp = new AbortController();
    const timer = systemClock.setTimeout(() => gaveUp.abort(), this.kitDrainTimeoutMs);
    const bound = new Promise<void>((resolve) => gaveUp.signal.addEventListener('abort', () => resolve()));
    try {
      await Promise.race([drain(gaveUp.signal), bound]);
    } catch {
      // a failing drain is the real elector's warning; the kit has no lease to keep
    } finally {
      systemClock.clearTimeout(timer);
    }
  }
}
