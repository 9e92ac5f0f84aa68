import { LeaderElector, type Leadership } from '../../lib/core/leader-elector.js';
import { runWhileLeader, type LeaderTaskHandle } from '../../lib/core/leader-task.js';
import type { LeadershipEvent } from '../../lib/core/leadership-events.js';
import type { AcquireRequest } from '../../lib/core/lease-store.js';
import type { ElectionLogger } from '../../lib/core/logger.js';
import { AzureModel } from './azure-model.js';
import {
  Connection,
  errorText,
  type Fault,
  type FaultKind,
  type Network,
  type Operation,
} from './connection.js';
import { createRenewalThread, loadRenewalThread, type SimRenewalThread } from './renewal-sim.js';
import { Owner, Proc, Scheduler } from './sim-clock.js';

export const JOBS = 'jobs';
/** A second lease that replica 1 elects alone when it renews on the renewal thread (slot reuse). */
export const SIDE = 'side';

export interface SimConfig {
  replicas: number;
  leaseDurationSeconds: number;
  retryIntervalMs: number;
  retryJitter: number;
  presence: boolean;
  presenceIntervalMs: number;
  /** Per replica; undefined: no priorities. */
  priorities?: number[];
  failbackAfterMs?: number;
  /** Replica 1 renews on the (real) renewal thread and also elects the side lease. */
  delegated: boolean;
  /** Every replica runs a leader task (runWhileLeader) with this onError policy per replica. */
  tasks: boolean;
  onError: Array<'restart' | 'step-down'>;
  /** Bound of every drain (stop's beforeRelease, beforeHandover), as Nest's shutdownTimeoutMs. */
  shutdownTimeoutMs: number;
  /** Replicas started at time 0 (bit mask; at least one). */
  startMask: number;
  /**
   * The store reports no record versions (a custom store written before them): acquires are
   * unconditional, and (h) and (i) are not promised against stale observations (docs/GUARANTEES.md).
   */
  unversioned?: boolean;
  /** Fast failover's livenessMs (issue 21); undefined: off. */
  fastLivenessMs?: number;
  /**
   * Per replica, with fast failover: the same livenessMs, the mode off (a replica not yet rolled out,
   * or of an older version) or a livenessMs 2 s longer. A follower must judge by the holder's own.
   */
  fastVariants?: Array<'same' | 'off' | 'slower'>;
  /** Followers observe through listings, which may be served stale by up to one poll (issue 23). */
  listing?: boolean;
}

export type Op =
  | { t: 'wait' }
  | { t: 'start'; r: number }
  | { t: 'stop'; r: number }
  | { t: 'crash'; r: number }
  | { t: 'stepDown'; r: number | 'leader'; cooldownMs?: number }
  | { t: 'yieldTo'; to: number }
  /** Like an onLeadershipAcquired hook: the next replica to acquire the lease at once hands it to `to`. */
  | { t: 'yieldOnAcquire'; to: number }
  | { t: 'pause'; r: number; ms: number }
  | { t: 'block'; r: number; ms: number }
  | {
      t: 'fault';
      r?: number;
      kind: FaultKind;
      ops?: Operation[];
      lease?: string;
      ms: number;
      delayMs: number;
    }
  /** The next replica to lose the lease (loss or deadline) is then cut off from storage for `ms`. */
  | { t: 'partitionOnLoss'; ms: number }
  /** A replica cut off from storage (every request hangs until its abort) for a long while. */
  | { t: 'partition'; r: number; ms: number }
  | { t: 'loseRecord'; lease: string }
  | { t: 'deleteContainer'; ms: number }
  | { t: 'gatedRun'; durationMs: number; drainMs: number }
  | { t: 'taskFail' }
  /** For `ms`, every drain of replica r (stop, stepDown, hand-over) throws `afterMs` into it unless done. */
  | { t: 'drainThrows'; r: number; ms: number; afterMs: number }
  | { t: 'flapSide'; n: number }
  /**
   * Fast failover: the heartbeats of replica r (or of the leader) hang or fail while its renewals still
   * succeed, for one heartbeat interval + `permille` ‰ of the span up to its livenessMs + 2 s. With
   * `slowAnswerPermille`, the heartbeats of the interval before land at once but are answered that ‰
   * of an interval late (a belief counted from the answer would then outlive the record's silence).
   */
  | {
      t: 'heartbeatOutage';
      r: number | 'leader';
      kind: 'hang' | 'transient';
      permille: number;
      slowAnswerPermille?: number;
    };

export function describeOp(op: Op): string {
  const rep = (r: number | 'leader' | undefined): string =>
    r === undefined ? 'all' : r === 'leader' ? 'the leader' : `e${r + 1}`;
  switch (op.t) {
    case 'wait':
      return 'wait';
    case 'start':
    case 'stop':
    case 'crash':
      return `${op.t} ${rep(op.r)}`;
    case 'stepDown':
      return `stepDown ${rep(op.r)}${op.cooldownMs !== undefined ? ` cooldown ${op.cooldownMs} ms` : ''}`;
    case 'yieldTo':
      return `leader yieldTo e${op.to + 1}`;
    case 'yieldOnAcquire':
      return `the next replica to acquire yields to e${op.to + 1} from its 'acquired' hook`;
    case 'pause':
      return `SIGSTOP ${rep(op.r)} for ${op.ms} ms`;
    case 'block':
      return `block main thread of ${rep(op.r)} for ${op.ms} ms`;
    case 'fault':
      return `fault ${op.kind}${op.kind === 'lands-late' || op.kind === 'latency' ? ` ${op.delayMs} ms` : ''} on ${rep(op.r)}${op.ops ? ` [${op.ops.join(',')}]` : ''}${op.lease ? ` lease ${op.lease}` : ''} for ${op.ms} ms`;
    case 'partition':
      return `partition ${rep(op.r)} from storage for ${op.ms} ms`;
    case 'partitionOnLoss':
      return `the next replica to lose the lease is then partitioned for ${op.ms} ms`;
    case 'loseRecord':
      return `delete the ${op.lease} lease blob`;
    case 'deleteContainer':
      return `delete the container (${op.ms} ms being deleted)`;
    case 'gatedRun':
      return `gated run on the leader for ${op.durationMs} ms (stops ${op.drainMs} ms after its signal)`;
    case 'taskFail':
      return `the leader's task throws`;
    case 'drainThrows':
      return `drains of ${rep(op.r)} throw ${op.afterMs} ms into them, for ${op.ms} ms`;
    case 'flapSide':
      return `side lease flaps ${op.n} tenures`;
    case 'heartbeatOutage':
      return `heartbeats of ${rep(op.r)} ${op.slowAnswerPermille !== undefined ? `answered ${op.slowAnswerPermille} ‰ of an interval late for an interval, then ` : ''}${op.kind === 'hang' ? 'hang' : 'fail'} (renewals pass) for an interval + ${op.permille} ‰ of the span to livenessMs + 2 s`;
  }
}

