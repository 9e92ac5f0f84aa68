import { BehaviorSubject, distinctUntilChanged, Subject, type Observable } from 'rxjs';
import type { Clock } from './clock.js';
import type { LeaseObservation } from './lease-store.js';
import type { LeaderRole, Leadership, LeadershipState } from './leadership.js';
import { publishDiagnostics, type LeadershipEndReason, type LeadershipEvent } from './leadership-events.js';
import type { StoreHealth } from './store-health.js';

/**
 * What this replica knows about one election (its role, the leader and term last seen) and how it
 * tells the world: the state stream, the events stream and the diagnostics channels, each in the
 * order the elector makes its transitions. A subscriber may cause a transition
 * while it is being told of one (it calls stepDown() on "leader"): that one is delivered after every
 * subscriber has seen the first, so all see the same order and the last state they see is current.
 */
export class LeadershipPublisher {
  role: LeaderRole = 'idle';
  private roleSince: number;
  /** The leader and term last seen (this replica while it leads). */
  private leader?: string;
  private term?: number;
  /** Highest term ever seen here: passed to acquire so terms never go backwards. */
  highestTermSeen = 0;
  private readonly states: BehaviorSubject<LeadershipState>;
  private readonly events = new Subject<LeadershipEvent>();
  private emitting = false;
  private emitAgain = false;
  private readonly eventQueue: LeadershipEvent[] = [];
  private deliveringEvents = false;
  /** The leader and term last announced by a 'leader-changed' event. */
  private announced?: { leader: string; term: number | undefined };

  constructor(
    private readonly self: { leaseName: string; identity: string },
    private readonly clock: Clock,
    private readonly health: StoreHealth,
    /** The current tenure's term (the elector's). */
    private readonly tenureTerm: () => number | undefined,
  ) {
    this.roleSince = clock.wallNow();
    this.states = new BehaviorSubject(this.snapshot());
  }

  snapshot(): LeadershipState {
    const leading = this.role === 'leader';
    return {
      leaseName: this.self.leaseName,
      identity: this.self.identity,
      role: this.role,
      leader: leading ? this.self.identity : this.leader,
      term: leading ? this.tenureTerm() : this.term,
      since: this.roleSince,
      lastStoreContactAt: this.health.lastContactAt,
      lastError: this.health.lastError,
      consecutiveFailures: this.health.consecutiveFailures,
    };
  }

  /** The leader as last seen: this replica while it leads (`leading`), else the record's holder. */
  currentLeader(leading: boolean): string | undefined {
    return leading ? this.self.identity : this.leader;
  }

  get lastTerm(): number | undefined {
    return this.term;
  }

  setRole(role: LeaderRole): void {
    if (this.role === role) return;
    this.role = role;
    this.roleSince = this.clock.wallNow();
    this.emit();
  }

  /** A store observation (or a test double's): who leads with which term. */
  observed(observation: LeaseObservation): void {
    this.leader = observation.held ? observation.holder : undefined;
    this.term = observation.term > 0 ? observation.term : this.term;
    this.highestTermSeen = Math.max(this.highestTermSeen, observation.term);
    this.announceLeader();
    this.emit();
  }

  /** A tenure with `term` is beginning: this replica is the leader seen. */
  leading(term: number): void {
    this.leader = this.self.identity;
    this.term = term;
    this.highestTermSeen = Math.max(this.highestTermSeen, term);
  }

  /**
   * A tenure began: the role becomes 'leader', 'acquired' (then 'leader-changed') is delivered, and
   * only then does state$ see it, so a subscriber that ends the tenure on role 'leader' is published
   * after 'acquired' (whose signal was live when delivered), never before it.
   */
  becameLeader(term: number, signal: AbortSignal, deadlineInMs: number): void {
    this.role = 'leader';
    this.roleSince = this.clock.wallNow();
    this.acquired(term, signal, deadlineInMs);
    this.emit();
  }

  /** Publishes 'acquired' (then 'leader-changed') for the tenure that began. */
  acquired(term: number, signal: AbortSignal, deadlineInMs: number): void {
    const at = this.clock.wallNow();
    this.publish({ type: 'acquired', ...this.self, at, term, signal, expiresAt: at + deadlineInMs });
    this.announceLeader();
  }

  /** The tenure with `term` is ending: back to following (the caller aborts its signal next). */
  following(): void {
    this.leader = undefined;
    if (this.role === 'leader') this.setRole('follower');
  }

  /** Publishes the 'lost' event of a tenure that ended. */
  lost(term: number, reason: LeadershipEndReason, message: string): void {
    this.publish({ type: 'lost', ...this.self, at: this.clock.wallNow(), term, reason, message });
  }

  get state$(): Observable<LeadershipState> {
    return this.states.pipe(
      distinctUntilChanged((a, b) => a.role === b.role && a.leader === b.leader && a.term === b.term),
    );
  }

  get events$(): Observable<LeadershipEvent> {
    return this.events.asObservable();
  }

  /** Publishes the current state (see the class comment for re-entrant calls). */
  emit(): void {
    if (this.states.closed) return;
    if (this.emitting) {
      this.emitAgain = true;
      return;
    }
    this.emitting = true;
    try {
      do {
        this.emitAgain = false;
        this.states.next(this.snapshot());
      } while (this.emitAgain && !this.states.closed);
    } finally {
      this.emitting = false;
    }
  }

  /** Delivers an event to events$ and its diagnostics channel, queued behind the one being delivered. */
  publish(event: LeadershipEvent): void {
    this.eventQueue.push(event);
    if (this.deliveringEvents) return;
    this.deliveringEvents = true;
    try {
      for (let next = this.eventQueue.shift(); next; next = this.eventQueue.shift()) {
        // RxJS rethrows a throwing subscriber's error asynchronously: the election goes on either way.
        this.events.next(next);
        publishDiagnostics(next);
      }
    } finally {
      this.deliveringEvents = false;
    }
  }

  /** Publishes 'leader-changed' when the known (leader, term) pair changed to a known leader. */
  private announceLeader(): void {
    const { leader, term } = this;
    if (leader === undefined) return;
    if (this.announced && this.announced.leader === leader && this.announced.term === term) return;
    this.announced = { leader, term };
    const self = leader === this.self.identity && this.role === 'leader';
    this.publish({ type: 'leader-changed', ...this.self, at: this.clock.wallNow(), leader, term, self });
  }

  /**
   * Resolves with `current()` as soon as it is defined; rejects when the election stops or `signal`
   * aborts.
   */
  waitFor(
    current: () => Leadership | undefined,
    stoppedError: string,
    signal?: AbortSignal,
  ): Promise<Leadership> {
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        subscription.unsubscribe();
        reject(signal?.reason ?? new Error('waitForLeadership aborted'));
      };
      const subscription = this.states.subscribe((state) => {
        if (state.role === 'stopped') {
          queueMicrotask(() => subscription.unsubscribe());
          signal?.removeEventListener('abort', onAbort);
          reject(new Error(stoppedError));
          return;
        }
        const leadership = current();
        if (leadership) {
          queueMicrotask(() => subscription.unsubscribe());
          signal?.removeEventListener('abort', onAbort);
          resolve(leadership);
        }
      });
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  complete(): void {
    this.states.complete();
    this.events.complete();
  }
}
