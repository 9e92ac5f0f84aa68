// The TypeScript of docs/MIGRATING.md: every ```ts block of that page is a verbatim excerpt of this
// file (test/e2e/migrating.e2e.spec.ts checks it), so `npm run typecheck` compiles the page's code
// against the real API, and the spec boots the providers below as two replicas and the core example
// on Azurite. Stand-ins for the reader's own code (orders, queue, metrics, …) come first.
import 'reflect-metadata';
import { Injectable, Logger, Module } from '@nestjs/common';
import { Cron, CronExpression, Interval } from '@nestjs/schedule';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AzureBlobLeaseStore,
  LeaderElection,
  LeaderElectionService,
  LeaderElector,
  LeaderOnly,
  LeaderTask,
  currentLeadership,
  runWhileLeader,
  type LeaderChangedEvent,
  type Leadership,
  type LeadershipAcquiredEvent,
  type LeadershipLostEvent,
  type OnLeaderChanged,
  type OnLeadershipAcquired,
  type OnLeadershipLost,
} from 'nestjs-leader-election';

// ------------------------------------------------------------------ stand-ins for the reader's code

/** Which replica did what, for the spec (identity and term come from the leadership context). */
export const record: { what: string; identity?: string; term?: number; at: number }[] = [];
const note = (what: string): void => {
  const context = currentLeadership();
  record.push({ what, identity: context?.identity, term: context?.term, at: Date.now() });
};
const pause = (ms: number, signal?: AbortSignal): Promise<void> =>
  sleep(ms, undefined, { signal }).catch(() => undefined);

export const orders = {
  async processNext(term: number, signal: AbortSignal): Promise<void> {
    note(`orders.processNext term=${term}`);
    await pause(50, signal);
  },
};
export const queue = {
  async catchUp(signal: AbortSignal): Promise<void> {
    note('queue.catchUp');
    await pause(50, signal);
  },
};
export const metrics = {
  gauges: new Map<string, number>(),
  gauge(name: string, value: number): void {
    metrics.gauges.set(name, value);
  },
};
export const work = {
  async active(signal: AbortSignal): Promise<void> {
    note('work.active');
    await pause(50, signal);
  },
  async passive(): Promise<void> {
    record.push({ what: 'work.passive', at: Date.now() });
  },
};
export const reconciler = {
  async run(signal: AbortSignal): Promise<void> {
    note('reconciler.run');
    while (!signal.aborted) await pause(50, signal);
  },
};
export const coordinator = {
  runs: 0,
  stopped: 0,
  async run(signal: AbortSignal): Promise<void> {
    coordinator.runs++;
    while (!signal.aborted) await pause(50, signal);
    coordinator.stopped++;
  },
};

// ------------------------------------------------------------------ .NET: RunTaskWhenElectedLeaderAsync

@Injectable()
export class OrdersWorker {
  // RunTaskWhenElectedLeaderAsync(WorkerAsync, token): runs each time this replica is elected;
  // its CancellationToken is cancelled when leadership ends. Here: the tenure's AbortSignal.
  @LeaderTask()
  async workerAsync({ signal, term }: Leadership): Promise<void> {
    while (!signal.aborted) {
      await orders.processNext(term, signal); // pass the term on: the target can reject stale leaders
    }
  }
}

// ------------------------------------------------------------------ Topshelf.Leader

@Injectable()
export class TheService {
  constructor(private readonly election: LeaderElectionService) {}

  // s.WhenStartedAsLeader(b => b.WhenStarted(async (service, token) => await service.Start(token)))
  @LeaderTask()
  async start({ signal }: Leadership): Promise<void> {
    while (!signal.aborted) await queue.catchUp(signal);
  }

  // b.WithHeartBeat(TimeSpan.FromSeconds(30), (isLeader, token) => …): on every replica
  @Interval(30_000)
  heartBeat(): void {
    metrics.gauge('is_leader', this.election.isLeader() ? 1 : 0);
  }
}

// ------------------------------------------------------------------ Azure leader-election pattern (outside Nest)