/** Replica numbers as the world reads them (modulo the number of replicas). */
export function normalizeOp(op: Op, replicas: number): Op {
  const fix = (r: number): number => r % replicas;
  if ('r' in op && typeof op.r === 'number') return { ...op, r: fix(op.r) } as Op;
  if ('to' in op) return { ...op, to: fix(op.to) } as Op;
  return op;
}

export class SimViolation extends Error {
  constructor(
    readonly invariant: string,
    message: string,
  ) {
    super(`[${invariant}] ${message}`);
    this.name = 'SimViolation';
  }
}

interface Tenure {
  inst: Instance;
  lease: string;
  term: number;
  life: number;
  begin: number;
  /** Highest term its replica had been told of before this acquisition (0: it cannot notice a lost record). */
  toldBefore: number;
  end?: number;
  reason?: string;
}

interface Work {
  id: number;
  inst: Instance;
  lease: string;
  kind: 'task' | 'gated';
  term: number;
  tenureBegin: number;
  tenure?: Tenure;
  signal: AbortSignal;
  drainMs: number;
  startedAt: number;
  ended: boolean;
  fail?: (error: Error) => void;
  /** The tenure's public view, sampled for its belief deadline while it leads. */
  leadership: Leadership;
  /** Latest belief deadline seen (now + remainingMs(), sampled after every step while the tenure led). */
  beliefUntil: number;
}

interface Instance {
  r: number;
  gen: number;
  label: string;
  identity: string;
  proc: Proc;
  electorOwner: Owner;
  sideOwner: Owner;
  app: Owner;
  conn: Connection;
  elector: LeaderElector;
  side?: LeaderElector;
  thread?: SimRenewalThread;
  task?: LeaderTaskHandle;
  state: 'created' | 'running' | 'stopping' | 'stopped' | 'crashed';
  stopCalledAt?: number;
  stopped: number;
  cooldownUntil: number;
  /** Until when a pause or block of this process excuses a lost tenure (storage faults: World.faultExcuseUntil). */
  excuseUntil: number;
  lastHaltEnd: number;
  lastAcquireDefinite: Map<string, boolean>;
  maxTermTold: Map<string, number>;
  /** Record lives (lease:life) this replica was shown with a term, by an observation or its own acquisition. */
  livesSeen: Set<string>;
  /** Term of the last observation, and when an observation last showed a lower term (a loss noticed). */
  lastObservedTerm: Map<string, number>;
  dropNoticedAt: Map<string, number>;
  tenures: Map<string, Tenure>;
  drainWaiters: Set<() => void>;
  /** A drain started before this throws (rejects) drainThrowsAfterMs into it, unless it ended first. */
  drainThrowsUntil: number;
  drainThrowsAfterMs: number;
}

interface Expectation {
  what: string;
  identity: string;
  lease: string;
  since: number;
  by: number;
}

/** Small deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A cluster of electors on one virtual clock over the Azure model, the operations a schedule applies
 * to it, and the invariants checked after every timer (see docs/GUARANTEES.md, "Simulation tester").
 */
export class World implements Network {
  readonly sched = new Scheduler();
  readonly model = new AzureModel(() => this.sched.now);
  readonly net = new Owner('network');
  private readonly worldOwner = new Owner('world');
  /** Network latency. Separate streams for drains and each elector's jitter, so that a core that
   * draws a different number of random values does not reshuffle the rest of a pinned schedule. */
  private readonly rng: () => number;
  private readonly drainRng: () => number;
  private readonly listingRng: () => number;
  private readonly seed: number;
  private readonly instances: Instance[] = [];
  private readonly all: Instance[] = [];
  private readonly faults: Fault[] = [];
  /** Until when storage faults excuse a lost tenure, per replica number: faults hit a replica by its
   * number (faultFor), so they also excuse a process started after they were injected. */
  private readonly faultExcuseUntil: number[] = [];
  private readonly tenures: Tenure[] = [];
  private readonly works = new Set<Work>();
  private workSeq = 0;
  private readonly lossAt = new Map<string, number>();
  /** The record life each lease id's latest acquisition landed on (lease:leaseId → life). */
  private readonly acquiredLife = new Map<string, number>();
  private expectations: Expectation[] = [];
  /** An armed onLeadershipAcquired hook (yieldOnAcquire). */
  private yieldHook?: number;
  /** An armed partition of the next replica that loses the lease (partitionOnLoss). */
  private partitionHook?: number;
  private violation?: SimViolation;
  private readonly traceLines: string[] = [];
  private lastLeaderAt = 0;
  private quietSince?: number;
  private RenewalThread?: Awaited<ReturnType<typeof loadRenewalThread>>;
  readonly D: number;
  readonly margin = 1000;
  readonly requestTimeoutMs: number;
  readonly renewIntervalMs: number;
  readonly preferenceWindowMs: number;
  readonly electionDelayMs: number;
  readonly maxLandsLateMs: number;

  constructor(
    readonly config: SimConfig,
    seed: number,
    private readonly tracing = false,
  ) {
    this.seed = seed;
    this.rng = prng(seed);
    this.drainRng = prng(seed ^ 0x5bd1e995);
    this.listingRng = prng(seed ^ 0x27d4eb2f);
    this.D = config.leaseDurationSeconds * 1000;
    this.renewIntervalMs = Math.floor(this.D / 3);
    this.requestTimeoutMs = Math.min(5000, this.renewIntervalMs);
    this.preferenceWindowMs = 2 * config.retryIntervalMs + this.requestTimeoutMs;
    this.electionDelayMs = (config.presence ? config.presenceIntervalMs : 0) + config.retryIntervalMs;
    this.maxLandsLateMs = 2 * this.requestTimeoutMs;
    this.model.onEffect = (effect) => {
      if (effect.type === 'acquired') this.acquiredLife.set(`${effect.lease}:${effect.leaseId}`, effect.life);
      if (effect.type === 'record-lost') {
        for (const lease of effect.lease ? [effect.lease] : [JOBS, SIDE])
          this.lossAt.set(lease, this.sched.now);
      }
    };
    this.sched.onStep = () => this.checkStep();
  }

