import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { Observable, Subject } from 'rxjs';
import { validateLeaseName } from '../core/election-options.js';
import { UnknownLeaseError } from '../core/errors.js';
import { LeaderElector } from '../core/leader-elector.js';
import type { ElectionLogger } from '../core/logger.js';
import { RenewalThread } from '../renewal/renewal-thread.js';
import { leaseNamesDeclaredBy } from './leader-election-metadata.accessor.js';
import { RESOLVED_LEADER_ELECTION_OPTIONS } from './leader-election.constants.js';
import { startupTimedOut, unknownLease } from './leader-election.messages.js';
import type { ResolvedLeaderElectionOptions } from './leader-election-options.resolver.js';
import { LeaderWorkTracker } from './leader-work.tracker.js';
import { electionLogger } from './utils/election-logger.js';
import { fakeTimersWarning, globalTimersAreFaked } from './utils/fake-timers.js';
import { discoveredClasses } from './utils/discovered-classes.js';
import { describeFailure } from './utils/failure-text.js';

/**
 * The elections of this app, one per declared lease (as nestjs/schedule's SchedulerRegistry keeps
 * its jobs), and their lifecycle: created on first declaration, started at boot (or by start()
 * with autoStart: false), stopped at shutdown after the tenures' work was drained.
 */
@Injectable()
export class LeaderElectionRegistry implements OnModuleDestroy {
  private readonly electors = new Map<string, LeaderElector>();
  private readonly electorCreatedSubject = new Subject<LeaderElector>();
  private readonly logger: ElectionLogger;
  private startedAll = false;
  private readonly startedLeases = new Set<string>();
  /** The process's renewal thread for this app (renewalThread option), created with the first election. */
  private renewal?: RenewalThread;
  private renewalDecided = false;
  /** Set when the explorer has declared this app's leases (each one then has its election). */
  private booted = false;
  private shuttingDown = false;
  private shutdownDone?: Promise<void>;

  constructor(
    @Inject(RESOLVED_LEADER_ELECTION_OPTIONS) readonly options: ResolvedLeaderElectionOptions,
    private readonly work: LeaderWorkTracker,
    private readonly discovery: DiscoveryService,
  ) {
    this.logger = electionLogger(options);
  }

