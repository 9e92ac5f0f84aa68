import {
  TransientStoreError,
  type AcquireRequest,
  type AcquireResult,
  type LeaseObservation,
  type LeaseStore,
  type ReleaseOptions,
} from '../../lib/core/lease-store.js';
import type { PresenceAnnouncement, PresenceRecord, PresenceStore } from '../../lib/core/presence.js';
import type { AzureModel } from './azure-model.js';
import type { Owner, Scheduler } from './sim-clock.js';

export type Operation =
  'observe' | 'acquire' | 'renew' | 'release' | 'announce' | 'list' | 'withdraw' | 'heartbeat' | 'break';

/** What happens to one request on its way to the server and back. */
export type FaultKind =
  /** 503 without reaching the server. */
  | 'transient'
  /** No answer until the caller aborts; never processed. */
  | 'hang'
  /** Processed, but the answer is lost (the caller sees a transient error). */
  | 'unknown'
  /** The caller gives up (it gets no answer before its abort), yet the server processes it later. */
  | 'lands-late'
  /** Acquire only: the lease is taken but the term is not written (the caller sees an error). */
  | 'partial'
  /** Slow both ways. */
  | 'latency'
  /** Processed on arrival, its answer `delayMs` late (the sender's clock moves on, the server's write does not). */
  | 'slow-answer';

export interface Fault {
  kind: FaultKind;
  /** Replica index, or undefined for every replica. */
  replica?: number;
  /** Only requests about this lease (e.g. throttling of one blob). */
  lease?: string;
  ops?: readonly Operation[];
  from: number;
  until: number;
  /** lands-late: ms after sending that it is processed; latency: extra ms each way; slow-answer: extra ms back. */
  delayMs: number;
}

/** What a connection needs from the world around it. */
export interface Network {
  sched: Scheduler;
  model: AzureModel;
  net: Owner;
  faultFor(replica: number, op: Operation, lease: string): Fault | undefined;
  /** The store reports no record versions: observations carry no etag. */
  readonly unversioned?: boolean;
  latency(): number;
  trace(line: string): void;
  /** Called as an acquire is about to be processed (for the hand-over window check). */
  beforeAcquire?(replica: number, request: AcquireRequest, sentAt: number): void;
  /** Listing profile: serve a listing the snapshot of the previous one, if at most this old (ms). */
  staleListing?(): number | undefined;
  /** Called as a release is about to be processed (for the drain check). */
  beforeRelease?(replica: number, lease: string, leaseId: string): void;
  /** Every answer an acquire got (or not): tells whether the replica knows its last acquire's outcome. */
  acquireSettled?(replica: number, lease: string, definite: boolean): void;
  /** A term this replica has been told about (observation or acquire answer). */
  told?(replica: number, lease: string, term: number, observedLife?: number): void;
}

/**
 * One replica's view of the simulated store: a LeaseStore and PresenceStore whose every request goes
 * through the network (latency, faults) to the Azure model, and whose answers reach the replica on
 * its own thread (a paused replica gets nothing until it resumes).
 */
export class Connection implements LeaseStore, PresenceStore {
  readonly description = 'simulated Azure blob store';
  /** Lease ids this replica proposed, per lease name (the elector's own, learned from its acquires). */
  readonly leaseIds = new Map<string, string>();

  /** Set in the listing profile: followers then observe through listings (lib/core/shared-observer.ts). */
  listingFromLeases?: number;
  private lastListing?: {
    at: number;
    snapshot: Map<string, { observation: LeaseObservation; life: number }>;
  };

  constructor(
    private readonly network: Network,
    readonly replica: number,
    private readonly owner: Owner,
    private readonly label: string,
  ) {}

  observe(leaseName: string, signal: AbortSignal): Promise<LeaseObservation> {
    let life: number | undefined;
    const observe = (): LeaseObservation => {
      life = this.network.model.leases.get(leaseName)?.life ?? 0;
      return this.versioned(this.network.model.observe(leaseName));
    };
    return this.send('observe', leaseName, signal, observe, describeObservation).then((observation) => {
      this.network.told?.(this.replica, leaseName, observation.term, life);
      return observation;
    });
  }

