import type { Clock } from '../../lib/core/clock.js';
import {
  LeaseLostError,
  PermanentStoreError,
  TransientStoreError,
  type AcquireRequest,
  type AcquireResult,
  type LeaseObservation,
  type LeaseStore,
  type ReleaseOptions,
} from '../../lib/core/lease-store.js';
import type { PresenceAnnouncement, PresenceRecord, PresenceStore } from '../../lib/core/presence.js';

export type StoreOperation =
  'observe' | 'acquire' | 'renew' | 'release' | 'announce' | 'list' | 'withdraw' | 'heartbeat' | 'break';

/**
 * What the next call of an operation does:
 * pass, fail (transient | lost | permanent | a plain Error), hang until aborted,
 * hang ignoring the abort signal (a misbehaving store), answer after a delay (`delay`: the request
 * reaches the store late), reach the store at once and answer late (`slow-answer`), or reach the
 * store late even though the caller gave up on it at once (`lands-late`: an HTTP client aborts its
 * side, but the server still processes a request it had received).
 */
export type Fault =
  | { type: 'pass' }
  | { type: 'transient' }
  | { type: 'lost' }
  | { type: 'permanent' }
  | { type: 'plain-error' }
  | { type: 'hang' }
  | { type: 'hang-ignoring-signal' }
  | { type: 'delay'; ms: number }
  | { type: 'slow-answer'; ms: number }
  | { type: 'lands-late'; ms: number }
  | { type: 'succeed-then-fail' };

export interface StoreCall {
  operation: StoreOperation;
  at: number;
  outcome?: 'ok' | 'error';
  endedAt?: number;
  signal: AbortSignal;
}

/** Wraps a store and injects faults per operation; records every call with its virtual time. */
export class FaultyStore implements LeaseStore, PresenceStore {
  readonly description = 'faulty wrapper';
  readonly calls: StoreCall[] = [];
  private readonly queued = new Map<StoreOperation, Fault[]>();
  private readonly persistent = new Map<StoreOperation, Fault>();
  private versionless = false;

  constructor(
    private readonly inner: LeaseStore & Partial<PresenceStore>,
    private readonly clock: Clock,
  ) {}

  /** The next `times` calls of `operation` get `fault`. */
  inject(operation: StoreOperation, fault: Fault, times = 1): this {
    const list = this.queued.get(operation) ?? [];
    for (let i = 0; i < times; i++) list.push(fault);
    this.queued.set(operation, list);
    return this;
  }

  /** Every call of `operation` gets `fault` until cleared. */
  always(operation: StoreOperation, fault: Fault): this {
    this.persistent.set(operation, fault);
    return this;
  }

  clear(operation?: StoreOperation): this {
    if (operation) {
      this.queued.delete(operation);
      this.persistent.delete(operation);
    } else {
      this.queued.clear();
      this.persistent.clear();
    }
    return this;
  }

  callsOf(operation: StoreOperation): StoreCall[] {
    return this.calls.filter((call) => call.operation === operation);
  }

  /** From now on observations carry no record version (a custom store without one): acquires are unconditional. */
  withoutRecordVersions(): this {
    this.versionless = true;
    return this;
  }

  observe(leaseName: string, signal: AbortSignal): Promise<LeaseObservation> {
    return this.run('observe', signal, (s) => this.inner.observe(leaseName, s)).then((o) => this.strip(o));
  }

  acquire(request: AcquireRequest, signal: AbortSignal): Promise<AcquireResult> {
    return this.run('acquire', signal, (s) => this.inner.acquire(request, s)).then((result) =>
      result.acquired ? result : { ...result, observation: this.strip(result.observation) },
    );
  }

  private strip(observation: LeaseObservation): LeaseObservation {
    if (!this.versionless) return observation;
    const { etag: _etag, ...rest } = observation;
    return rest;
  }

  renew(leaseName: string, leaseId: string, signal: AbortSignal): Promise<void> {
    return this.run('renew', signal, (s) => this.inner.renew(leaseName, leaseId, s));
  }

  release(leaseName: string, leaseId: string, signal: AbortSignal, options?: ReleaseOptions): Promise<void> {
    return this.run('release', signal, (s) => this.inner.release(leaseName, leaseId, s, options));
  }