  /** Every lease this replica takes part in. */
  get leaseNames(): string[] {
    return [...this.electors.keys()];
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /**
   * Each election as it is created (before it starts; not replayed: read `leaseNames` /
   * `electorFor()` for the ones that exist). The extension point the metrics binding uses.
   */
  get electorCreated$(): Observable<LeaderElector> {
    return this.electorCreatedSubject.asObservable();
  }

  nameOf(leaseName: string | undefined): string {
    return leaseName ?? this.options.defaultLeaseName;
  }

  /**
   * The election for `leaseName`, created (and started, once that lease started) on first use.
   * An explicit declaration: never pass names that come from input.
   */
  electorFor(leaseName?: string): LeaderElector {
    const name = leaseName === undefined ? this.options.defaultLeaseName : validateLeaseName(leaseName);
    let elector = this.electors.get(name);
    if (!elector) {
      const electionOptions = { ...this.options.timings, leaseName: name, identity: this.options.identity };
      // A hand-over (stepDown, yieldTo, failback) waits for the tenure's work like a shutdown does.
      const beforeHandover = (gaveUp?: AbortSignal): Promise<boolean> =>
        this.work.drain(name, Date.now() + this.options.shutdownTimeoutMs, gaveUp);
      elector = this.options.createElector
        ? this.options.createElector(electionOptions, { logger: this.logger, beforeHandover })
        : new LeaderElector(this.options.store, electionOptions, {
            logger: this.logger,
            renewalDelegate: this.renewalThread(),
            beforeHandover,
          });
      this.electors.set(name, elector);
      this.electorCreatedSubject.next(elector);
      if (this.isStarted(name) && !this.shuttingDown) void this.startOne(elector);
    }
    return elector;
  }

  /**
   * The election of a declared lease (the default, one a decorator of this app's providers or
   * controllers names, or one joined); never a new one for another name.
   */
  declaredElector(leaseName: string | undefined): LeaderElector | undefined {
    const name = this.nameOf(leaseName);
    const elector = this.electors.get(name);
    if (elector) return elector;
    if (name === this.options.defaultLeaseName || this.namedByThisApp(name)) return this.electorFor(name);
    return undefined;
  }

  /**
   * A read before the explorer ran (a provider's constructor, say) may name a lease this app's own
   * classes declare: look for it in their decorators, never in a process-wide list (a decorated class
   * outside this app would make a read join its election). After boot each such lease has its election.
   */
  private namedByThisApp(name: string): boolean {
    if (this.booted) return false;
    for (const { prototype } of discoveredClasses(this.discovery))
      if (leaseNamesDeclaredBy(prototype).includes(name)) return true;
    return false;
  }

  requireElector(leaseName: string | undefined): LeaderElector {
    const elector = this.declaredElector(leaseName);
    if (elector) return elector;
    const name = String(leaseName);
    throw new UnknownLeaseError(name, this.leaseNames, unknownLease(name, this.leaseNames));
  }

  /**
   * At init (the explorer): declares the default lease and the decorated ones, then joins their
   * elections unless `autoStart` is false (the app then calls start() when it is ready).
   */
  async boot(leaseNames: Iterable<string>): Promise<void> {
    if (this.shuttingDown) return this.start();
    this.electorFor();
    for (const name of leaseNames) this.electorFor(name);
    this.booted = true;
    // The testing kit (createElector) creates no timers; the real module's renewals need real turns.
    if (!this.options.createElector && globalTimersAreFaked()) this.logger.warn(fakeTimersWarning());
    if (this.options.autoStart) return this.start();
    this.logger.log(
      'Leader election not started (autoStart: false): leader-only work skips until ' +
        'LeaderElectionService.start() is called',
    );
  }

  /** See LeaderElectionService.start. */
  async start(leaseNames?: string | Iterable<string>): Promise<void> {
    if (this.shuttingDown) {
      // app.close() ran while another module's init was still pending: the destroy hooks have run
      // already, so an election started now would never be stopped (a zombie holding the lease).
      this.logger.log('Not starting leader election: the application is already shutting down');
      return;
    }
    let electors: LeaderElector[];
    if (leaseNames === undefined) {
      this.electorFor();
      this.startedAll = true;
      electors = [...this.electors.values()];
    } else {
      const names = typeof leaseNames === 'string' ? [leaseNames] : [...leaseNames];
      electors = names.map((name) => this.electorFor(name));
      for (const elector of electors) this.startedLeases.add(elector.leaseName);
    }
    this.logger.log(
      `Starting leader election as "${this.options.identity}" on ${this.options.store.description} for ` +
        `lease(s) ${electors.map((elector) => `"${elector.leaseName}"`).join(', ')}`,
    );
    await Promise.all(electors.map((elector) => this.startOne(elector)));
  }

  /** False until start() (or the boot, with autoStart) joined this lease's election. */
  isStarted(leaseName?: string): boolean {
    return this.startedAll || this.startedLeases.has(this.nameOf(leaseName));
  }

  /** Declares `leaseName` and, once started, waits for its first attempt (see LeaderElectionService.join). */
  async join(leaseName: string): Promise<LeaderElector> {
    const elector = this.electorFor(leaseName);
    if (this.isStarted(elector.leaseName) && !this.shuttingDown) await this.startOne(elector);
    return elector;
  }

  private async startOne(elector: LeaderElector): Promise<void> {
    const timeoutMs = this.options.startupTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
      timer.unref();
    });
    try {
      const outcome = await Promise.race([elector.start().then(() => 'started' as const), timedOut]);
      if (outcome === 'timeout') this.logger.warn(startupTimedOut(elector.leaseName, timeoutMs));
    } catch (error) {
      const failure = describeFailure(error);
      this.logger.error(
        `Could not start the election for "${elector.leaseName}": ${failure.message}`,
        failure.stack,
      );
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Shutdown: close the gate (no new gated runs), stop polling, abort leadership signals, wait
   * (bounded) for runs in flight, then release held leases so a follower takes over within one poll.
   * Idempotent. The explorer calls it from the first onModuleDestroy hook Nest runs (before the
   * application's own modules are destroyed, see LeaderElectionExplorer); onModuleDestroy here is
   * the fallback.
   */
  shutdown(): Promise<void> {
    this.shuttingDown = true;
    this.shutdownDone ??= this.stopElections();
    return this.shutdownDone;
  }

  private async stopElections(): Promise<void> {
    const drainDeadline = Date.now() + this.options.shutdownTimeoutMs;
    await Promise.allSettled(
      [...this.electors.values()].map((elector) =>
        elector.stop({
          release: this.options.releaseOnShutdown,
          beforeRelease: (gaveUp) => this.work.drain(elector.leaseName, drainDeadline, gaveUp),
        }),
      ),
    );
    this.work.close();
    await this.renewal?.close();
  }

  async onModuleDestroy(): Promise<void> {
    await this.shutdown();
    if (this.options.ownsStore) await this.options.store.close?.();
  }

  /** The renewal thread, when the renewalThread option asks for one and a connection string allows it. */
  private renewalThread(): RenewalThread | undefined {
    if (this.renewalDecided) return this.renewal;
    this.renewalDecided = true;
    const setting = this.options.renewalThread;
    if (!setting) return undefined;
    if ('fallback' in setting) {
      this.logger.warn(`renewalThread: ${setting.fallback}`);
      return undefined;
    }
    this.renewal = new RenewalThread({ ...setting, logger: this.logger });
    this.renewal.ready.catch((error: unknown) => {
      const failure = describeFailure(error);
      this.logger.error(`renewalThread: the renewal thread did not start: ${failure.message}`, failure.stack);
    });
    this.logger.log(
      `Renewing leases on a worker thread; it stops renewing once the main thread has not run for more ` +
        `than ${setting.maxBlockedMs} ms`,
    );
    return this.renewal;
  }
}
