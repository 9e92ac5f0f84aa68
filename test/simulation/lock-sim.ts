import fc from 'fast-check';
import { sleep, type Clock } from '../../lib/core/clock.js';
import {
  TransientStoreError,
  type AcquireRequest,
  type AcquireResult,
  type LeaseObservation,
  type LeaseStore,
} from '../../lib/core/lease-store.js';
import type { HeldLock, LockContext } from '../../lib/locks/held-lock.js';
import { LockManager } from '../../lib/locks/lock-manager.js';
import { ABSENT_ETAG, AzureModel } from './azure-model.js';
import { Owner, Proc, Scheduler, WALL_START } from './sim-clock.js';

/**
 * The lock model of the simulation tester: N replicas, each a LockManager on its own connection to
 * one Azure model, random lock calls (with waits), per-run ticks, process pauses (SIGSTOP) and
 * network faults, all on one virtual clock. After every step the checker asserts:
 *   - never two holders inside valid locks: at no instant do two replicas hold the same lock name
 *     with isValid() true (the elector's "never two leaders", for locks);
 *   - fencing: every acquisition of a lock record has a term above all earlier ones;
 *   - per-run: every (job, tick) ran at most once in the cluster.
 * The 'stale' fault delivers answers 10 s after the server processed them, so a waiter acts on an
 * observation a tenure (or several) old: lock acquires carry no version (docs/GUARANTEES.md, "Lock
 * acquires need no version"), and the world counts such acquires (`staleAcquires`) to show the rule is
 * exercised.
 */

export type LockFault = 'none' | 'transient' | 'unknown' | 'lands-late' | 'slow' | 'stale';

/** How late a 'stale' answer reaches the replica after the server processed the request, ms. */
const STALE_ANSWER_MS = 10_000;

export type LockStep =
  | { type: 'lock'; replica: number; name: number; holdMs: number; waitMs: number }
  | { type: 'tick'; replica: number; job: number; tick: number }
  | { type: 'pause'; replica: number; ms: number }
  | { type: 'fault'; replica: number; kind: LockFault; ms: number }
  | { type: 'advance'; ms: number };

export interface LockScenario {
  replicas: number;
  steps: LockStep[];
  /**
   * A deliberately broken checker input (for the tester's own test): each lock counts as valid this
   * many ms past its real deadline, as if the deadline rule forgot the safety margin or used the
   * receive time. 0 in real runs.
   */
  believeExtraMs?: number;
  /**
   * Another broken input (for the tester's own test): the store takes the lease on the caller's word
   * that its last observation showed it free, as a blind write acting on the observation would, instead
   * of checking for a live lease when it processes the acquire. False in real runs.
   */
  actOnObservation?: boolean;
}

const LOCK_NAMES = ['invoices', 'stock'];
const JOBS = ['report', 'sweep'];

export function lockScenarioArbitrary(): fc.Arbitrary<LockScenario> {
  const replica = fc.integer({ min: 0, max: 2 });
  const step: fc.Arbitrary<LockStep> = fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        type: fc.constant('lock' as const),
        replica,
        name: fc.integer({ min: 0, max: 1 }),
        holdMs: fc.oneof(fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 10_000, max: 60_000 })),
        waitMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 30_000 }), fc.constant(Infinity)),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        type: fc.constant('tick' as const),
        replica,
        job: fc.integer({ min: 0, max: 1 }),
        tick: fc.integer({ min: 0, max: 5 }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        type: fc.constant('pause' as const),
        replica,
        ms: fc.integer({ min: 5_000, max: 40_000 }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        type: fc.constant('fault' as const),
        replica,
        kind: fc.constantFrom<LockFault>('none', 'transient', 'unknown', 'lands-late', 'slow', 'stale'),
        ms: fc.integer({ min: 0, max: 30_000 }),
      }),
    },
    {
      weight: 4,
      arbitrary: fc.record({
        type: fc.constant('advance' as const),
        ms: fc.integer({ min: 0, max: 20_000 }),
      }),
    },
  );
  return fc.record({ replicas: fc.constant(3), steps: fc.array(step, { minLength: 1, maxLength: 30 }) });
}

interface Replica {
  proc: Proc;
  owner: Owner;
  clock: Clock;
  manager: LockManager;
  fault: { kind: LockFault; until: number };
  held: Set<HeldLock>;
}

