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
 * own), and checks @OnOneReplica setups that cannot work (no period, or on a @Timeout) at boot.
 */
@Injectable()
export class LockExplorer implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly locks: LockService,
  ) {}

  onModuleInit(): void {
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
      }
      Object.defineProperty(instance, LOCK_SERVICE_LINK, { value: this.locks, configurable: true });
    }
  }
}