  // ------------------------------------------------------------------ setup and network

  async init(): Promise<void> {
    if (this.config.delegated) this.RenewalThread = await loadRenewalThread();
    for (let r = 0; r < this.config.replicas; r++) this.instances.push(this.create(r, 1));
    for (let r = 0; r < this.config.replicas; r++)
      if (this.config.startMask & (1 << r)) this.start(this.instances[r]!);
    if (!this.instances.some((inst) => inst.state === 'running')) this.start(this.instances[0]!);
  }

  trace(line: string): void {
    if (this.tracing) this.traceLines.push(`${(this.sched.now / 1000).toFixed(3).padStart(9)}s  ${line}`);
  }

  get traceText(): string {
    return this.traceLines.join('\n');
  }

  staleListing(): number | undefined {
    return this.listingRng() < 0.5 ? this.config.retryIntervalMs : undefined;
  }

  latency(): number {
    return 1 + Math.floor(this.rng() * 20);
  }

  get unversioned(): boolean {
    return this.config.unversioned === true;
  }

  faultFor(replica: number, op: Operation, lease: string): Fault | undefined {
    const now = this.sched.now;
    for (const fault of this.faults) {
      if (now < fault.from || now >= fault.until) continue;
      if (fault.replica !== undefined && fault.replica !== replica) continue;
      if (fault.lease !== undefined && fault.lease !== lease) continue;
      if (fault.ops && !fault.ops.includes(op)) continue;
      if (fault.kind === 'partial' && op !== 'acquire') continue;
      return fault;
    }
    return undefined;
  }

  acquireSettled(replica: number, lease: string, definite: boolean): void {
    this.instances[replica]?.lastAcquireDefinite.set(lease, definite);
  }

  /** (h) A free lease released to a named successor is left to it for one preference window. */
  beforeAcquire(replica: number, request: AcquireRequest, sentAt: number): void {
    const record = this.model.leases.get(request.leaseName);
    if (!record || this.model.isHeld(record) || record.successor === undefined) return;
    if (record.releasedAt === undefined || request.identity === record.successor) return;
    if (sentAt <= record.releasedAt) return; // sent before the hand-over
    if (this.unversioned) return; // acquires on stale observations: not promised without versions
    if (!this.model.conditionHolds(request)) return; // refused by its If-Match: takes nothing
    const inst = this.instOf(replica, request.leaseId, request.leaseName);
    if (inst && inst.lastAcquireDefinite.get(request.leaseName) === false) return; // retrying an unknown outcome
    const windowEnd = record.releasedAt + this.preferenceWindowMs;
    if (this.sched.now < windowEnd) {
      this.fail(
        'h',
        `${request.identity} acquires "${request.leaseName}" at ${fmt(this.sched.now)}, ${this.sched.now - record.releasedAt} ms after it was released to successor ${record.successor} (window ${this.preferenceWindowMs} ms)`,
      );
    }
  }

  /** (c) No release while work of an ended tenure of the releasing replica still runs. */
  beforeRelease(replica: number, lease: string, leaseId: string): void {
    const inst = this.instOf(replica, leaseId, lease);
    if (!inst) return;
    const record = this.model.leases.get(lease);
    if (!record || record.leaseId !== leaseId) return; // a no-op release
    for (const work of this.works) {
      if (work.inst !== inst || work.lease !== lease || work.ended || !work.signal.aborted) continue;
      this.fail(
        'c',
        `${inst.label} releases "${lease}" while its ${work.kind} run of term ${work.term} (ended ${describeReason(work.signal)}) still runs`,
      );
    }
  }

  private instOf(replica: number, leaseId: string, lease: string): Instance | undefined {
    return this.all.find((inst) => inst.r === replica && inst.conn.leaseIds.get(lease) === leaseId);
  }

  // ------------------------------------------------------------------ instances

  private create(r: number, gen: number): Instance {
    const cfg = this.config;
    const identity = `e${r + 1}`;
    const label = gen === 1 ? identity : `${identity}#${gen}`;
    const proc = new Proc(label);
    const electorOwner = new Owner(`${label}/elector`, proc);
    const sideOwner = new Owner(`${label}/side`, proc);
    const app = new Owner(`${label}/app`, proc);
    const conn = new Connection(this, r, app, label);
    if (cfg.listing) conn.listingFromLeases = 1;
    const logger = this.loggerFor(label);
    let thread: SimRenewalThread | undefined;
    if (cfg.delegated && r === 0 && this.RenewalThread) {
      const worker = new Owner(`${label}/renewal-thread`, proc, 'worker');
      thread = createRenewalThread(
        this.RenewalThread,
        {
          sched: this.sched,
          main: app,
          worker,
          connection: new Connection(this, r, worker, `${label}/thread`),
          skewMs: 12_345.678,
        },
        { maxBlockedMs: 20_000, heartbeatMs: 1000 },
      );
    }
    const options = {
      identity,
      leaseDurationSeconds: cfg.leaseDurationSeconds,
      retryIntervalMs: cfg.retryIntervalMs,
      retryJitter: cfg.retryJitter,
      presence: cfg.presence ? { intervalMs: cfg.presenceIntervalMs } : (false as const),
      ...(cfg.priorities ? { priority: cfg.priorities[r] ?? 0 } : {}),
      ...(cfg.failbackAfterMs !== undefined ? { failback: { afterStableMs: cfg.failbackAfterMs } } : {}),
      ...fastFailoverOf(cfg, r),
    };
    const inst = {} as Instance;
    const jitter = prng(this.seed ^ Math.imul(r + 1, 0x9e3779b1) ^ gen);
    const elector = new LeaderElector(
      conn,
      { leaseName: JOBS, ...options },
      {
        clock: this.sched.clockFor(electorOwner),
        random: jitter,
        logger,
        beforeHandover: () => this.drain(inst, JOBS),
        ...(thread ? { renewalDelegate: thread.delegate } : {}),
      },
    );
    const side =
      thread &&
      new LeaderElector(
        conn,
        { leaseName: SIDE, identity, retryIntervalMs: cfg.retryIntervalMs, retryJitter: 0, presence: false },
        {
          clock: this.sched.clockFor(sideOwner),
          random: jitter,
          logger,
          renewalDelegate: thread.delegate,
        },
      );
    Object.assign(inst, {
      r,
      gen,
      label,
      identity,
      proc,
      electorOwner,
      sideOwner,
      app,
      conn,
      elector,
      side,
      thread,
      state: 'created',
      stopped: 0,
      cooldownUntil: -Infinity,
      excuseUntil: -Infinity,
      lastHaltEnd: -Infinity,
      lastAcquireDefinite: new Map(),
      maxTermTold: new Map(),
      livesSeen: new Set(),
      lastObservedTerm: new Map(),
      dropNoticedAt: new Map(),
      tenures: new Map(),
      drainWaiters: new Set(),
      drainThrowsUntil: -Infinity,
      drainThrowsAfterMs: 0,
    } satisfies Omit<Instance, 'task'>);
    elector.events$.subscribe((event) => this.onEvent(inst, event));
    side?.events$.subscribe((event) => this.onEvent(inst, event));
    this.all.push(inst);
    return inst;
  }

