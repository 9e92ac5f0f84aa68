import { Inject, Injectable } from '@nestjs/common';
import type { LeadershipState } from '../../core/leader-elector.js';
import { sanitizeForeignText } from '../../core/sanitize.js';
import { RESOLVED_LEADER_ELECTION_OPTIONS } from '../leader-election.constants.js';
import type { ResolvedLeaderElectionOptions } from '../leader-election-options.resolver.js';
import { LeaderElectionService } from '../leader-election.service.js';

/**
 * One lease's health. With `healthDetails: 'minimal'` (the default) only status, leaseName, role,
 * term and — when down — reason and errorCode are present: nothing a public /health should not
 * carry. With `healthDetails: 'full'` the optional fields below are filled in too.
 */
export interface LeaderElectionHealthDetails {
  status: 'up' | 'down';
  leaseName: string;
  role: LeadershipState['role'];
  /** Current leader's term as last seen (this replica's while leading), or null. */
  term: number | null;
  /**
   * Present (false) while this replica has not joined the election yet (`autoStart: false` and
   * LeaderElectionService.start() not called): status is `up`, a replica warming up is healthy.
   */
  started?: false;
  /** Present when down: why (never a storage URL, an identity or a service message). */
  reason?: string;
  /** Present when down because of a permanent storage error: its code, e.g. "AuthenticationFailed". */
  errorCode?: string;
  /** 'full' only: this replica's identity. */
  identity?: string;
  /** 'full' only: identity of the current leader as last seen, or null. */
  leader?: string | null;
  /** 'full' only: ISO time of the last successful storage request, or null if none yet. */
  lastStoreContactAt?: string | null;
  /** 'full' only, when the last storage request failed (credentials are redacted by the store). */
  lastError?: { kind: string; message: string; code?: string; at: string };
  /**
   * 'full' only, with presence on: the live members as of the last presence listing (the leader lists
   * once per presence interval; followers when members() is called), best first.
   */
  members?: {
    identity: string;
    priority: number;
    canLead: boolean;
    role: 'leader' | 'follower';
    lastSeenAgoMs: number;
  }[];
}

/** Same shape as @nestjs/terminus's HealthIndicatorResult: { [key]: { status, ...details } }. */
export type LeaderElectionHealthResult = Record<string, LeaderElectionHealthDetails>;

/**
 * Health of the election, usable with @nestjs/terminus (v11, v12) without depending on it:
 * terminus reads only `status` from what an indicator function returns.
 *
 * `up` for the leader AND for followers (a follower is healthy: it is ready to take over).
 * `down` when:
 *   - the election is stopped;
 *   - the last storage request failed with a permanent error (authentication, authorization,
 *     invalid names, an emulator rejecting the API version…): such a replica can never lead until
 *     its configuration is fixed, so it is not shown as a healthy follower. It is `up` again after
 *     the next successful storage request;
 *   - the store has been unreachable (transient errors) for longer than healthStoreOutageMs.
 *
 *   this.health.check([() => this.leaderHealth.isHealthy('leaderElection')])
 */
@Injectable()
export class LeaderElectionHealthIndicator {
  private readonly createdAt = Date.now();

  constructor(
    private readonly service: LeaderElectionService,
    @Inject(RESOLVED_LEADER_ELECTION_OPTIONS) private readonly options: ResolvedLeaderElectionOptions,
  ) {}

  isHealthy(key = 'leaderElection', leaseName?: string): LeaderElectionHealthResult {
    // A computed key defines an own property even for "__proto__".
    return { [key]: this.details(leaseName) };
  }

  /** Health of every lease this replica takes part in, keyed by lease name. */
  isHealthyAll(): LeaderElectionHealthResult {
    // fromEntries defines own properties: no lease name can land on the prototype and vanish.
    return Object.fromEntries(this.service.leaseNames.map((name) => [name, this.details(name)]));
  }

  details(leaseName?: string, now = Date.now()): LeaderElectionHealthDetails {
    const state = this.service.getState(leaseName);
    const lastContact = state.lastStoreContactAt ?? this.createdAt;
    // Up to the last FAILED request, not up to now: during a long step-down cooldown no request is
    // made, and an outage nobody observes must not grow into "down" by itself.
    const outageMs = Math.min(now, state.lastError?.at ?? now) - lastContact;
    let reason: string | undefined;
    let errorCode: string | undefined;
    if (state.role === 'stopped') reason = 'the election is stopped';
    else if (state.lastError?.kind === 'permanent') {
      errorCode = state.lastError.code ? sanitizeForeignText(state.lastError.code, 64) : undefined;
      reason =
        `permanent storage error${errorCode ? ` (${errorCode})` : ''}: this replica cannot lead until ` +
        `the storage configuration is fixed (see the log)`;
    } else if (state.consecutiveFailures > 0 && outageMs > this.options.healthStoreOutageMs) {
      reason =
        `lease store unreachable for ${Math.round(outageMs / 1000)} s (limit ` +
        `${Math.round(this.options.healthStoreOutageMs / 1000)} s)`;
    }
    const minimal: LeaderElectionHealthDetails = {
      status: reason ? 'down' : 'up',
      leaseName: state.leaseName,
      role: state.role,
      term: state.term ?? null,
      ...(state.role === 'idle' && !this.service.isStarted(leaseName) ? { started: false as const } : {}),
      ...(reason ? { reason } : {}),
      ...(errorCode ? { errorCode } : {}),
    };
    if (this.options.healthDetails !== 'full') return minimal;
    return {
      ...minimal,
      identity: state.identity,
      leader: sanitizeForeignText(state.leader) ?? null,
      lastStoreContactAt: state.lastStoreContactAt ? new Date(state.lastStoreContactAt).toISOString() : null,
      ...(state.lastError
        ? {
            lastError: {
              kind: state.lastError.kind,
              message: state.lastError.message,
              code: state.lastError.code,
              at: new Date(state.lastError.at).toISOString(),
            },
          }
        : {}),
      ...this.membersOf(leaseName),
    };
  }

  private membersOf(leaseName: string | undefined): Pick<LeaderElectionHealthDetails, 'members'> {
    const members = this.service.lastKnownMembers(leaseName);
    if (!members || members.length === 0) return {};
    return {
      members: members.map(({ identity, priority, canLead, role, lastSeenAgoMs }) => ({
        identity,
        priority,
        canLead,
        role,
        lastSeenAgoMs,
      })),
    };
  }
}
