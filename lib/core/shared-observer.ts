import type { Clock, TimerHandle } from './clock.js';
import { leaseListerOf, type LeaseLister } from './lease-lister.js';
import {
  TransientStoreError,
  type LeaseObservation,
  type LeaseStore,
  type LeaseStoreError,
} from './lease-store.js';
import type { StoreRequests } from './store-requests.js';

/** What one follower poll hands to the observer. */
export interface ObservingElection {
  readonly lease: {
    leaseName: string;
    /** This replica's identity: orders the free leases a listing hands out (see FREE_LEASES_PER_LISTING). */
    identity?: string;
    options: { retryIntervalMs: number; requestTimeoutMs: number; maxErrorBackoffMs: number };
  };
  readonly store: LeaseStore;
  readonly requests: StoreRequests;
  readonly stopSignal: AbortSignal;
}

interface Waiter {
  leaseName: string;
  identity: string;
  askedAt: number;
  intervalMs: number;
  timeoutMs: number;
  maxBackoffMs: number;
  /** The election's requests, where a listing sent for this poll may be reported. */
  requests: StoreRequests;
  /** A per-lease observe(), for a lease the listing did not show. */
  observeAlone(): Promise<LeaseObservation>;
  resolve(observation: LeaseObservation): void;
  reject(error: unknown): void;
  detach(): void;
}

/** A lease counts as followed while its elector polled within this many of its poll intervals. */
const FOLLOWED_FOR_INTERVALS = 3;

/**
 * At most this many polls per listing are handed a lease the listing shows free (the rest wait for
 * the next listing, which observes them again): a replica starting 1 000 elections, or seeing the
 * leases of a crashed replica expire, then sends at most this many acquires per poll interval instead
 * of one per free lease at once, whose timeouts and retries swamp the store (issue 23, BENCHMARKS §10).
 * Each replica takes the free leases in its own order (a hash of identity and lease name), so that
 * replicas try different leases first instead of all racing for the same ones.
 */
export const FREE_LEASES_PER_LISTING = 100;

/**
 * The follower observations of every election on one store (one container) and clock: per lease
 * (one observe() per poll, as before) or, once this replica follows `listingFromLeases` leases or
 * more there, from one shared listing per poll interval whatever the lease count (issue 23).
 *
 * - Age: a poll is served by the first listing SENT AT OR AFTER the poll asked, so its observation
 *   is no older than the Get Properties the poll would otherwise have sent; the wait for that
 *   listing replaces the poll's sleep (Candidacy.pollDelay is 0 meanwhile).
 * - Cost: listings are sent at most once per poll interval (the shortest of the waiting polls), and
 *   only while some poll waits: a replica that leads every lease it takes part in lists nothing.
 * - Pacing: a listing hands at most FREE_LEASES_PER_LISTING free leases to acquires; the others
 *   are served by the next listing (a start-up or a crashed replica's leases: no acquire storm).
 * - Load: a listing throttled (503 ServerBusy, 500 OperationTimedOut, 429) doubles the pause before
 *   the next one, up to maxErrorBackoffMs; renewals are separate per-lease requests and never wait.
 * - Safety: a listing only replaces observations. Acquire, renew, release and the record-loss rules
 *   stay per-lease; an acquire on a stale listing gets the same 409 as on a stale Get Properties.
 */
export class SharedLeaseObserver {
  private static readonly observers = new WeakMap<LeaseStore, WeakMap<Clock, SharedLeaseObserver>>();

  /** The observer every election on `store` and `clock` shares. */
  static of(store: LeaseStore, clock: Clock): SharedLeaseObserver {
    let byClock = SharedLeaseObserver.observers.get(store);
    if (!byClock) SharedLeaseObserver.observers.set(store, (byClock = new WeakMap()));
    let observer = byClock.get(clock);
    if (!observer) byClock.set(clock, (observer = new SharedLeaseObserver(leaseListerOf(store), clock)));
    return observer;
  }

  /** When each lease last polled, and its poll interval (to count the leases followed). */
  private readonly polls = new Map<string, { at: number; intervalMs: number }>();
  private waiters: Waiter[] = [];
  private listingMode = false;
  private lastSentAt = -Infinity;
  /** Aborts the listing in flight: its last poll stopped waiting (a stopped election leaves no timer). */
  private listingInFlight?: AbortController;
  private timer?: { handle: TimerHandle };
  private throttledInARow = 0;
  private backoffUntil = -Infinity;
  /** Listings sent (for tests and diagnostics). */
  listings = 0;