/** One replica's connection: requests go through the network (latency, faults) to the model and back. */
class LockConnection implements LeaseStore {
  readonly description = 'simulated Azure blob store (locks)';
  constructor(
    private readonly world: LockWorld,
    private readonly replica: () => Replica,
  ) {}

  observe(leaseName: string, signal: AbortSignal): Promise<LeaseObservation> {
    return this.send(signal, () => this.world.observe(this.replica(), leaseName));
  }
  acquire(request: AcquireRequest, signal: AbortSignal): Promise<AcquireResult> {
    return this.send(signal, () => this.world.acquire(this.replica(), request));
  }
  renew(leaseName: string, leaseId: string, signal: AbortSignal): Promise<void> {
    return this.send(signal, () => this.world.model.renew(leaseName, leaseId));
  }
  release(leaseName: string, leaseId: string, signal: AbortSignal): Promise<void> {
    return this.send(signal, () => this.world.model.release(leaseName, leaseId));
  }

  private send<T>(signal: AbortSignal, process: () => T): Promise<T> {
    const { sched, net } = this.world;
    const replica = this.replica();
    const fault = sched.now < replica.fault.until ? replica.fault.kind : 'none';
    const latency = fault === 'slow' ? 3_000 : 20;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const answer = (deliver: () => void): void => {
        // Answers reach the replica on its own thread: a paused replica sees them when it resumes.
        sched.setTimeout(
          replica.owner,
          () => {
            if (settled) return;
            settled = true;
            deliver();
          },
          0,
        );
      };
      signal.addEventListener(
        'abort',
        () => {
          if (settled) return;
          settled = true;
          reject(signal.reason instanceof Error ? signal.reason : new TransientStoreError('aborted'));
        },
        { once: true },
      );
      if (fault === 'transient') {
        sched.setTimeout(net, () => answer(() => reject(new TransientStoreError('injected 503'))), latency);
        return;
      }
      const processAt = fault === 'lands-late' ? 8_000 : latency;
      sched.setTimeout(
        net,
        () => {
          let outcome: { ok: true; value: T } | { ok: false; error: unknown };
          try {
            outcome = { ok: true, value: process() };
          } catch (error) {
            outcome = { ok: false, error };
          }
          if (fault === 'unknown' || fault === 'lands-late') {
            sched.setTimeout(
              net,
              () => answer(() => reject(new TransientStoreError('answer lost'))),
              latency,
            );
            return;
          }
          sched.setTimeout(
            net,
            () => answer(() => (outcome.ok ? resolve(outcome.value) : reject(outcome.error))),
            fault === 'stale' ? STALE_ANSWER_MS : latency,
          );
        },
        processAt,
      );
    });
  }
}

export class LockWorld {
  readonly sched = new Scheduler();
  readonly net = new Owner('network');
  readonly model = new AzureModel(() => this.sched.now);
  readonly replicas: Replica[] = [];
  /** Highest term acquired per lease record. */
  private readonly terms = new Map<string, number>();
  /** The record version each replica's last observation of a lease saw (`r0|locks/lock/x` → etag). */
  private readonly observed = new Map<string, LeaseObservation>();
  /** Acquires that succeeded on a record changed (a tenure begun) since the replica last observed it. */
  staleAcquires = 0;
  /** (job, tick) → replicas that ran it. */
  readonly runs = new Map<string, number[]>();
  failure?: string;
  readonly trace: string[] = [];

  constructor(
    count: number,
    private readonly believeExtraMs = 0,
    private readonly actOnObservation = false,
  ) {
    for (let i = 0; i < count; i++) {
      const proc = new Proc(`r${i}`);
      const owner = new Owner(`r${i}`, proc);
      const clock = this.sched.clockFor(owner);
      const replica: Replica = {
        proc,
        owner,
        clock,
        fault: { kind: 'none', until: -Infinity },
        held: new Set(),
        manager: undefined as unknown as LockManager,
      };
      replica.manager = new LockManager(new LockConnection(this, () => replica), {
        identity: `r${i}`,
        clock,
        random: () => 0.5,
      });
      this.replicas.push(replica);
    }
    this.sched.onStep = () => this.check();
  }

  observe(replica: Replica, leaseName: string): LeaseObservation {
    const observation = this.model.observe(leaseName);
    this.observed.set(`${replica.proc.name}|${leaseName}`, observation);
    return observation;
  }

