export const noStoreConfigured = (): string =>
  'LeaderElectionModule: no lease storage configured. Give exactly one of "connectionString", "accountUrl" + "credential", "containerClient", or "store" (e.g. new MemoryLeaseStore() for a single process).';

export const conflictingStores = (given: string[]): string =>
  `LeaderElectionModule: conflicting storage options ${given.map((name) => `"${name}"`).join(', ')}; allowed: exactly one of "connectionString", "accountUrl" + "credential", "containerClient", "store".`;

export const invalidOption = (option: string, value: unknown, allowed: string): string =>
  `Invalid leader election option "${option}": got ${typeof value === 'number' || typeof value === 'boolean' ? String(value) : typeof value === 'string' ? JSON.stringify(value) : typeof value}; allowed: ${allowed}.`;

export const skippedNotLeader = (handler: string, leaseName: string, leader: string | undefined): string =>
  `Skipped ${handler}: not the leader of "${leaseName}"${leader ? ` (leader: ${leader})` : ''}`;

export const skippedOverlap = (handler: string): string =>
  `Skipped ${handler}: its previous run is still in progress (set allowOverlap to run concurrently)`;

export const skippedShuttingDown = (handler: string): string => `Skipped ${handler}: the application is shutting down`;

export const noGate = (handler: string): string =>
  `@LeaderOnly ${handler} was called on an instance that LeaderElectionModule does not manage (not a static Nest provider/controller, or the module is not imported); the call is skipped.`;

export const startupTimedOut = (leaseName: string, ms: number): string =>
  `First election attempt for "${leaseName}" did not finish within ${ms} ms; continuing boot as follower (the election keeps trying).`;
