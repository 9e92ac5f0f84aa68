import { Controller, Get, Post, UseInterceptors } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import {
  LeaderElectionHealthIndicator,
  LeaderElectionService,
  LeaderOnly,
  LeaderOnlyInterceptor,
} from 'nestjs-leader-election';
import { ConsumerService } from './consumer.service.js';

@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly leaderHealth: LeaderElectionHealthIndicator,
    private readonly election: LeaderElectionService,
    private readonly consumer: ConsumerService,
  ) {}

  /** Terminus health: up on leader and followers; down only when storage is unreachable too long. */
  @Get('health')
  @HealthCheck()
  check() {
    return this.health.check([() => this.leaderHealth.isHealthyAll()]);
  }

  /**
   * Plain endpoint: who am I, who leads each lease, is the consumer (a @LeaderTask) running here, and
   * the live members of the default lease (presence records: a listing at most one presence interval
   * old; absent when presence is off).
   */
  @Get('leader')
  async leader() {
    const members = await this.election.members().catch(() => undefined);
    return {
      identity: this.election.identity,
      leases: this.election.getStates(),
      consumer: this.consumer.status(),
      ...(members ? { members } : {}),
    };
  }

  /** Only the leader accepts this; followers answer 503 with the leader's identity and Retry-After. */
  @Post('admin/reindex')
  @UseInterceptors(LeaderOnlyInterceptor)
  @LeaderOnly()
  triggerReindex() {
    return { accepted: true, by: this.election.identity };
  }
}