  private loggerFor(label: string): ElectionLogger {
    return {
      debug: () => undefined,
      log: (m) => this.trace(`${label} log: ${m}`),
      warn: (m) => this.trace(`${label} WARN: ${m}`),
      error: (m) => this.trace(`${label} ERROR: ${m}`),
    };
  }

  private start(inst: Instance): void {
    inst.state = 'running';
    this.trace(`${inst.label} start`);
    if (this.config.tasks) {
      inst.task = runWhileLeader(inst.elector, (leadership) => this.taskRun(inst, leadership), {
        name: 'task',
        onError: this.config.onError[inst.r] ?? 'restart',
        restartDelayMs: 1000,
        maxRestartDelayMs: 8000,
        clock: this.sched.clockFor(inst.app),
        logger: this.loggerFor(`${inst.label} task`),
      });
    }
    void inst.elector.start();
    void inst.side?.start();
    if (inst.thread) this.heartbeat(inst);
  }

  private heartbeat(inst: Instance): void {
    if (inst.state !== 'running' && inst.state !== 'stopping') return;
    inst.thread!.beat();
    this.sched.setTimeout(inst.app, () => this.heartbeat(inst), 1000);
  }

  private liveInstance(r: number): Instance | undefined {
    const inst = this.instances[r % this.instances.length];
    return inst && inst.state === 'running' && !inst.proc.paused && !inst.proc.blocked ? inst : undefined;
  }

  private currentLeader(lease = JOBS): Instance | undefined {
    for (const inst of this.instances) {
      if (inst.state !== 'running' || inst.proc.paused || inst.proc.blocked) continue;
      const elector = lease === JOBS ? inst.elector : inst.side;
      if (elector?.isLeader()) return inst;
    }
    return undefined;
  }

  // ------------------------------------------------------------------ leader work

  private drawDrain(): number {
    const x = this.drainRng();
    if (x < 0.65) return Math.floor(this.drainRng() * (this.margin - 100)); // stops within the margin
    if (x < 0.95) return this.margin + Math.floor(this.drainRng() * 7000); // slow, within the drain bound
    return this.config.shutdownTimeoutMs + 1000 + Math.floor(this.drainRng() * 8000); // ignores it past the bound
  }

  private taskRun(inst: Instance, leadership: Leadership): Promise<void> {
    const work = this.beginWork(inst, 'task', leadership, this.drawDrain());
    return new Promise<void>((resolve, reject) => {
      work.fail = reject;
      const onAbort = (): void => void this.sched.setTimeout(inst.app, resolve, work.drainMs);
      if (leadership.signal.aborted) onAbort();
      else leadership.signal.addEventListener('abort', onAbort, { once: true });
    }).finally(() => this.endWork(work));
  }

  private gatedRun(inst: Instance, durationMs: number, drainMs: number): void {
    const leadership = inst.elector.leadership;
    if (!leadership) return;
    const work = this.beginWork(inst, 'gated', leadership, drainMs);
    let timer: number | undefined;
    const done = (): void => {
      if (timer !== undefined) this.sched.clearTimeout(timer);
      leadership.signal.removeEventListener('abort', onAbort);
      this.endWork(work);
    };
    const onAbort = (): void => {
      if (timer !== undefined) this.sched.clearTimeout(timer);
      timer = this.sched.setTimeout(inst.app, done, drainMs);
    };
    timer = this.sched.setTimeout(inst.app, done, durationMs);
    leadership.signal.addEventListener('abort', onAbort, { once: true });
  }

  /** (d) No two runs of leader work overlap across the cluster. */
  private beginWork(inst: Instance, kind: Work['kind'], leadership: Leadership, drainMs: number): Work {
    const tenure = inst.tenures.get(leadership.leaseName);
    const work: Work = {
      id: ++this.workSeq,
      inst,
      lease: leadership.leaseName,
      kind,
      term: leadership.term,
      tenureBegin: tenure?.begin ?? this.sched.now,
      ...(tenure ? { tenure } : {}),
      signal: leadership.signal,
      drainMs,
      startedAt: this.sched.now,
      ended: false,
      leadership,
      beliefUntil: this.sched.now + leadership.remainingMs(),
    };
    this.trace(`${inst.label} ${kind} run starts (term ${work.term}, stops ${drainMs} ms after its signal)`);
    for (const other of this.works) {
      if (other.ended || other.inst.r === inst.r || other.lease !== work.lease) continue;
      if (this.overlapExcused(other)) continue;
      if (other.tenure && work.tenure && this.residualOverlap(other.tenure, work.tenure)) continue;
      this.fail(
        'd',
        `${inst.label} starts a ${kind} run (term ${work.term}) while ${other.inst.label}'s ${other.kind} run of term ${other.term} still runs (its tenure ${other.signal.aborted ? `ended ${describeReason(other.signal)}` : 'has not ended'})`,
      );
    }
    this.works.add(work);
    return work;
  }

