import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { getLeaderOnlyMetadata } from './decorators/leader-only.decorator.js';
import { LEADER_GATE } from './leader-election.constants.js';
import { LeaderElectionService } from './leader-election.service.js';

/**
 * At module init: finds every provider and controller with @LeaderOnly methods, links each instance
 * to this app's LeaderElectionService, and starts the elections those methods use (waiting, bounded,
 * for the first attempt) before any scheduled job starts (schedule starts jobs at bootstrap).
 */
@Injectable()
export class LeaderElectionExplorer implements OnModuleInit {
  private readonly logger = new Logger('LeaderElection');

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly service: LeaderElectionService,
  ) {}

  async onModuleInit(): Promise<void> {
    const leaseNames = new Set<string>();
    const wrappers = [...this.discovery.getProviders(), ...this.discovery.getControllers()];
    for (const wrapper of wrappers) {
      const instance: unknown = wrapper.instance;
      if (!instance || typeof instance !== 'object') continue;
      const prototype = Object.getPrototypeOf(instance) as object | null;
      if (!prototype) continue;
      let gated = 0;
      for (const name of this.scanner.getAllMethodNames(prototype)) {
        const metadata = getLeaderOnlyMetadata((instance as Record<string, unknown>)[name]);
        if (!metadata) continue;
        gated++;
        leaseNames.add(metadata.leaseName ?? this.service.defaultLeaseName);
      }
      if (gated === 0) continue;
      if (!wrapper.isDependencyTreeStatic()) {
        this.logger.warn(`${wrapper.name as string} has @LeaderOnly methods but is request-scoped or transient; its calls will be skipped`);
        continue;
      }
      Object.defineProperty(instance, LEADER_GATE, { value: this.service, enumerable: false, configurable: true, writable: true });
    }
    await this.service.start(leaseNames);
  }
}