  /**
   * One List Blobs of the container, processed at one instant: every lease record there is (a lease
   * without a record is absent). It may be served the previous listing's snapshot again (stale by up
   * to one poll): safety must not rest on a listing being fresh. Faults on 'observe' apply to it.
   */
  listLeases(leaseNames: readonly string[], signal: AbortSignal): Promise<Map<string, LeaseObservation>> {
    const list = (): Map<string, { observation: LeaseObservation; life: number }> => {
      const { model, sched } = this.network;
      const staleMs = this.network.staleListing?.();
      const last = this.lastListing;
      if (last && staleMs !== undefined && sched.now - last.at <= staleMs) return last.snapshot;
      const snapshot = new Map<string, { observation: LeaseObservation; life: number }>();
      for (const [name, record] of model.leases)
        snapshot.set(name, { observation: this.versioned(model.observe(name)), life: record.life });
      this.lastListing = { at: sched.now, snapshot };
      return snapshot;
    };
    const describe = (snapshot: Map<string, { observation: LeaseObservation }>): string =>
      leaseNames
        .map(
          (name) =>
            `${name}: ${snapshot.has(name) ? describeObservation(snapshot.get(name)!.observation) : 'no record'}`,
        )
        .join('; ');
    return this.send('observe', '*', signal, list, describe, 'listing').then((snapshot) => {
      const listed = new Map<string, LeaseObservation>();
      for (const name of leaseNames) {
        const entry = snapshot.get(name);
        this.network.told?.(this.replica, name, entry?.observation.term ?? 0, entry?.life ?? 0);
        if (entry) listed.set(name, { ...entry.observation });
      }
      return listed;
    });
  }

  acquire(request: AcquireRequest, signal: AbortSignal): Promise<AcquireResult> {
    this.leaseIds.set(request.leaseName, request.leaseId);
    const sentAt = this.network.sched.now;
    const args =
      `min ${request.minimumTerm ?? 0}${request.recoveredTerm !== undefined ? ` recovered ${request.recoveredTerm}` : ''}` +
      (request.ifMatch !== undefined ? ` if-match ${request.ifMatch}` : '');
    const pending = this.send(
      'acquire',
      request.leaseName,
      signal,
      (partial) => {
        this.network.beforeAcquire?.(this.replica, request, sentAt);
        const result = this.network.model.acquire(request, !partial);
        return result.acquired ? result : { ...result, observation: this.versioned(result.observation) };
      },
      (result) =>
        result.acquired
          ? `acquired term ${result.term} (previous ${result.previousTerm ?? '?'})`
          : result.observation.etag !== undefined
            ? `refused (412 record changed: ${describeObservation(result.observation)})`
            : 'refused (409 held)',
      args,
    );
    return pending.then(
      (result) => {
        this.network.acquireSettled?.(this.replica, request.leaseName, true);
        if (result.acquired && result.previousTerm !== undefined)
          this.network.told?.(this.replica, request.leaseName, result.previousTerm);
        return result;
      },
      (error: unknown) => {
        this.network.acquireSettled?.(this.replica, request.leaseName, false);
        throw error;
      },
    );
  }

  renew(leaseName: string, leaseId: string, signal: AbortSignal): Promise<void> {
    return this.send(
      'renew',
      leaseName,
      signal,
      () => this.network.model.renew(leaseName, leaseId),
      () => 'ok',
    );
  }

  heartbeat(leaseName: string, leaseId: string, signal: AbortSignal): Promise<void> {
    return this.send(
      'heartbeat',
      leaseName,
      signal,
      () => this.network.model.heartbeat(leaseName, leaseId),
      () => 'ok',
    );
  }

  breakStale(leaseName: string, ifMatch: string, signal: AbortSignal): Promise<boolean> {
    return this.send(
      'break',
      leaseName,
      signal,
      () => this.network.model.breakStale(leaseName, ifMatch),
      (broken) => (broken ? 'broken' : 'not broken (412/409)'),
      `if-match ${ifMatch}`,
    );
  }

  release(leaseName: string, leaseId: string, signal: AbortSignal, options?: ReleaseOptions): Promise<void> {
    return this.send(
      'release',
      leaseName,
      signal,
      () => {
        this.network.beforeRelease?.(this.replica, leaseName, leaseId);
        this.network.model.release(leaseName, leaseId, options?.successor);
      },
      () => 'ok',
      options?.successor !== undefined ? `successor ${options.successor}` : '',
    );
  }

  announce(leaseName: string, announcement: PresenceAnnouncement, signal: AbortSignal): Promise<void> {
    return this.send(
      'announce',
      leaseName,
      signal,
      () => this.network.model.announce(leaseName, announcement),
      () => 'ok',
    );
  }