  /** Overlaps the guarantees do not cover: see docs/GUARANTEES.md ("what it does not cover"). */
  private overlapExcused(work: Work): boolean {
    const inst = work.inst;
    if (inst.proc.paused || inst.proc.blocked || inst.lastHaltEnd >= work.tenureBegin) return true; // SIGSTOP: fencing territory
    // A lost record frees the lease without its holder's release (then (a) still judges the two leaders).
    if ((this.lossAt.get(work.lease) ?? -Infinity) >= work.tenureBegin) return true;
    if (work.drainMs > this.config.shutdownTimeoutMs) return true; // ignored its signal past the drain bound
    if (work.drainMs < this.margin) return false;
    // Fast failover: an ended tenure's lease is protected only until its belief deadline (the last
    // heartbeat's send + livenessMs − margin), not for D (docs/fast-failover.md, "Limits"): a run
    // still going past that deadline is the documented limit; one overtaken before it is a violation.
    if (this.config.fastLivenessMs !== undefined) return this.sched.now >= work.beliefUntil;
    const reason = (work.signal.reason as { kind?: string } | undefined)?.kind;
    const involuntary = reason === 'deadline' || reason === 'lost';
    // Ignored its signal longer than the margin while the lease could expire without a release
    // (lost, deadline, or storage faults / pauses around it): the documented "does not cover".
    return involuntary || this.excused(inst, work.lease);
  }

  /** Follows each running work's belief deadline (heartbeats and renewals move it while it leads). */
  private sampleBeliefs(): void {
    const now = this.sched.now;
    for (const work of this.works) {
      const proc = work.inst.proc;
      if (work.ended || work.signal.aborted || proc.paused || proc.blocked || proc.dead) continue;
      work.beliefUntil = Math.max(work.beliefUntil, now + work.leadership.remainingMs());
    }
  }

  private endWork(work: Work): void {
    if (work.ended) return;
    work.ended = true;
    this.works.delete(work);
    this.trace(`${work.inst.label} ${work.kind} run of term ${work.term} ends`);
    for (const wake of [...work.inst.drainWaiters]) wake();
  }

  /**
   * What Nest's drainWork does: wait (bounded) until no run of this replica's lease is in progress.
   * While a drainThrows op is armed it rejects instead (a hook or a task's stop that throws), unless
   * it ended first: the core must then treat the work as still running.
   */
  private drain(inst: Instance, lease: string): Promise<boolean> {
    const drained = this.drainWork(inst, lease);
    if (this.sched.now >= inst.drainThrowsUntil) return drained;
    const afterMs = inst.drainThrowsAfterMs;
    if (afterMs === 0) {
      this.trace(`${inst.label} drain throws at once`);
      return Promise.reject(new Error('injected drain failure'));
    }
    return new Promise<boolean>((resolve, reject) => {
      const timer = this.sched.setTimeout(
        inst.app,
        () => {
          this.trace(`${inst.label} drain throws (${afterMs} ms into it)`);
          reject(new Error('injected drain failure'));
        },
        afterMs,
      );
      void drained.then((result) => {
        this.sched.clearTimeout(timer);
        resolve(result);
      });
    });
  }

