import { BehaviorSubject, distinctUntilChanged, Subject, type Observable } from 'rxjs';
import type { Leadership, LeadershipState } from './leadership.js';
import { publishDiagnostics, type LeadershipEvent } from './leadership-events.js';

/**
 * Tells the world about one election: the state stream, the events stream and the diagnostics
 * channels, each in the order the elector makes its transitions. A subscriber may cause a transition
 * while it is being told of one (it calls stepDown() on "leader"): that one is delivered after every
 * subscriber has seen the first, so all see the same order and the last state they see is current.
 */
export class LeadershipPublisher {
  private readonly states: BehaviorSubject<LeadershipState>;
  private readonly events = new Subject<LeadershipEvent>();
  private emitting = false;
  private emitAgain = false;
  private readonly eventQueue: LeadershipEvent[] = [];
  private deliveringEvents = false;
  /** The leader and term last announced by a 'leader-changed' event. */
  private announced?: { leader: string; term: number | undefined };

  constructor(private readonly snapshot: () => LeadershipState) {
    this.states = new BehaviorSubject(snapshot());
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
  announceLeader(
    base: { leaseName: string; identity: string; at: number },
    leader: string | undefined,
    term: number | undefined,
    self: boolean,
  ): void {
    if (leader === undefined) return;
    if (this.announced && this.announced.leader === leader && this.announced.term === term) return;
    this.announced = { leader, term };
    this.publish({ type: 'leader-changed', ...base, leader, term, self });
  }

  /** Resolves with `current()` as soon as it is defined; rejects when the election stops or `signal` aborts. */
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