  withdraw(leaseName: string, identity: string, signal: AbortSignal): Promise<void> {
    return this.send(
      'withdraw',
      leaseName,
      signal,
      () => this.network.model.withdraw(leaseName, identity),
      () => 'ok',
      identity,
    );
  }

  list(leaseName: string, signal: AbortSignal): Promise<PresenceRecord[]> {
    return this.send(
      'list',
      leaseName,
      signal,
      () => this.network.model.list(leaseName),
      (records) =>
        records.map((r) => `${r.identity}(p${r.priority},${Math.round(r.ageMs / 1000)}s)`).join(' '),
    );
  }

  private versioned(observation: LeaseObservation): LeaseObservation {
    if (!this.network.unversioned) return observation;
    const { etag: _etag, ...rest } = observation;
    return rest;
  }

  private send<T>(
    op: Operation,
    lease: string,
    signal: AbortSignal,
    apply: (partial: boolean) => T,
    describe: (value: T) => string,
    args = '',
  ): Promise<T> {
    const { sched, net } = this.network;
    const fault = this.network.faultFor(this.replica, op, lease);
    const extra = fault?.kind === 'latency' ? fault.delayMs : 0;
    const out = this.network.latency() + extra;
    const back = this.network.latency() + extra + (fault?.kind === 'slow-answer' ? fault.delayMs : 0);
    const name = `${this.label} ${op}(${lease}${args ? `, ${args}` : ''})`;
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const finish = (settleIt: () => void): void => {
        if (done) return;
        done = true;
        signal.removeEventListener('abort', onAbort);
        settleIt();
      };
      const onAbort = (): void =>
        finish(() => {
          this.network.trace(`${name} → aborted by the caller`);
          reject(signal.reason);
        });
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      type Outcome = { ok: true; value: T } | { ok: false; error: unknown };
      const land = (ignoreAbort: boolean, partial = false): Outcome | undefined => {
        if (!ignoreAbort && done) return undefined; // the caller gave up before it reached the server
        try {
          const value = apply(partial);
          this.network.trace(`${name} processed${ignoreAbort && done ? ' (late)' : ''} → ${describe(value)}`);
          return { ok: true, value };
        } catch (error) {
          this.network.trace(`${name} processed → ${errorText(error)}`);
          return { ok: false, error };
        }
      };
      const deliver = (outcome: Outcome): void => {
        sched.setTimeout(
          this.owner,
          () =>
            finish(() => {
              if (outcome.ok) resolve(outcome.value);
              else reject(outcome.error);
            }),
          back,
        );
      };
      switch (fault?.kind) {
        case 'hang':
          this.network.trace(`${name} → hangs (fault)`);
          return;
        case 'transient':
          sched.setTimeout(
            net,
            () => {
              if (done) return;
              this.network.trace(`${name} → 503 (fault)`);
              deliver({ ok: false, error: new TransientStoreError('injected 503', 'ServerBusy', 503) });
            },
            out,
          );
          return;
        case 'unknown':
          sched.setTimeout(
            net,
            () => {
              if (!land(false)) return;
              this.network.trace(`${name} → answer lost (fault)`);
              deliver({
                ok: false,
                error: new TransientStoreError('injected: answer lost', 'Injected', 500),
              });
            },
            out,
          );
          return;
        case 'lands-late':
          sched.setTimeout(
            net,
            () => {
              const outcome = land(true);
              if (outcome && !done) deliver(outcome);
            },
            fault.delayMs,
          );
          return;
        case 'partial':
          sched.setTimeout(
            net,
            () => {
              const outcome = land(false, op === 'acquire');
              if (outcome) deliver(outcome);
            },
            out,
          );
          return;
        default:
          sched.setTimeout(
            net,
            () => {
              const outcome = land(false);
              if (outcome) deliver(outcome);
            },
            out,
          );
      }
    });
  }
}

function describeObservation(o: LeaseObservation): string {
  const parts = [o.held ? `held by ${o.holder ?? '?'}` : `free (last ${o.holder ?? '-'})`, `term ${o.term}`];
  if (o.recoveredTerm !== undefined) parts.push(`recovered ${o.recoveredTerm}`);
  if (o.successor !== undefined) parts.push(`successor ${o.successor}`);
  return parts.join(', ');
}

export function errorText(error: unknown): string {
  if (error instanceof Error) {
    const status = (error as { statusCode?: number }).statusCode;
    return `${error.name}${status ? ` ${status}` : ''}: ${error.message}`;
  }
  return String(error);
}
