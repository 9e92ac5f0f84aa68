import { Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { LOCK_SERVICE_LINK } from './lock.constants.js';
import { lockedMethodsOf, SCHEDULE_TIMEOUT_OPTIONS } from './lock-decorators.metadata.js';
import { LockService } from './lock.service.js';
import { periodOf } from './on-one-replica.decorator.js';
import { LeaderElectionSetupError } from '../../core/errors.js';

/**
 * At module init, links every provider and controller with @WithLock / @OnOneReplica methods to this
 * app's LockService (a hidden per-instance property, so several apps in one process each use their
 * own), and checks @OnOneReplica setups that cannot work (no period, on a @Timeout, or a job name two
 * different methods share: their ticks would share one record, so only one of them would ever run).
 */
@Injectable()
export class LockExplorer implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly locks: LockService,
  ) {}

  onModuleInit(): void {
    const jobOwners = new Map<string, { method: object; handlerName: string }>();
    for (const wrapper of [...this.discovery.getProviders(), ...this.discovery.getControllers()]) {
      const instance: unknown = wrapper.instance;
      if (!instance || typeof instance !== 'object' || !wrapper.isDependencyTreeStatic()) continue;
      const methods = lockedMethodsOf(instance);
      if (methods.length === 0) continue;
      for (const [key, method] of methods) {
        if (method.kind !== 'one-replica') continue;
        const fn = (instance as Record<string | symbol, object>)[key]!;
        if (Reflect.getMetadata(SCHEDULE_TIMEOUT_OPTIONS, fn) !== undefined)
          throw new LeaderElectionSetupError(
            `@OnOneReplica on ${method.handlerName}: a @Timeout fires once per replica at its own boot, so ` +
              `it has no shared tick to run once; use @LeaderOnly() for one run in the cluster`,
          );
        periodOf(method, fn, method.handlerName);
        // One decorated method on several instances is one job; two different methods are two jobs.
        const owner = jobOwners.get(method.job);
        if (owner && owner.method !== fn)
          throw new LeaderElectionSetupError(
            `@OnOneReplica job "${method.job}" is used by two different methods (${owner.handlerName} and ` +
              `${method.handlerName}): they would share one tick record and only one of them would run; ` +
              `give each a distinct \`job\` option`,
          );
        jobOwners.set(method.job, { method: fn, handlerName: method.handlerName });
      }
      Object.defineProperty(instance, LOCK_SERVICE_LINK, { value: this.locks, configurable: true });
    }
  }
}
