import { fromPinned, type PinnedSchedule, type Scenario, type Step } from './scenario.js';
import type { SimConfig } from './world.js';

/**
 * Shrunk schedules the tester found by itself on the core of commit 039637a (see findings.md), kept
 * as data so they replay without the generator: each must pass once the core is fixed. They drive
 * the elector through its public API only; the world's random streams are per purpose (network,
 * drains, each elector's jitter), so a core that draws a different number of random values still
 * replays the same schedule.
 */
const BASE: SimConfig = {
  replicas: 2,
  leaseDurationSeconds: 15,
  retryIntervalMs: 1000,
  retryJitter: 0,
  presence: false,
  presenceIntervalMs: 2000,
  delegated: false,
  tasks: false,
  onError: ['restart', 'restart', 'restart', 'restart', 'restart'],
  startMask: 1,
  shutdownTimeoutMs: 10_000,
};

function pin(config: Partial<SimConfig>, seed: number, steps: Step[]): PinnedSchedule {
  return { config: { ...BASE, ...config }, seed, steps };
}

const SCHEDULES: Array<{ name: string; schedule: PinnedSchedule }> = [
  {
    name: 'defect 1: yieldTo re-acquires during the drain, then releases under the new tenure ([g], handover seed 1)',
    schedule: pin({ replicas: 4, presence: true, tasks: true, startMask: 9 }, 0, [
      { op: { t: 'flapSide', n: 200 }, dtMs: 3000 },
      { op: { t: 'yieldTo', to: 3 }, dtMs: 0 },
      { op: { t: 'yieldTo', to: 0 }, dtMs: 3000 },
    ]),
  },
  {
    name: 'defect 2: stepDown() releases while the task of the ended tenure still runs ([c], stepdown seed 1)',
    schedule: pin({ tasks: true }, 0, [
      { op: { t: 'fault', kind: 'transient', ms: 100, delayMs: 50 }, dtMs: 3000 },
      { op: { t: 'stepDown', r: 0 }, dtMs: 0 },
    ]),
  },
  {
    name: 'defect 3 (family): the pre-loss holder re-acquires at once although another record came and went unseen ([a], recordLoss seed 2)',
    schedule: pin(
      { replicas: 4, retryIntervalMs: 2000, presence: true, priorities: [0, 0, 0, 0, 0], startMask: 9 },
      0,
      [
        { op: { t: 'fault', kind: 'hang', ms: 9027, delayMs: 50 }, dtMs: 9142 },
        { op: { t: 'pause', r: 0, ms: 200 }, dtMs: 7110 },
        { op: { t: 'loseRecord', lease: 'jobs' }, dtMs: 1869 },
        { op: { t: 'loseRecord', lease: 'jobs' }, dtMs: 2012 },
      ],
    ),
  },
  {
    name: "defect 3 (the issue's sequence): a stale own-loss mark skips the wait after someone else's record is lost: two leaders with term 2 ([a], recordLoss census seed 31 #5575)",
    schedule: pin(
      {
        replicas: 5,
        leaseDurationSeconds: 20,
        retryIntervalMs: 2000,
        retryJitter: 0.2,
        presence: true,
        presenceIntervalMs: 5000,
        priorities: [0, 0, 0, 0, 0],
        delegated: true,
        tasks: true,
        startMask: 5,
      },
      641207283,
      [
        { op: { t: 'partitionOnLoss', ms: 20366 }, dtMs: 10700 },
        { op: { t: 'wait' }, dtMs: 2521 },
        { op: { t: 'crash', r: 3 }, dtMs: 3612 },
        { op: { t: 'deleteContainer', ms: 2521 }, dtMs: 2452 },
        { op: { t: 'block', r: 2, ms: 5640 }, dtMs: 2789 },
        {
          op: {
            t: 'fault',
            kind: 'transient',
            ms: 13821,
            delayMs: 5542,
            r: 1,
            ops: ['observe', 'renew', 'release', 'withdraw'],
          },
          dtMs: 997,
        },
        { op: { t: 'deleteContainer', ms: 377 }, dtMs: 2567 },
        {
          op: {
            t: 'fault',
            kind: 'unknown',
            ms: 4502,
            delayMs: 731,
            r: 3,
            ops: ['observe', 'announce'],
            lease: 'jobs',
          },
          dtMs: 13726,
        },
        { op: { t: 'loseRecord', lease: 'jobs' }, dtMs: 3876 },
        { op: { t: 'loseRecord', lease: 'jobs' }, dtMs: 2764 },
      ],
    ),
  },
  {
    name: 'defect 4: 256 tenures of another lease reuse the slot of a held lease on the renewal thread ([f], slots seed 3)',
    schedule: pin({ delegated: true }, 0, [
      { op: { t: 'flapSide', n: 200 }, dtMs: 0 },
      { op: { t: 'flapSide', n: 200 }, dtMs: 3000 },
    ]),
  },
  {
    name: 'defect 5: the ex-leader takes the lease it just handed to a successor (stale freeSince) ([h], handover seed 3)',
    schedule: pin({ presence: true, startMask: 3 }, 0, [
      { op: { t: 'gatedRun', durationMs: 100, drainMs: 0 }, dtMs: 7143 },
      { op: { t: 'yieldTo', to: 1 }, dtMs: 0 },
      { op: { t: 'yieldTo', to: 0 }, dtMs: 3000 },
    ]),
  },
  {
    name: 'defect 5, successor crashed: the ex-leader does not leave the lease to it for the window ([h], successor seed 2)',
    schedule: pin({ presence: true, priorities: [0, 0, 0, 0, 0], failbackAfterMs: 0, startMask: 14 }, 0, [
      { op: { t: 'wait' }, dtMs: 12 },
      { op: { t: 'start', r: 0 }, dtMs: 3101 },
      { op: { t: 'yieldTo', to: 0 }, dtMs: 0 },
      { op: { t: 'crash', r: 0 }, dtMs: 7 },
    ]),
  },
  {
    name: 'finding 6: stepDown({ cooldownMs: 0 }) re-acquires while its release is in flight and leads on a freed lease ([g], mixed seed 2)',
    schedule: pin({}, 92418230, [
      { op: { t: 'start', r: 0 }, dtMs: 1362 },
      { op: { t: 'wait' }, dtMs: 10387 },
      { op: { t: 'yieldTo', to: 0 }, dtMs: 15685 },
      { op: { t: 'start', r: 1 }, dtMs: 2581 },
      { op: { t: 'stepDown', r: 'leader', cooldownMs: 0 }, dtMs: 3000 },
    ]),
  },
  {
    name: 'finding 7: a renewal thread started while its process was stopped converts times with a wrong offset and renews only at the deadline ([f], recordLoss seed 1)',
    schedule: pin({ delegated: true }, 0, [
      { op: { t: 'pause', r: 0, ms: 8991 }, dtMs: 3000 },
      { op: { t: 'wait' }, dtMs: 15097 },
      { op: { t: 'wait' }, dtMs: 15954 },
      { op: { t: 'stop', r: 1 }, dtMs: 16003 },
    ]),
  },
  {
    name: 'finding 8: a recreated record that reaches the same term as the lost one hides the loss: a replica that saw both leads beside the old holder ([d]/[a], recordLoss census seed 12 #1548)',
    schedule: pin(
      {
        replicas: 5,
        retryIntervalMs: 2000,
        retryJitter: 0.2,
        presence: true,
        priorities: [1, 1, 1, 1, 0],
        delegated: true,
        tasks: true,
        startMask: 24,
      },
      2092264691,
      [
        { op: { t: 'loseRecord', lease: 'jobs' }, dtMs: 2758 },
        { op: { t: 'start', r: 1 }, dtMs: 1557 },
        { op: { t: 'start', r: 1 }, dtMs: 1168 },
        { op: { t: 'deleteContainer', ms: 317 }, dtMs: 1004 },
        { op: { t: 'stop', r: 4 }, dtMs: 1505 },
        { op: { t: 'loseRecord', lease: 'side' }, dtMs: 476 },
        { op: { t: 'wait' }, dtMs: 1092 },
        { op: { t: 'start', r: 3 }, dtMs: 7142 },
      ],
    ),
  },
  // Review of the tenure core (branch review): schedules that break an invariant on the NEW core.
  {
    name: 'review R2: a release that lands after its timeout frees the lease its replica re-acquired meanwhile ([g], reviewStep seed 12)',
    schedule: pin({}, 0, [
      { op: { t: 'fault', kind: 'lands-late', ms: 100, delayMs: 5037, ops: ['release'] }, dtMs: 15 },
      { op: { t: 'stepDown', r: 'leader', cooldownMs: 100 }, dtMs: 3000 },
    ]),
  },
  {
    name: 'review S2: a candidate acquires on a stale observation ("free, no successor") a lease just released to a named successor ([h], review seed 21)',
    schedule: pin(
      {
        replicas: 4,
        retryIntervalMs: 2000,
        presence: true,
        presenceIntervalMs: 5000,
        priorities: [0, 2, 0, 2, 0],
        startMask: 15,
      },
      702187061,
      [
        { op: { t: 'fault', kind: 'hang', ms: 2026, delayMs: 50, r: 0 }, dtMs: 3000 },
        { op: { t: 'yieldOnAcquire', to: 0 }, dtMs: 3000 },
      ],
    ),
  },
  {
    name: 'review S1: a hand-over whose drain overruns the bound is dropped, and the yielder itself re-takes the lease the instant it expires ([i], reviewHand seed 33)',
    schedule: pin({ replicas: 3, presence: true, tasks: true, startMask: 6 }, 1453311347, [
      { op: { t: 'yieldTo', to: 0 }, dtMs: 3000 },
      { op: { t: 'yieldTo', to: 1 }, dtMs: 11116 },
      { op: { t: 'wait' }, dtMs: 19885 },
    ]),
  },
  {
    name: "review R4 (stop): stop()'s drain, within its bound, outlasts the unrenewed lease; e1 starts its run beside the ended tenure's ([d], reviewHand seed 61)",
    schedule: pin({ tasks: true, startMask: 10 }, 981419369, [
      { op: { t: 'yieldTo', to: 0 }, dtMs: 914 },
      {
        op: { t: 'fault', kind: 'transient', ms: 20780, delayMs: 50, ops: ['renew', 'withdraw'] },
        dtMs: 2304,
      },
      { op: { t: 'gatedRun', durationMs: 100, drainMs: 0 }, dtMs: 1859 },
      { op: { t: 'wait' }, dtMs: 6627 },
      { op: { t: 'start', r: 0 }, dtMs: 10356 },
      { op: { t: 'stop', r: 1 }, dtMs: 3000 },
    ]),
  },
  {
    name: 'review S5: yieldTo() accepts a successor that is in its own stepDown cooldown; it never takes the lease and the yielder takes it back after the window ([i], reviewHand seed 91)',
    schedule: pin(
      {
        replicas: 3,
        presence: true,
        tasks: true,
        onError: ['restart', 'step-down', 'restart', 'restart', 'restart'],
        startMask: 14,
      },
      0,
      [
        { op: { t: 'wait' }, dtMs: 30 },
        { op: { t: 'taskFail' }, dtMs: 3000 },
        { op: { t: 'yieldTo', to: 1 }, dtMs: 17317 },
        { op: { t: 'wait' }, dtMs: 13684 },
      ],
    ),
  },
  {
    name: "open on the new core: a replica paused right after observing the lease free acquires on its 9-second-old observation, 21 ms into a named successor's window ([h], stepdown seed 20261208 #14307)",
    schedule: pin({ replicas: 4, presence: true, startMask: 13 }, 0, [
      { op: { t: 'pause', r: 0, ms: 9225 }, dtMs: 9212 },
      { op: { t: 'yieldTo', to: 2 }, dtMs: 3000 },
    ]),
  },
  {
    name: 'on the new core: a replica whose last acquire got a 503 (outcome unknown) ignores the successor named on the free lease and takes it; the successor never leads ([i], successor seed 20261209 #16502)',
    schedule: pin(
      {
        replicas: 5,
        presence: true,
        priorities: [2, 0, 1, 0, 1],
        failbackAfterMs: 0,
        startMask: 30,
      },
      2,
      [
        {
          op: { t: 'fault', kind: 'transient', ms: 26082, delayMs: 50, ops: ['acquire', 'list'] },
          dtMs: 3000,
        },
        { op: { t: 'yieldOnAcquire', to: 1 }, dtMs: 17070 },
        { op: { t: 'flapSide', n: 1 }, dtMs: 6417 },
        { op: { t: 'wait' }, dtMs: 19579 },
        { op: { t: 'yieldOnAcquire', to: 0 }, dtMs: 11953 },
      ],
    ),
  },
  {
    name: 'listing: a listing in flight when its elector stops leaves a timer behind ([e], listing seed 20261207 #603; broke on the shared observer of 485d91a)',
    schedule: pin(
      { replicas: 2, retryIntervalMs: 1000, retryJitter: 0, presence: false, startMask: 1, listing: true },
      0,
      [
        { op: { t: 'start', r: 1 }, dtMs: 0 },
        { op: { t: 'fault', kind: 'lands-late', ms: 100, delayMs: 50 }, dtMs: 1000 },
        { op: { t: 'stop', r: 1 }, dtMs: 0 },
      ],
    ),
  },
  {
    name: "listing: a lease the listing does not show was read as free without a version, so the acquire on it went out unconditional and took a named successor's lease 971 ms into its window ([h], listing seed 20261219 #2169; review-final finding 4)",
    schedule: pin({ replicas: 4, presence: true, startMask: 27, listing: true }, 376421137, [
      { op: { t: 'fault', kind: 'transient', ms: 100, delayMs: 50, lease: 'side' }, dtMs: 31 },
      { op: { t: 'yieldTo', to: 0 }, dtMs: 3000 },
    ]),
  },
];

export const PINNED: Array<{ name: string; scenario: () => Scenario }> = SCHEDULES.map(
  ({ name, schedule }) => ({
    name,
    scenario: () => fromPinned(schedule),
  }),
);
