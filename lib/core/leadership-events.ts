import { channel } from 'node:diagnostics_channel';

/** Why a tenure ended. */
export type LeadershipEndReason =
  /** The store said the lease is no longer ours (taken, broken, record gone). */
  | 'lost'
  /** No renewal succeeded before the deadline (storage unreachable, event loop blocked, process paused). */
  | 'deadline'
  /** stepDown() was called. */
  | 'step-down'
  /** The election was stopped (application shutdown). */
  | 'stopped';

interface EventBase {
  leaseName: string;
  /** This replica's identity. */
  identity: string;
  /** Wall-clock ms when the transition happened. */
  at: number;
}

/** This replica became leader: a new tenure began. */
export interface LeadershipAcquiredEvent extends EventBase {
  type: 'acquired';
  term: number;
  /** Aborts when this tenure ends. */
  signal: AbortSignal;
  /**
   * Wall-clock estimate of the moment this replica stops believing it leads unless it renews
   * (tSend + D − safetyMargin, converted from the monotonic clock). Renewals move it; read
   * `remainingLeaseMs()` for the current value.
   */
  expiresAt: number;
}

/** This replica stopped leading. */
export interface LeadershipLostEvent extends EventBase {
  type: 'lost';
  term: number;
  reason: LeadershipEndReason;
  /** Human-readable detail, as logged. Never contains a secret. */
  message: string;
}

/** This replica learned of a new leader or a new term (including itself when it is elected). */
export interface LeaderChangedEvent extends EventBase {
  type: 'leader-changed';
  leader: string;
  term: number | undefined;
  /** True when the new leader is this replica. */
  self: boolean;
}

export type LeadershipEvent = LeadershipAcquiredEvent | LeadershipLostEvent | LeaderChangedEvent;

/**
 * `node:diagnostics_channel` names the elector publishes its transitions on, one per event type.
 * Messages are the event objects above. Subscribing costs nothing when nobody listens.
 *
 *   import { subscribe } from 'node:diagnostics_channel';
 *   subscribe('nestjs-leader-election:acquired', (event) => …);
 */
export const LEADERSHIP_CHANNELS = {
  acquired: 'nestjs-leader-election:acquired',
  lost: 'nestjs-leader-election:lost',
  'leader-changed': 'nestjs-leader-election:leader-changed',
} as const satisfies Record<LeadershipEvent['type'], string>;

const channels = {
  acquired: channel(LEADERSHIP_CHANNELS.acquired),
  lost: channel(LEADERSHIP_CHANNELS.lost),
  'leader-changed': channel(LEADERSHIP_CHANNELS['leader-changed']),
};

/**
 * Publishes on the event's diagnostics channel. A throwing subscriber must not break the election:
 * Node reports a subscriber's exception on process 'uncaughtException' in a later tick, so the
 * publish itself never throws here.
 */
export function publishDiagnostics(event: LeadershipEvent): void {
  const target = channels[event.type];
  if (target.hasSubscribers) target.publish(event);
}