  constructor(
    private readonly lister: LeaseLister | undefined,
    private readonly clock: Clock,
  ) {}

  /** True while follower polls are served by the shared listing (their wait replaces the poll's sleep). */
  get listing(): boolean {
    return this.listingMode;
  }

  /** Leases this replica followed lately on this store (polled within 3 of their poll intervals). */
  followedLeases(): number {
    const now = this.clock.now();
    for (const [name, poll] of this.polls)
      if (now - poll.at > FOLLOWED_FOR_INTERVALS * poll.intervalMs) this.polls.delete(name);
    return this.polls.size;
  }

  /** One follower poll's observation of its lease: per lease, or from the next shared listing. */
  observe(election: ObservingElection): Promise<LeaseObservation> {
    const { leaseName, options } = election.lease;
    if (this.lister) {
      this.polls.set(leaseName, { at: this.clock.now(), intervalMs: options.retryIntervalMs });
      this.chooseMode();
    }
    if (!this.listingMode) return observeAlone(election);
    return this.nextListing(election);
  }

  /** Switch-over: list from T = `listingFromLeases` followed leases, back below T − ⌈T / 8⌉. */
  private chooseMode(): void {
    const threshold = this.lister!.listingFromLeases;
    const followed = this.followedLeases();
    if (followed >= threshold) this.listingMode = true;
    else if (followed < threshold - Math.ceil(threshold / 8)) this.listingMode = false;
  }

