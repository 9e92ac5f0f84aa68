export const noStoreConfigured = (): string =>
  'LeaderElectionModule: no lease storage configured. Give exactly one of "connectionString", ' +
  '"accountUrl" + "credential", "containerClient", or "store" (e.g. new MemoryLeaseStore() for a ' +
  'single process).';

export const conflictingStores = (given: string[]): string =>
  `LeaderElectionModule: conflicting storage options ${given.map((name) => `"${name}"`).join(', ')}; ` +
  `allowed: exactly one of "connectionString", "accountUrl" + "credential", "containerClient", ` +
  `"store".`;

export const invalidOption = (option: string, value: unknown, allowed: string): string =>
  `Invalid leader election option "${option}": got ` +
  (typeof value === 'number' || typeof value === 'boolean'
    ? String(value)
    : typeof value === 'string'
      ? JSON.stringify(value)
      : typeof value) +
  `; allowed: ${allowed}.`;

export const skippedNotLeader = (handler: string, leaseName: string, leader: string | undefined): string =>
  `Skipped ${handler}: not the leader of "${leaseName}"${leader ? ` (leader: ${leader})` : ''}`;

export const skippedOverlap = (handler: string): string =>
  `Skipped ${handler}: its previous run is still in progress (set allowOverlap to run concurrently)`;

export const skippedShuttingDown = (handler: string): string =>
  `Skipped ${handler}: the application is shutting down`;

export const noGate = (handler: string): string =>
  `@LeaderOnly ${handler} was called on an instance that LeaderElectionModule does not manage (not a ` +
  `static Nest provider/controller, or the module is not imported); the call is skipped.`;

export const startupTimedOut = (leaseName: string, ms: number): string =>
  `First election attempt for "${leaseName}" did not finish within ${ms} ms; continuing boot as ` +
  `follower (the election keeps trying).`;

/** Foreign values (leader identities, lease names from input) go into messages quoted and capped. */
export const quoted = (value: string, max = 256): string =>
  JSON.stringify(value.length > max ? `${value.slice(0, max)}…` : value);

export const unknownLease = (leaseName: string, declared: string[]): string =>
  `LeaderElectionService: lease ${quoted(leaseName, 100)} is not declared; declared leases: ` +
  `${declared.map((name) => `"${name}"`).join(', ')}. Reads never start an election: declare a lease ` +
  `with @LeaderOnly(name) or join it with "await service.join(name)".`;

export const following = (leaseName: string, leader: string, handlers: number): string =>
  `Following "${leaseName}" (leader: ` +
  `${quoted(leader)})${handlers > 0 ? `; ${handlers} leader-only handler(s) skip on this replica` : ''}`;

export const skippedWhileFollowing = (leaseName: string, skipped: number): string =>
  `Leading "${leaseName}" now; ${skipped} leader-only run(s) were skipped on this replica since the ` +
  `last change`;

export const overlapSkipped = (handler: string): string =>
  `${handler} is still running when its next run is due; overlapping runs are skipped and counted ` +
  `(set allowOverlap to run them concurrently). Logged once per leadership.`;

export const missedTimeoutFailed = (handler: string, message: string): string =>
  `Missed @Timeout ${handler}, run on becoming leader, failed: ${message}`;

export const noGateRefused = (handler: string): string =>
  `@LeaderOnly ${handler} was called on an instance that LeaderElectionModule does not manage ` +
  `(created outside Nest's container, or the module is not imported in this application); the ` +
  `request is refused.`;

export const registeredTwice = (count: number, importers: string[]): string =>
  `LeaderElectionModule is registered ${count} times in this ` +
  `application${importers.length ? ` (imported by ${importers.join(', ')})` : ''}. One application ` +
  `takes part in each election once: register it once (forRoot or forRootAsync, in the root module; ` +
  `make it global with isGlobal if other modules need it) and inject LeaderElectionService where ` +
  `needed.`;

export const unreachableInstances = (className: string): string =>
  `${className} has @LeaderOnly methods but is request-scoped or transient and built by a factory ` +
  `(useFactory), so LeaderElectionModule cannot reach its instances: provide it as a class (useClass ` +
  `or the class itself) or make it default-scoped.`;

export const leaderWorkNeedsSingleton = (className: string, methods: string[]): string =>
  `${className} has leader work (${methods.join(', ')}) but is request-scoped or transient: leader ` +
  `tasks and leadership hooks need the one long-lived instance of a default-scoped provider. Move ` +
  `them to a singleton provider.`;

export const routeAndScheduledJob = (handler: string): string =>
  `@LeaderOnly ${handler} is both a request handler (route, pattern, resolver or gateway message) and ` +
  `a scheduled job (@Cron, @Interval or @Timeout): the gate cannot tell a tick from a request, so ticks ` +
  `would lose overlap protection and throw on followers. Move the schedule to a method of its own that ` +
  `calls ${handler.split('.').pop() ?? handler}().`;

export const asyncIterableRefused = (handler: string, decorator: string): string =>
  `${decorator} ${handler} returns an async iterable (an async generator): the gate cannot end its ` +
  `iteration with the tenure, so it is not supported. Return an Observable (from(iterable)) or a Promise.`;
