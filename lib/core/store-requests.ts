import { Subject, type Observable } from 'rxjs';
import { linkSignals, sleep, type Clock } from './clock.js';
import { errorKindOf, TransientStoreError, type LeaseStoreErrorKind } from './lease-store.js';

/** A settled store call (see LeaderElector.requests$). */
export interface StoreRequestEvent {
  leaseName: string;
  identity: string;
  operation:
    | 'observe'
    | 'acquire'
    | 'renew'
    | 'release'
    | 'announce'
    | 'list'
    | 'withdraw'
    | 'listLeases'
    | 'heartbeat'
    | 'break';
  /** Monotonic ms from sending to settling (a timed-out call counts its timeout). */
  durationMs: number;
  outcome: 'ok' | 'error';
  errorKind?: LeaseStoreErrorKind;
  /** For a successful acquire call: whether the lease was taken (false: someone else holds it). */
  acquired?: boolean;
  /** For a shared listing (`listLeases`): the follower polls of this store it served (shared-observer.ts). */
  servedPolls?: number;
}

export interface SendOptions {
  timeoutMs: number;
  /** Also aborts the call (e.g. the tenure's signal for a renewal). */
  signal?: AbortSignal;
  /** Abort the call when the election stops. Default true. */
  abortOnStop?: boolean;
}

/** A call given up on (timeout, abort) whose promise the store has not settled yet. */
interface InFlightRequest {
  abandonedAt?: number;
}

/**
 * Every store call of one election goes through here: each is bounded by a timeout and aborted when
 * the election stops, tracked while in flight (stop() waits, bounded, for calls the server may still
 * be processing), and reported on `events$`.
 */
export class StoreRequests {
  private readonly inFlight = new Map<Promise<unknown>, InFlightRequest>();
  private readonly subject = new Subject<StoreRequestEvent>();

  constructor(
    private readonly clock: Clock,
    private readonly stopSignal: AbortSignal,
    private readonly source: { leaseName: string; identity: string; requestTimeoutMs: number },
  ) {}

  get events$(): Observable<StoreRequestEvent> {
    return this.subject.asObservable();
  }

  /** Someone listens to `events$`. */
  get observed(): boolean {
    return this.subject.observed;
  }

  /** Calls tracked as in flight. */
  get size(): number {
    return this.inFlight.size;
  }

  /**
   * Runs one store call with a timeout. The returned promise settles at the timeout (or abort) even
   * if the store ignores its signal, so a hung request can never hold a leader past its deadline.
   */
  send<T>(
    operation: StoreRequestEvent['operation'],
    call: (signal: AbortSignal) => Promise<T>,
    options: SendOptions,
  ): Promise<T> {
    const startedAt = this.clock.now();
    const settled = this.track(operation, call, options);
    settled.then(
      (value) => this.report(operation, startedAt, undefined, value),
      (error: unknown) => this.report(operation, startedAt, error, undefined),
    );
    return settled;
  }

  /**
   * Reports a call made outside send() on this election's behalf: the shared listing, sent once for
   * the polls of many elections, is reported on one of them so that a sum over elections counts it once.
   */
  reportShared(
    operation: StoreRequestEvent['operation'],
    startedAt: number,
    error: unknown,
    extra: Pick<StoreRequestEvent, 'servedPolls'> = {},
  ): void {
    this.report(operation, startedAt, error, undefined, extra);
  }

  /** Waits for calls still running after stop(), at most one request timeout. */
  async settle(): Promise<void> {
    if (this.inFlight.size === 0) return;
    const bound = new AbortController();
    await Promise.race([
      Promise.allSettled([...this.inFlight.keys()]),
      sleep(this.clock, this.source.requestTimeoutMs, bound.signal),
    ]);
    bound.abort();
  }

  complete(): void {
    this.subject.complete();
  }

  private report(
    operation: StoreRequestEvent['operation'],
    startedAt: number,
    error: unknown,
    value: unknown,
    extra: Pick<StoreRequestEvent, 'servedPolls'> = {},
  ): void {
    if (!this.subject.observed) return;
    this.subject.next({
      leaseName: this.source.leaseName,
      identity: this.source.identity,
      operation,
      durationMs: this.clock.now() - startedAt,
      outcome: error === undefined ? 'ok' : 'error',
      ...(error === undefined ? {} : { errorKind: errorKindOf(error) }),
      ...(operation === 'acquire' && error === undefined
        ? { acquired: (value as { acquired?: boolean } | undefined)?.acquired === true }
        : {}),
      ...extra,
    });
  }

  private track<T>(
    operation: string,
    call: (signal: AbortSignal) => Promise<T>,
    { timeoutMs, signal: extraSignal, abortOnStop = true }: SendOptions,
  ): Promise<T> {
    const timeoutController = new AbortController();
    const signals = [timeoutController.signal];
    if (abortOnStop) signals.push(this.stopSignal);
    if (extraSignal) signals.push(extraSignal);
    // Not AbortSignal.any(): its result would stay referenced from the long-lived stop signal.
    const linked = linkSignals(signals);
    const signal = linked.signal;
    return new Promise<T>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        timeoutController.abort(
          new TransientStoreError(
            `${operation} timed out after ${Math.round(timeoutMs)} ms`,
            'ElectorTimeout',
          ),
        );
      }, timeoutMs);
      const entry: InFlightRequest = {};
      const onAbort = (): void => {
        this.clock.clearTimeout(timer);
        linked.dispose();
        entry.abandonedAt = this.clock.now();
        reject(
          signal.reason instanceof Error
            ? signal.reason
            : new TransientStoreError(`${operation} aborted`, 'Aborted'),
        );
      };
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      let pending: Promise<T>;
      try {
        pending = call(signal);
      } catch (error) {
        pending = Promise.reject(error);
      }
      const settle = (): void => {
        signal.removeEventListener('abort', onAbort);
        this.clock.clearTimeout(timer);
        linked.dispose();
      };
      const tracked = pending.then(
        (value) => {
          settle();
          resolve(value);
        },
        (error: unknown) => {
          settle();
          reject(error);
        },
      );
      this.forgetAbandoned();
      this.inFlight.set(tracked, entry);
      void tracked.finally(() => this.inFlight.delete(tracked));
    });
  }

  /**
   * A store that ignores its AbortSignal may never settle a call we gave up on. Such a call is
   * tracked for one more request timeout (stop() may still want to wait for it), then forgotten, so
   * that a long outage against such a store cannot grow this map without bound.
   */
  private forgetAbandoned(): void {
    const cutoff = this.clock.now() - this.source.requestTimeoutMs;
    for (const [pending, entry] of this.inFlight) {
      if (entry.abandonedAt !== undefined && entry.abandonedAt <= cutoff) this.inFlight.delete(pending);
    }
  }
}