  private nextListing(election: ObservingElection): Promise<LeaseObservation> {
    const { leaseName, options } = election.lease;
    const signal = election.stopSignal;
    return new Promise<LeaseObservation>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const onAbort = (): void => {
        this.waiters = this.waiters.filter((waiter) => waiter !== entry);
        if (this.waiters.length === 0) {
          this.cancelTimer();
          this.listingInFlight?.abort(signal.reason);
        }
        reject(signal.reason);
      };
      const entry: Waiter = {
        leaseName,
        identity: election.lease.identity ?? '',
        askedAt: this.clock.now(),
        intervalMs: options.retryIntervalMs,
        timeoutMs: options.requestTimeoutMs,
        maxBackoffMs: options.maxErrorBackoffMs,
        requests: election.requests,
        observeAlone: () => observeAlone(election),
        resolve,
        reject,
        detach: () => signal.removeEventListener('abort', onAbort),
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(entry);
      this.schedule();
    });
  }

  /** Arms the next listing: one interval after the last one was sent (later while throttled). */
  private schedule(): void {
    if (this.listingInFlight || this.timer || this.waiters.length === 0) return;
    const intervalMs = Math.min(...this.waiters.map((waiter) => waiter.intervalMs));
    const at = Math.max(this.lastSentAt + intervalMs, this.backoffUntil);
    // Never at once: polls that ask in the same turn share the listing.
    const timer = { handle: undefined as TimerHandle };
    this.timer = timer;
    timer.handle = this.clock.setTimeout(
      () => {
        if (this.timer === timer) this.timer = undefined;
        void this.sendListing();
      },
      Math.max(0, at - this.clock.now()),
    );
  }

  private cancelTimer(): void {
    if (this.timer) this.clock.clearTimeout(this.timer.handle);
    this.timer = undefined;
  }

  private async sendListing(): Promise<void> {
    const lister = this.lister;
    if (!lister || this.waiters.length === 0) return;
    const sentAt = this.clock.now();
    // Served: every poll that asked by now. Later ones wait for the next listing (age rule above).
    const served = this.waiters.filter((waiter) => waiter.askedAt <= sentAt);
    const names = [...new Set(served.map((waiter) => waiter.leaseName))];
    const pages = Math.max(1, Math.ceil(names.length / (lister.listingPageSize ?? 5000)));
    const timeoutMs = Math.min(...served.map((waiter) => waiter.timeoutMs)) * pages;
    this.lastSentAt = sentAt;
    this.listings += 1;
    const controller = new AbortController();
    this.listingInFlight = controller;
    const timeout = this.clock.setTimeout(() => controller.abort(timedOut(timeoutMs)), timeoutMs);
    let outcome: { listed: ReadonlyMap<string, LeaseObservation> } | { error: unknown };
    try {
      const listing = lister.listLeases(names, controller.signal);
      // Settles at the timeout even if the store ignores the signal.
      const aborted = new Promise<never>((_, reject) =>
        controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true }),
      );
      outcome = { listed: await Promise.race([listing, aborted]) };
    } catch (error) {
      outcome = { error };
    } finally {
      this.clock.clearTimeout(timeout);
      controller.abort();
    }
    this.listingInFlight = undefined;
    // Served polls leave the queue, but for those deferred to the next listing (they keep their place).
    const deferred = 'listed' in outcome ? this.deferredFree(served, outcome.listed) : new Set<Waiter>();
    this.waiters = this.waiters.filter((waiter) => !served.includes(waiter) || deferred.has(waiter));
    const error = 'error' in outcome ? outcome.error : undefined;
    this.report(served, sentAt, error);
    this.noteThrottling(error, served);
    for (const waiter of served) {
      if (deferred.has(waiter)) continue;
      waiter.detach();
      if ('error' in outcome) waiter.reject(outcome.error);
      else {
        // A lease the listing did not show is observed alone: its store's own "missing record" (with
        // the version an acquire is conditioned on), never an unversioned guess.
        const listed = outcome.listed.get(waiter.leaseName);
        if (listed) waiter.resolve(listed);
        else waiter.observeAlone().then(waiter.resolve, waiter.reject);
      }
    }
    this.schedule();
  }

  /**
   * The polls beyond FREE_LEASES_PER_LISTING that would be handed a free lease: taken in this
   * replica's order. A lease naming this replica (its successor, or its own record) is never deferred.
   */
  private deferredFree(
    served: readonly Waiter[],
    listed: ReadonlyMap<string, LeaseObservation>,
  ): Set<Waiter> {
    const free = served.filter((waiter) => {
      const observation = listed.get(waiter.leaseName);
      return (
        observation !== undefined &&
        !observation.held &&
        observation.successor !== waiter.identity &&
        observation.holder !== waiter.identity
      );
    });
    if (free.length <= FREE_LEASES_PER_LISTING) return new Set();
    const order = (waiter: Waiter): number => fnv1a(`${waiter.identity}\u0000${waiter.leaseName}`);
    free.sort((a, b) => order(a) - order(b));
    return new Set(free.slice(FREE_LEASES_PER_LISTING));
  }

  /**
   * A listing is one store call for many elections: it is reported once, on the requests$ of one
   * election it served (one that is listened to, if any), so that counting over elections counts it once.
   */
  private report(served: readonly Waiter[], sentAt: number, error: unknown): void {
    const reporter = served.find((waiter) => waiter.requests.observed) ?? served[0];
    reporter?.requests.reportShared('listLeases', sentAt, error, { servedPolls: served.length });
  }

  /** Throttling backs off the listing only, doubling per throttled listing in a row. */
  private noteThrottling(error: unknown, served: readonly Waiter[]): void {
    if (!isThrottling(error)) {
      this.throttledInARow = 0;
      this.backoffUntil = -Infinity;
      return;
    }
    this.throttledInARow += 1;
    const intervalMs = Math.min(...served.map((waiter) => waiter.intervalMs));
    const capMs = Math.min(...served.map((waiter) => waiter.maxBackoffMs));
    const pauseMs = Math.min(capMs, intervalMs * 2 ** Math.min(this.throttledInARow, 20));
    this.backoffUntil = this.lastSentAt + pauseMs;
  }
}

/** Azure's throttling answers: 503 ServerBusy, 500 OperationTimedOut (and a plain 429). */
export function isThrottling(error: unknown): boolean {
  if (error === undefined || error === null || typeof error !== 'object') return false;
  const { statusCode, code } = error as Partial<LeaseStoreError>;
  return statusCode === 503 || statusCode === 429 || code === 'ServerBusy' || code === 'OperationTimedOut';
}

function observeAlone(election: ObservingElection): Promise<LeaseObservation> {
  const { leaseName, options } = election.lease;
  return election.requests.send('observe', (signal) => election.store.observe(leaseName, signal), {
    timeoutMs: options.requestTimeoutMs,
  });
}

/** 32-bit FNV-1a: a cheap, stable, well-spread order (not a security hash). */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

function timedOut(timeoutMs: number): TransientStoreError {
  return new TransientStoreError(`list leases timed out after ${Math.round(timeoutMs)} ms`, 'ElectorTimeout');
}