  private drainWork(inst: Instance, lease: string): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const idle = (): boolean =>
        ![...this.works].some((w) => w.inst === inst && w.lease === lease && !w.ended);
      if (idle()) return resolve(true);
      const timer = this.sched.setTimeout(
        inst.app,
        () => {
          inst.drainWaiters.delete(check);
          this.trace(`${inst.label} drain: work still running after ${this.config.shutdownTimeoutMs} ms`);
          resolve(false);
        },
        this.config.shutdownTimeoutMs,
      );
      const check = (): void => {
        if (!idle()) return;
        inst.drainWaiters.delete(check);
        this.sched.clearTimeout(timer);
        resolve(true);
      };
      inst.drainWaiters.add(check);
    });
  }

  // ------------------------------------------------------------------ events and invariants

  private onEvent(inst: Instance, event: LeadershipEvent): void {
    const now = this.sched.now;
    if (event.type === 'acquired') {
      this.trace(`${inst.label} ★ leads "${event.leaseName}" with term ${event.term}`);
      if (inst.stopCalledAt !== undefined)
        this.fail('e', `${inst.label} became leader of "${event.leaseName}" after stop() was called`);
      const record = this.model.leases.get(event.leaseName);
      const leaseId = inst.conn.leaseIds.get(event.leaseName);
      const tenure: Tenure = {
        inst,
        lease: event.leaseName,
        term: event.term,
        // The record its acquisition landed on (it may have been deleted and recreated since).
        life: this.acquiredLife.get(`${event.leaseName}:${leaseId}`) ?? -1,
        begin: now,
        toldBefore: inst.maxTermTold.get(event.leaseName) ?? 0,
      };
      // A late-landing retry of our own acquire (same lease id) may have written a higher term since;
      // a record deleted since the acquisition landed leaves only (a) to check.
      if (record?.life === tenure.life && (record.leaseId !== leaseId || record.term < event.term)) {
        this.fail(
          'g',
          `${inst.label} leads "${event.leaseName}" with term ${event.term} but the store records term ${record.term}, lease ${record.leaseId === leaseId ? 'ours' : record.leaseId ? 'of another' : 'free'}`,
        );
      }
      // (b) no two tenures share a term, unless the later acquirer was never told of it (a lost record).
      for (const other of this.tenures) {
        if (other.lease !== event.leaseName || other.term !== event.term) continue;
        const told = inst.maxTermTold.get(event.leaseName) ?? 0;
        if (told >= event.term || other.inst === inst)
          this.fail(
            'b',
            `${inst.label} leads "${event.leaseName}" with term ${event.term}, the term of ${other.inst.label}'s tenure at ${fmt(other.begin)} (it had been told of term ${told})`,
          );
      }
      this.tenures.push(tenure);
      inst.tenures.set(event.leaseName, tenure);
      this.told(inst.r, event.leaseName, event.term);
      inst.lastObservedTerm.set(event.leaseName, event.term);
      inst.livesSeen.add(`${event.leaseName}:${tenure.life}`);
      for (const e of this.expectations)
        if (e.identity === inst.identity && e.lease === event.leaseName) e.by = -1; // met
      this.expectations = this.expectations.filter((e) => e.by !== -1);
      const to = this.yieldHook;
      if (to !== undefined && event.leaseName === JOBS && to % this.instances.length !== inst.r) {
        this.yieldHook = undefined;
        this.handOver(inst, this.instances[to % this.instances.length]!);
      }
    } else if (event.type === 'lost') {
      this.trace(
        `${inst.label} ☆ no longer leads "${event.leaseName}" (term ${event.term}, ${event.reason}: ${event.message})`,
      );
      const tenure = inst.tenures.get(event.leaseName);
      if (tenure) {
        tenure.end = now;
        tenure.reason = event.reason;
      }
      const ms = this.partitionHook;
      if (
        ms !== undefined &&
        event.leaseName === JOBS &&
        (event.reason === 'lost' || event.reason === 'deadline')
      ) {
        this.partitionHook = undefined;
        void this.apply({ t: 'partition', r: inst.r, ms });
      }
      // (f2) Under healthy storage a tenure ends only when asked to.
      if ((event.reason === 'deadline' || event.reason === 'lost') && !this.excused(inst, event.leaseName)) {
        this.fail(
          'f',
          `${inst.label} lost "${event.leaseName}" (term ${event.term}: ${event.reason}, ${event.message}) with healthy storage and no pause for the last ${this.D + this.requestTimeoutMs} ms`,
        );
      }
    }
  }

  /**
   * The residual risk of a lost record (docs/GUARANTEES.md): its holder believes until its next
   * renewal, and a replica that never saw that record (it had seen no term at all, or it was paused or
   * partitioned for the record's whole life) cannot notice that it was lost. Not excused: a replica
   * that noticed a loss (a lower term than its last observation) and led within D of noticing it.
   */
  private residualOverlap(p: Tenure, q: Tenure): boolean {
    const life = this.model.leases.get(p.lease)?.life;
    const lost = (t: Tenure): boolean => t.life !== life;
    const blind = (stale: Tenure, fresh: Tenure): boolean => {
      if (!lost(stale) || fresh.life <= stale.life) return false;
      if (fresh.toldBefore === 0) return true;
      if (fresh.inst.livesSeen.has(`${stale.lease}:${stale.life}`)) return false;
      const noticed = fresh.inst.dropNoticedAt.get(fresh.lease);
      return noticed === undefined || fresh.begin >= noticed + this.D;
    };
    return blind(p, q) || blind(q, p);
  }

  /** Storage faults until `until` excuse lost tenures of `replica` (undefined: every replica). */
  private excuseFaults(replica: number | undefined, until: number): void {
    for (let r = 0; r < this.config.replicas; r++)
      if (replica === undefined || r === replica)
        this.faultExcuseUntil[r] = Math.max(this.faultExcuseUntil[r] ?? -Infinity, until);
  }

  private excused(inst: Instance, lease: string): boolean {
    const window = this.D + 2 * this.requestTimeoutMs + this.maxLandsLateMs;
    const now = this.sched.now;
    if (Math.max(inst.excuseUntil, this.faultExcuseUntil[inst.r] ?? -Infinity) >= now - window) return true;
    if ((this.lossAt.get(lease) ?? -Infinity) >= now - window) return true;
    return false;
  }

  told(replica: number, lease: string, term: number, observedLife?: number): void {
    const inst = this.instances[replica];
    if (!inst) return;
    inst.maxTermTold.set(lease, Math.max(inst.maxTermTold.get(lease) ?? 0, term));
    if (observedLife === undefined) return;
    if (term < (inst.lastObservedTerm.get(lease) ?? 0)) inst.dropNoticedAt.set(lease, this.sched.now);
    inst.lastObservedTerm.set(lease, term);
    if (term > 0) inst.livesSeen.add(`${lease}:${observedLife}`);
  }

  private fail(invariant: string, message: string): void {
    this.trace(`!!! VIOLATION (${invariant}): ${message}`);
    this.violation ??= new SimViolation(invariant, `${message} (at ${fmt(this.sched.now)})`);
  }

  throwIfViolated(): void {
    if (this.violation) throw this.violation;
  }

  /** After every timer: (a) one leader at a time, (g) a leader's belief is backed by the store, (e) stopped electors. */
  private checkStep(): void {
    const now = this.sched.now;
    this.sampleBeliefs();
    for (const lease of [JOBS, SIDE]) {
      const leaders: Instance[] = [];
      for (const inst of this.all) {
        if (inst.state === 'created' || inst.state === 'crashed' || inst.proc.paused || inst.proc.blocked)
          continue;
        const elector = lease === JOBS ? inst.elector : inst.side;
        if (!elector?.isLeader()) continue;
        leaders.push(inst);
        if (inst.stopped > 0) this.fail('e', `${inst.label} reports isLeader() after stop() resolved`);
        const tenure = inst.tenures.get(lease);
        const record = this.model.leases.get(lease);
        if (!tenure || !record || record.life !== tenure.life) continue; // its record was lost: only (a) applies
        const leaseId = inst.conn.leaseIds.get(lease);
        if (record.leaseId !== leaseId || now >= record.expiresAt || record.term < tenure.term) {
          this.fail(
            'g',
            `${inst.label} believes it leads "${lease}" (term ${tenure.term}) but the store's lease is ${record.leaseId === undefined ? 'free' : record.leaseId !== leaseId ? 'held by another replica' : now >= record.expiresAt ? `expired ${now - record.expiresAt} ms ago` : `at term ${record.term}`}`,
          );
        }
      }
      for (let i = 0; i < leaders.length; i++)
        for (let j = i + 1; j < leaders.length; j++) {
          const [p, q] = [leaders[i]!.tenures.get(lease), leaders[j]!.tenures.get(lease)];
          if (p && q && this.residualOverlap(p, q)) continue;
          this.fail(
            'a',
            `${leaders[i]!.label} and ${leaders[j]!.label} both report isLeader() for "${lease}"`,
          );
        }
      // Liveness counts a leader that is not on its way out: a stopping replica's tenure is ending.
      if (lease === JOBS && leaders.some((inst) => inst.state === 'running')) this.lastLeaderAt = now;
    }
    for (const inst of this.all) {
      if (
        inst.stopped > 0 &&
        inst.stopped < now &&
        inst.electorOwner.timers.size + inst.sideOwner.timers.size > 0
      )
        this.fail(
          'e',
          `${inst.label} left ${inst.electorOwner.timers.size + inst.sideOwner.timers.size} timer(s) after stop() resolved`,
        );
    }
    for (const e of this.expectations) {
      if (now > e.by)
        this.fail('i', `${e.what}: ${e.identity} did not lead "${e.lease}" within ${e.by - e.since} ms`);
    }
    if (this.expectations.some((e) => now > e.by)) this.expectations = [];
  }

  // ------------------------------------------------------------------ operations

  async apply(op: Op): Promise<void> {
    this.trace(`» ${describeOp(normalizeOp(op, this.instances.length))}`);
    const now = this.sched.now;
    if (op.t !== 'wait' && op.t !== 'gatedRun' && op.t !== 'yieldOnAcquire') this.expectations = []; // a disturbance cancels expectations
    switch (op.t) {
      case 'wait':
        return;
      case 'start': {
        let inst = this.instances[op.r % this.instances.length]!;
        if (inst.state === 'created') return this.start(inst);
        if (inst.state !== 'crashed' && !(inst.state === 'stopped')) return;
        inst = this.create(inst.r, inst.gen + 1);
        this.instances[inst.r] = inst;
        return this.start(inst);
      }
      case 'stop': {
        const inst = this.liveInstance(op.r);
        if (!inst) return;
        inst.state = 'stopping';
        inst.stopCalledAt = now;
        const stops = [
          inst.elector.stop({ beforeRelease: () => this.drain(inst, JOBS) }),
          ...(inst.side ? [inst.side.stop()] : []),
        ];
        void Promise.all(stops).then(() => {
          inst.task?.dispose();
          inst.state = 'stopped';
          inst.stopped = this.sched.now;
          this.trace(`${inst.label} stopped`);
          void inst.thread?.delegate.close?.();
        });
        return;
      }
      case 'crash': {
        const inst = this.instances[op.r % this.instances.length]!;
        if (inst.state !== 'running' && inst.state !== 'stopping') return;
        inst.state = 'crashed';
        inst.proc.dead = true;
        for (const work of [...this.works]) if (work.inst === inst) this.endWork(work);
        return;
      }
      case 'stepDown': {
        const inst = op.r === 'leader' ? this.currentLeader() : this.liveInstance(op.r);
        if (!inst) return;
        inst.cooldownUntil = Math.max(inst.cooldownUntil, now + (op.cooldownMs ?? this.D));
        void inst.elector
          .stepDown(op.cooldownMs !== undefined ? { cooldownMs: op.cooldownMs } : {})
          .catch((e: unknown) => this.trace(`${inst.label} stepDown rejected: ${errorText(e)}`));
        return;
      }
      case 'yieldTo': {
        const from = this.currentLeader();
        const target = this.instances[op.to % this.instances.length]!;
        if (from && target !== from) this.handOver(from, target);
        return;
      }
      case 'yieldOnAcquire':
        this.yieldHook = op.to;
        return;
      case 'pause':
      case 'block': {
        const inst = this.instances[op.r % this.instances.length]!;
        if (inst.state !== 'running' && inst.state !== 'stopping') return;
        if (inst.proc.paused || inst.proc.blocked) return;
        const flag = op.t === 'pause' ? 'paused' : 'blocked';
        inst.proc[flag] = true;
        const until = now + op.ms;
        // A blocked main thread is what the renewal thread is for: no excuse while within maxBlockedMs.
        if (op.t === 'pause' || !inst.thread) inst.excuseUntil = Math.max(inst.excuseUntil, until);
        inst.lastHaltEnd = Math.max(inst.lastHaltEnd, until);
        this.sched.setTimeout(
          this.worldOwner,
          () => {
            inst.proc[flag] = false;
            this.trace(`${inst.label} resumes`);
          },
          op.ms,
        );
        return;
      }
      case 'fault': {
        const replica = op.r === undefined ? undefined : op.r % this.instances.length;
        const fault: Fault = {
          kind: op.kind,
          ...(replica !== undefined ? { replica } : {}),
          ...(op.lease ? { lease: op.lease } : {}),
          ...(op.ops ? { ops: op.ops } : {}),
          from: now,
          until: now + op.ms,
          delayMs: op.delayMs,
        };
        this.faults.push(fault);
        this.excuseFaults(replica, fault.until + (op.kind === 'lands-late' ? op.delayMs : 0));
        return;
      }
      case 'partition':
        return this.apply({ t: 'fault', r: op.r, kind: 'hang', ms: op.ms, delayMs: 0 });
      case 'heartbeatOutage': {
        const inst = op.r === 'leader' ? this.currentLeader() : this.liveInstance(op.r);
        const fast = inst && fastFailoverOf(this.config, inst.r).fastFailover;
        if (!inst || !fast) return;
        const intervalMs = Math.floor((fast.livenessMs - this.margin) / 3); // the core's default
        const ms = intervalMs + Math.round((op.permille / 1000) * (fast.livenessMs + 2000 - intervalMs));
        const slowMs =
          op.slowAnswerPermille === undefined ? 0 : Math.round((op.slowAnswerPermille / 1000) * intervalMs);
        const from = now + (op.slowAnswerPermille === undefined ? 0 : intervalMs);
        const heartbeat = { replica: inst.r, ops: ['heartbeat'] as Operation[] };
        if (op.slowAnswerPermille !== undefined)
          this.faults.push({ kind: 'slow-answer', ...heartbeat, from: now, until: from, delayMs: slowMs });
        this.faults.push({ kind: op.kind, ...heartbeat, from, until: from + ms, delayMs: 0 });
        this.excuseFaults(inst.r, from + ms);
        this.trace(
          `${inst.label}'s heartbeats ${slowMs ? `answered ${slowMs} ms late until ${fmt(from)}, then ` : ''}${op.kind === 'hang' ? 'hang' : 'fail'} for ${ms} ms`,
        );
        return;
      }
      case 'partitionOnLoss':
        this.partitionHook = op.ms;
        return;
      case 'loseRecord':
        this.model.deleteRecord(op.lease);
        return;
      case 'deleteContainer':
        this.model.deleteContainer(op.ms);
        this.excuseFaults(undefined, now + op.ms);
        return;
      case 'gatedRun': {
        const inst = this.currentLeader();
        if (inst) this.gatedRun(inst, op.durationMs, op.drainMs);
        return;
      }
      case 'drainThrows': {
        const inst = this.instances[op.r % this.instances.length]!;
        inst.drainThrowsUntil = now + op.ms;
        inst.drainThrowsAfterMs = op.afterMs;
        return;
      }
      case 'taskFail': {
        const inst = this.currentLeader();
        const work = [...this.works].find((w) => w.inst === inst && w.kind === 'task' && !w.signal.aborted);
        work?.fail?.(new Error('injected task failure'));
        return;
      }
      case 'flapSide': {
        const inst = this.instances[0]!;
        if (!inst.side || inst.state !== 'running' || inst.proc.paused || inst.proc.blocked) return;
        for (let i = 0; i < op.n; i++) {
          // A cooldown longer than the release's round trip: with 0 the loop may re-acquire while the
          // release is in flight (a separate finding, see findings.md); this op is about slot reuse.
          if (inst.side.isLeader()) void inst.side.stepDown({ cooldownMs: 300 }).catch(() => undefined);
          for (let k = 0; k < 10 && !inst.side.isLeader(); k++) await this.advance(200);
          if (this.violation || inst.state !== 'running') return;
        }
        return;
      }
    }
  }

  /** yieldTo from `from` to `target`; expects `target` to lead within the hand-over bound when nothing disturbs it. */
  private handOver(from: Instance, target: Instance): void {
    const now = this.sched.now;
    const healthy = this.faults.every((f) => f.until <= now);
    const poll = this.config.retryIntervalMs * (1 + this.config.retryJitter);
    // A replica that noticed a lost record waits D before leading, successor or not.
    const noRecentLoss =
      (this.lossAt.get(JOBS) ?? -Infinity) < now - this.D - 2 * this.requestTimeoutMs - poll;
    const expect =
      healthy &&
      noRecentLoss &&
      !this.unversioned &&
      target.state === 'running' &&
      !target.proc.paused &&
      !target.proc.blocked &&
      target.cooldownUntil < now &&
      from.drainThrowsUntil <= now; // a drain that throws leaves the lease to expire: no hand-over
    void from.elector.yieldTo(target.identity).then(
      () => this.trace(`${from.label} yieldTo(${target.identity}) done`),
      (e: unknown) => {
        this.trace(`${from.label} yieldTo(${target.identity}) rejected: ${errorText(e)}`);
        this.expectations = this.expectations.filter((x) => x.since !== now);
      },
    );
    if (!expect) return;
    this.expectations.push({
      what: `${from.label} handed over with yieldTo(${target.identity}) at ${fmt(now)}`,
      identity: target.identity,
      lease: JOBS,
      since: now,
      by: now + this.config.shutdownTimeoutMs + 2 * poll + 4 * this.requestTimeoutMs,
    });
  }

  async advance(ms: number): Promise<void> {
    await this.sched.advanceTo(this.sched.now + ms);
  }

  // ------------------------------------------------------------------ the quiet tail: liveness

  /**
   * (f) Liveness: heals every fault and pause, makes sure a candidate runs, and requires a leader
   * within the documented bound (see livenessBoundMs).
   */
  async finish(): Promise<void> {
    this.throwIfViolated();
    const now = this.sched.now;
    this.trace(`» quiet: faults healed, pauses end`);
    for (const fault of this.faults) fault.until = Math.min(fault.until, now);
    for (const inst of this.all) {
      inst.proc.paused = false;
      inst.proc.blocked = false;
    }
    this.quietSince = this.sched.now;
    const bound = this.livenessBoundMs();
    const leaderAtStart = this.lastLeaderAt;
    for (let waited = 0; waited < bound;) {
      // A replica still stopping cannot be started until its stop() resolves (its drain is within the bound).
      const candidate = await this.startCandidate();
      const step = candidate ? 1000 : 100;
      await this.advance(step);
      waited += step;
      this.throwIfViolated();
      if (this.lastLeaderAt > leaderAtStart || this.currentLeader()) return;
    }
    throw new SimViolation(
      'f',
      `no leader within ${bound} ms of storage becoming healthy (quiet since ${fmt(this.quietSince)})`,
    );
  }

  /** Makes sure a candidate runs: starts a replica if none runs and one is not stopping. */
  private async startCandidate(): Promise<boolean> {
    if (this.instances.some((i) => i.state === 'running')) return true;
    const inst = this.instances.find((i) => i.state !== 'stopping');
    if (!inst) return false;
    await this.apply({ t: 'start', r: inst.r });
    return true;
  }

  /**
   * The documented bound: a lease left behind expires (D, plus requests still landing late), a
   * record loss is waited out (D), stepDown cooldowns run out, a newly started candidate with a
   * priority waits its election delay, worse tiers wait a preference window per better tier, the
   * drain of a hand-over or stop takes up to shutdownTimeoutMs, and three polls (observe + acquire).
   */
  livenessBoundMs(): number {
    const now = this.sched.now;
    const poll = this.config.retryIntervalMs * (1 + this.config.retryJitter);
    const cooldown = Math.max(0, ...this.instances.map((i) => i.cooldownUntil - now));
    const tiers = this.config.priorities ? new Set(this.config.priorities).size : 0;
    return (
      this.config.shutdownTimeoutMs +
      2 * this.D +
      this.maxLandsLateMs +
      cooldown +
      (this.config.priorities ? this.electionDelayMs : 0) +
      tiers * this.preferenceWindowMs +
      3 * (poll + 2 * this.requestTimeoutMs)
    );
  }

  /** For the checker's own test (checker.spec.ts): a stopped elector that left a timer behind. */
  leaveTimerOnStoppedElector(r: number): void {
    const inst = this.instances[r]!;
    this.sched.setTimeout(inst.electorOwner, () => undefined, 60_000);
  }

  /** For the checker's own test: the current elector of replica r, behind the world's back. */
  electorOf(r: number): LeaderElector {
    return this.instances[r]!.elector;
  }

  stats(): { virtualMs: number; timers: number } {
    return { virtualMs: this.sched.now, timers: this.sched.fired };
  }
}

function describeReason(signal: AbortSignal): string {
  const reason = signal.reason as { kind?: string } | undefined;
  return reason?.kind ? `by ${reason.kind}` : '';
}

function fmt(ms: number): string {
  return `${(ms / 1000).toFixed(3)}s`;
}

/** Replica r's fastFailover option in a world that runs the mode (see SimConfig.fastVariants). */
function fastFailoverOf(cfg: SimConfig, r: number): { fastFailover?: { livenessMs: number } } {
  if (cfg.fastLivenessMs === undefined) return {};
  const variant = cfg.fastVariants?.[r] ?? 'same';
  if (variant === 'off') return {};
  return { fastFailover: { livenessMs: cfg.fastLivenessMs + (variant === 'slower' ? 2000 : 0) } };
}
