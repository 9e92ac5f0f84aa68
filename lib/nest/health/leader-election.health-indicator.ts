import { Inject, Injectable } from '@nestjs/common';
import type { LeadershipState } from '../../core/leader-elector.js';
import { RESOLVED_LEADER_ELECTION_OPTIONS } from '../leader-election.constants.js';
import type { ResolvedLeaderElectionOptions } from '../leader-election-options.resolver.js';
import { LeaderElectionService } from '../leader-election.service.js';

export interface LeaderElectionHealthDetails {
  status: 'up' | 'down';
  leaseName: string;
  role: LeadershipState['role'];
  identity: string;
  /** Identity of the current leader as last seen, or null. */
  leader: string | null;
  term: number | null;
  /** ISO time of the last successful storage request, or null if none yet. */
  lastStoreContactAt: string | null;
  /** Present when the last storage request failed. */
  lastError?: { kind: string; message: string; code?: string; at: string };
  /** Present when down: why. */
  reason?: string;
}

/** Same shape as @nestjs/terminus's HealthIndicatorResult: { [key]: { status, ...details } }. */
export type LeaderElectionHealthResult = Record<string, LeaderElectionHealthDetails>;

/**
 * Health of the election, usable with @nestjs/terminus (v11, v12) without depending on it:
 * terminus reads only `status` from what an indicator function returns.
 *
 * `up` for the leader AND for followers (a follower is healthy: it is ready to take over).
 * `down` only when the store has been unreachable for longer than healthStoreOutageMs, or the
 * election is stopped.
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
    return { [key]: this.details(leaseName) };
  }

  /** Health of every lease this replica takes part in, keyed by lease name. */
  isHealthyAll(): LeaderElectionHealthResult {
    const result: LeaderElectionHealthResult = {};
    for (const name of this.service.leaseNames) result[name] = this.details(name);
    return result;
  }

  details(leaseName?: string, now = Date.now()): LeaderElectionHealthDetails {
    const state = this.service.getState(leaseName);
    const lastContact = state.lastStoreContactAt ?? this.createdAt;
    const outageMs = now - lastContact;
    let reason: string | undefined;
    if (state.role === 'stopped') reason = 'the election is stopped';
    else if (state.consecutiveFailures > 0 && outageMs > this.options.healthStoreOutageMs) {
      reason = `lease store unreachable for ${Math.round(outageMs / 1000)} s (limit ${Math.round(this.options.healthStoreOutageMs / 1000)} s)`;
    }
    return {
      status: reason ? 'down' : 'up',
      leaseName: state.leaseName,
      role: state.role,
      identity: state.identity,
      leader: state.leader ?? null,
      term: state.term ?? null,
      lastStoreContactAt: state.lastStoreContactAt ? new Date(state.lastStoreContactAt).toISOString() : null,
      ...(state.lastError
        ? { lastError: { kind: state.lastError.kind, message: state.lastError.message, code: state.lastError.code, at: new Date(state.lastError.at).toISOString() } }
        : {}),
      ...(reason ? { reason } : {}),
    };
  }
}
