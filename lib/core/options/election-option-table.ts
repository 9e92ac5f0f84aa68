import type { ElectionPreferenceOptions, ElectionTimingOptions } from './election-option-types.js';
import type { OptionTable } from './option-table.js';

const MS = 'number (ms)';

/**
 * The election's timing options (D = leaseDurationSeconds × 1000; R = retryIntervalMs). Their
 * ranges depend on each other, so resolveElectionOptions checks them; `range` states the rule.
 */
export const TIMING_OPTION_TABLE: OptionTable<keyof ElectionTimingOptions> = {
  leaseDurationSeconds: {
    type: 'number (s)',
    env: 'number',
    default: '`15`',
    range: 'a whole number of seconds from 15 to 60',
    doc:
      "Lease duration D (Azure's range; infinite leases are refused). A crashed leader is replaced after " +
      'at most D + R.',
  },
  renewIntervalMs: {
    type: MS,
    env: 'number',
    default: 'D/3',
    range: '> 0, with renewIntervalMs + safetyMarginMs < D',
    doc: 'Leader renewal period.',
  },
  retryIntervalMs: {
    type: MS,
    env: 'number',
    default: '`2000`',
    range: 'from 10 to 4·D',
    doc: 'Follower poll period R. A graceful hand-over takes about R.',
  },
  retryJitter: {
    type: 'number',
    env: 'number',
    default: '`0.2`',
    range: '≥ 0 and < 1',
    doc: '± spread on R.',
  },
  safetyMarginMs: {
    type: MS,
    env: 'number',
    default: '`1000`',
    range: '≥ 0 and < D',
    doc: 'The leader stops believing it leads at tSend + D − safetyMarginMs.',
  },
  requestTimeoutMs: {
    type: MS,
    env: 'number',
    default: 'min(5000, renewInterval)',
    range: 'from 1 to D',
    doc: 'Upper bound of one storage request (renewals are further bounded by the time left).',
  },
  renewRetryIntervalMs: {
    type: MS,
    env: 'number',
    default: 'min(500, renewInterval/4)',
    range: 'from 1 to renewIntervalMs',
    doc: 'Pause between retries of a failed renewal.',
  },
  maxErrorBackoffMs: {
    type: MS,
    env: 'number',
    default: '`30000`',
    range: 'from R to 3600000 (1 hour)',
    doc: 'Longest pause between polls after permanent errors (auth, names).',
  },
  fastFailover: {
    type: 'false | { livenessMs, heartbeatIntervalMs? }',
    env: 'boolean',
    default: '`false`',
    range:
      'false, or { livenessMs: a whole number from max(3000, safetyMarginMs + 300) to below D, ' +
      'heartbeatIntervalMs: 100 to (livenessMs − safetyMarginMs)/3 (the default) }; ' +
      'R must then be ≤ livenessMs/2 ' +
      '(default min(2000, livenessMs/2))',
    doc:
      'Crash takeover in about livenessMs + 2 s + R instead of D + R: the leader heartbeats (one ' +
      'metadata write each) and leads only while a heartbeat succeeded within livenessMs. ' +
      'Not with renewalThread.',
  },
};

/** Presence and preferred leaders (see docs/GUARANTEES.md, "Presence and preferred leaders"). */
export const PREFERENCE_OPTION_TABLE: OptionTable<keyof ElectionPreferenceOptions> = {
  priority: {
    type: 'number',
    env: 'number',
    default: '`0`',
    range: 'a finite number from −1e9 to 1e9; needs presence',
    doc:
      "This replica's preference for leading; higher is preferred. Setting it turns preference on for " +
      'this replica.',
  },
  canLead: {
    type: 'boolean',
    env: 'boolean',
    default: '`true`',
    range: 'true or false',
    doc: 'false for observers: they take part (presence, state) but never lead.',
  },
  presence: {
    type: 'true | false | { intervalMs, staleAfterMs }',
    env: 'boolean',
    default: '`true`',
    range:
      'true, false, or { intervalMs: 1000–300000 (default 10000), staleAfterMs: above 2 × intervalMs ' +
      '(default 3 × intervalMs) }',
    doc: 'Presence records (false: no extra requests; priorities and members() then unavailable).',
  },
  electionDelayMs: {
    type: MS,
    env: 'number',
    default: 'presence interval + R',
    range: 'from 0 to 600000',
    doc: 'With a priority: how long a newly started replica waits before taking a free lease.',
  },
  preferenceWindowMs: {
    type: MS,
    env: 'number',
    default: '2·R + requestTimeout',
    range: 'from R to 600000',
    doc: 'How long a free lease is left to better candidates, per better priority tier that is live.',
  },
  failback: {
    type: 'false | { afterStableMs }',
    env: 'boolean',
    default: '`false`',
    range: 'false, or { afterStableMs: 0–600000 }; needs presence',
    doc: 'A leader hands over to a better live candidate once it has been present that long.',
  },
};