// new BlobDistributedMutex(settings, MyLeaderCoordinatorTask).RunTaskWhenMutexAcquired(token)
export async function runCoordinator(connectionString: string, token: AbortSignal): Promise<void> {
  const store = new AzureBlobLeaseStore({ connectionString, containerName: 'leases' });
  const elector = new LeaderElector(store, { leaseName: 'MyLeaderCoordinatorTask', identity: hostname() });
  const task = runWhileLeader(elector, ({ signal }) => coordinator.run(signal), { name: 'coordinator' });
  await elector.start();
  if (!token.aborted)
    await new Promise((resolve) => token.addEventListener('abort', resolve, { once: true }));
  // Shutdown: end the tenure (aborts the task's signal), wait for the task, and release the lease
  // only if it has stopped; otherwise leave the lease to expire.
  task.dispose();
  await elector.stop({ beforeRelease: () => task.whenIdle(10_000) });
}

// ------------------------------------------------------------------ EShopworld.WorkerProcess

// workerLease.LeaseAllocated += (s, e) => … e.Expiry …;   workerLease.LeaseExpired += (s, e) => …;
@Injectable()
@LeaderElection()
export class WorkerLeaseEvents implements OnLeadershipAcquired, OnLeadershipLost {
  private readonly logger = new Logger('WorkerLease');

  onLeadershipAcquired({ term, expiresAt }: LeadershipAcquiredEvent): void {
    this.logger.log(
      `lease allocated (term ${term}), valid until ${new Date(expiresAt).toISOString()} unless renewed`,
    );
  }

  onLeadershipLost({ term, reason }: LeadershipLostEvent): void {
    this.logger.log(`lease expired (term ${term}): ${reason}`);
  }
}

// ------------------------------------------------------------------ active/passive worker

// while (!token.IsCancellationRequested) { if (await IsActive()) await DoInActive(token); else await DoInPassive(token); }
@Injectable()
export class ActivePassiveWorker {
  constructor(private readonly election: LeaderElectionService) {}

  @LeaderTask()
  async doInActive({ signal }: Leadership): Promise<void> {
    while (!signal.aborted) await work.active(signal);
  }

  @Interval(1_000)
  async doInPassive(): Promise<void> {
    if (!this.election.isLeader()) await work.passive(); // e.g. keep a warm standby cache
  }
}

// ------------------------------------------------------------------ Kubernetes client-go

@Injectable()
@LeaderElection()
export class Controller implements OnLeadershipLost, OnLeaderChanged {
  private readonly logger = new Logger('Controller');

  // OnStartedLeading(ctx): ctx is cancelled when leadership ends
  @LeaderTask()
  async run({ signal }: Leadership): Promise<void> {
    await reconciler.run(signal);
  }

  // OnStoppedLeading()
  onLeadershipLost({ reason }: LeadershipLostEvent): void {
    this.logger.log(`leader lost: ${reason}`);
  }

  // OnNewLeader(identity)
  onLeaderChanged({ leader, self }: LeaderChangedEvent): void {
    if (!self) this.logger.log(`new leader elected: ${leader}`);
  }
}

// ------------------------------------------------------------------ @nestjs/locks

@Injectable()
@LeaderElection('reports') // the key names the lease
export class ReportsLeadership implements OnLeadershipAcquired, OnLeadershipLost {
  private readonly logger = new Logger('Reports');

  onLeadershipAcquired({ term }: LeadershipAcquiredEvent): void {
    this.logger.log(`leading "reports" (term ${term})`);
  }

  onLeadershipLost({ reason }: LeadershipLostEvent): void {
    this.logger.log(`no longer leading "reports": ${reason}`);
  }
}

@Injectable()
export class DigestJob {
  @Cron(CronExpression.EVERY_MINUTE)
  @LeaderOnly() // where @OnOneInstance() was: runs on the leader of the default lease only
  sendDigest(): void {
    note('digest');
  }
}

// ------------------------------------------------------------------ everything above, as one module

@Module({
  providers: [
    OrdersWorker,
    TheService,
    WorkerLeaseEvents,
    ActivePassiveWorker,
    Controller,
    ReportsLeadership,
    DigestJob,
  ],
})
export class MigratingExamplesModule {}
