import {
  LeaderElector,
  type LeaderElectorDependencies,
  type LeadershipState,
} from '../../lib/core/leader-elector.js';
import type { ElectionOptions } from '../../lib/core/election-options.js';
import { MemoryLeaseStore } from '../../lib/stores/memory/memory-lease-store.js';
import { FaultyStore } from './faulty-store.js';
import { ManualClock } from './manual-clock.js';
import { RecordingLogger } from './recording-logger.js';

// Timings used throughout the elector's unit tests: D = 15 s, renewInterval = 5 s, retryInterval =
// 2 s (no jitter unless a test asks), safetyMargin = 1 s → a leader's deadline is tSend + 14 s.
export const D = 15_000;
export const MARGIN = 1_000;
export const RENEW = 5_000;
export const RETRY = 2_000;

export interface Candidate {
  elector: LeaderElector;
  store: FaultyStore;
  logger: RecordingLogger;
  states: LeadershipState[];
}

export interface Harness {
  clock: ManualClock;
  memory: MemoryLeaseStore;
  electors: LeaderElector[];
  candidate(
    identity: string,
    options?: Partial<ElectionOptions>,
    dependencies?: Omit<LeaderElectorDependencies, 'clock' | 'logger'>,
  ): Candidate;
}

let harness: Harness | undefined;

/** The sequence of roles, without repeats (state$ also emits when the observed leader changes). */
export function roleChanges(states: LeadershipState[]): string[] {
  return states.map((state) => state.role).filter((role, i, all) => i === 0 || all[i - 1] !== role);
}

/** Every call of this replica's store hangs: a replica cut off from storage. */
export function partition(store: FaultyStore, type: 'hang' | 'hang-ignoring-signal'): void {
  for (const operation of ['observe', 'acquire', 'renew', 'release', 'announce', 'list', 'withdraw'] as const)
    store.always(operation, { type });
}

/** The electors that believe they lead right now (each checked with isLeader()). */
export function leadersAmong(...candidates: Candidate[]): Candidate[] {
  return candidates.filter((candidate) => candidate.elector.isLeader());
}

/** A manual clock, one in-memory store, and candidates that each reach it through a FaultyStore. */
export function setup(defaults: Partial<ElectionOptions> = {}): Harness {
  const clock = new ManualClock();
  const memory = new MemoryLeaseStore(clock);
  const electors: LeaderElector[] = [];
  harness = {
    clock,
    memory,
    electors,
    candidate(identity, options = {}, dependencies = {}) {
      options = { ...defaults, ...options };
      const store = new FaultyStore(memory, clock);
      const logger = new RecordingLogger();
      // Presence off unless a test asks: the election tests count store calls exactly.
      const elector = new LeaderElector(
        store,
        { leaseName: 'jobs', identity, retryJitter: 0, presence: false, ...options },
        { ...dependencies, clock, logger },
      );
      const states: LeadershipState[] = [];
      elector.state$.subscribe((state) => states.push(state));
      electors.push(elector);
      return { elector, store, logger, states };
    },
  };
  return harness;
}

/** afterEach: stop every elector, advancing the clock so bounded waits inside stop() can finish. */
export async function stopAllElectors(): Promise<void> {
  if (!harness) return;
  const { clock, electors } = harness;
  const stopping = Promise.all(electors.map((elector) => elector.stop()));
  for (let i = 0; i < 10; i++) await clock.advance(5_000);
  await stopping;
  harness = undefined;
}