  acquire(replica: Replica, request: AcquireRequest): AcquireResult {
    const key = `${replica.proc.name}|${request.leaseName}`;
    const record = this.model.leases.get(request.leaseName);
    const observed = this.observed.get(key);
    if (this.actOnObservation && record && observed && !observed.held) record.leaseId = undefined;
    const result = this.model.acquire(request);
    if (result.acquired) {
      if (observed && observed.etag !== (record?.etag ?? ABSENT_ETAG)) this.staleAcquires++;
      const before = this.terms.get(request.leaseName) ?? 0;
      if (result.term <= before)
        this.fail(`fencing: ${request.leaseName} acquired with term ${result.term} after term ${before}`);
      this.terms.set(request.leaseName, result.term);
    }
    return result;
  }

  async run(steps: LockStep[]): Promise<void> {
    const pending: Promise<unknown>[] = [];
    for (const step of steps) {
      this.trace.push(`${this.sched.now}: ${JSON.stringify(step)}`);
      const replica = step.type === 'advance' ? undefined : this.replicas[step.replica]!;
      switch (step.type) {
        case 'lock': {
          if (replica!.proc.paused) break;
          const name = LOCK_NAMES[step.name]!;
          pending.push(
            replica!.manager
              .tryWithLock(
                name,
                async (lock: LockContext) => {
                  replica!.held.add(lock as HeldLock);
                  try {
                    await sleep(replica!.clock, step.holdMs);
                  } finally {
                    replica!.held.delete(lock as HeldLock);
                  }
                },
                { waitMs: step.waitMs },
              )
              .catch(() => undefined),
          );
          break;
        }
        case 'tick': {
          if (replica!.proc.paused) break;
          const job = JOBS[step.job]!;
          const tickAt = WALL_START + step.tick * 60_000;
          pending.push(
            replica!.manager
              .runOnce(job, tickAt, () => {
                const key = `${job}@${tickAt}`;
                const ran = [...(this.runs.get(key) ?? []), step.replica];
                this.runs.set(key, ran);
                if (ran.length > 1)
                  this.fail(`per-run: ${key} ran ${ran.length} times (replicas ${ran.join(', ')})`);
              })
              .catch(() => undefined),
          );
          break;
        }
        case 'pause': {
          const proc = replica!.proc;
          if (proc.paused) break;
          proc.paused = true;
          this.sched.setTimeout(this.net, () => (proc.paused = false), step.ms);
          break;
        }
        case 'fault':
          replica!.fault = { kind: step.kind, until: this.sched.now + step.ms };
          break;
        case 'advance':
          await this.sched.advanceTo(this.sched.now + step.ms);
          break;
      }
      await this.sched.advanceTo(this.sched.now);
      if (this.failure) throw new Error(`${this.failure}\n${this.trace.join('\n')}`);
    }
    // Let everything settle: resume every process, run out the holds and waits.
    for (const replica of this.replicas) replica.proc.paused = false;
    for (const replica of this.replicas) replica.fault = { kind: 'none', until: -Infinity };
    await this.sched.advanceTo(this.sched.now + 200_000);
    if (this.failure) throw new Error(`${this.failure}\n${this.trace.join('\n')}`);
    await Promise.all(pending);
  }

  /** Never two holders inside valid locks, at this instant. */
  private check(): void {
    const now = this.sched.now;
    const holders = new Map<string, string[]>();
    for (const replica of this.replicas) {
      for (const lock of replica.held) {
        if (!lock.isValid(now - this.believeExtraMs)) continue;
        holders.set(lock.name, [
          ...(holders.get(lock.name) ?? []),
          `${replica.proc.name} (term ${lock.term})`,
        ]);
      }
    }
    for (const [name, list] of holders)
      if (list.length > 1) this.fail(`two holders of the lock "${name}" at ${now}: ${list.join(', ')}`);
  }

  private fail(message: string): void {
    this.failure ??= message;
  }
}

export async function runLockScenario(scenario: LockScenario): Promise<LockWorld> {
  const world = new LockWorld(
    scenario.replicas,
    scenario.believeExtraMs ?? 0,
    scenario.actOnObservation ?? false,
  );
  await world.run(scenario.steps);
  return world;
}