  heartbeat(leaseName: string, leaseId: string, signal: AbortSignal): Promise<void> {
    const inner = this.inner;
    if (!inner.heartbeat) throw new Error('the wrapped store cannot heartbeat');
    return this.run('heartbeat', signal, (s) => inner.heartbeat!(leaseName, leaseId, s));
  }

  breakStale(leaseName: string, ifMatch: string, signal: AbortSignal): Promise<boolean> {
    const inner = this.inner;
    if (!inner.breakStale) throw new Error('the wrapped store cannot break a lease');
    return this.run('break', signal, (s) => inner.breakStale!(leaseName, ifMatch, s));
  }

  announce(leaseName: string, announcement: PresenceAnnouncement, signal: AbortSignal): Promise<void> {
    return this.run('announce', signal, (s) => this.presence().announce(leaseName, announcement, s));
  }

  withdraw(leaseName: string, identity: string, signal: AbortSignal): Promise<void> {
    return this.run('withdraw', signal, (s) => this.presence().withdraw(leaseName, identity, s));
  }

  list(leaseName: string, signal: AbortSignal): Promise<PresenceRecord[]> {
    return this.run('list', signal, (s) => this.presence().list(leaseName, s));
  }

  private presence(): PresenceStore {
    const inner = this.inner;
    if (!inner.announce || !inner.withdraw || !inner.list)
      throw new Error('the wrapped store keeps no presence records');
    return inner as PresenceStore;
  }

  private nextFault(operation: StoreOperation): Fault {
    const list = this.queued.get(operation);
    if (list && list.length > 0) return list.shift()!;
    return this.persistent.get(operation) ?? { type: 'pass' };
  }

  private async run<T>(
    operation: StoreOperation,
    signal: AbortSignal,
    call: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const record: StoreCall = { operation, at: this.clock.now(), signal };
    this.calls.push(record);
    try {
      const value = await this.apply(operation, signal, call);
      record.outcome = 'ok';
      return value;
    } catch (error) {
      record.outcome = 'error';
      throw error;
    } finally {
      record.endedAt = this.clock.now();
    }
  }

  private async apply<T>(
    operation: StoreOperation,
    signal: AbortSignal,
    forward: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const fault = this.nextFault(operation);
    const call = (): Promise<T> => forward(signal);
    switch (fault.type) {
      case 'pass':
        return call();
      case 'transient':
        throw new TransientStoreError(`injected transient failure of ${operation}`, 'Injected', 503);
      case 'lost':
        throw new LeaseLostError(`injected loss on ${operation}`, 'LeaseIdMismatchWithLeaseOperation', 409);
      case 'permanent':
        throw new PermanentStoreError(
          `injected permanent failure of ${operation}`,
          'AuthorizationFailure',
          403,
        );
      case 'plain-error':
        throw new TypeError(`injected unexpected error in ${operation}`);
      case 'hang':
        return new Promise<T>((_, reject) => {
          if (signal.aborted) reject(signal.reason);
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        });
      case 'hang-ignoring-signal':
        return new Promise<T>(() => undefined);
      case 'delay':
        await new Promise<void>((resolve) => this.clock.setTimeout(resolve, fault.ms));
        return call();
      case 'slow-answer': {
        const value = await call();
        await new Promise<void>((resolve) => this.clock.setTimeout(resolve, fault.ms));
        return value;
      }
      case 'lands-late':
        return new Promise<T>((resolve, reject) => {
          let abandoned = false;
          const onAbort = (): void => {
            abandoned = true;
            reject(signal.reason);
          };
          if (signal.aborted) onAbort();
          else signal.addEventListener('abort', onAbort, { once: true });
          this.clock.setTimeout(() => {
            signal.removeEventListener('abort', onAbort);
            // The server never saw the client give up: it processes the request as sent.
            forward(new AbortController().signal).then(
              (value) => (abandoned ? undefined : resolve(value)),
              (error: unknown) => (abandoned ? undefined : reject(error)),
            );
          }, fault.ms);
        });
      case 'succeed-then-fail':
        // The server did it, but the answer is lost on the way back.
        await call();
        throw new TransientStoreError(`injected lost response of ${operation}`, 'Injected', 500);
    }
  }
}
