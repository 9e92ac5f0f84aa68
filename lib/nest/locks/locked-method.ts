import { InvalidElectionOptionError, LeaderElectionSetupError } from '../../core/errors.js';
import { copyMethodMetadata } from '../utils/copy-method-metadata.js';
import { LOCK_SERVICE_LINK } from './lock.constants.js';
import { recordLockedMethod, type LockedMethod } from './lock-decorators.metadata.js';
import type { LockService } from './lock.service.js';

/** A lock decorator's options: an object with only the keys it knows (checked when the class loads). */
export function checkOptionKeys(decorator: string, options: unknown, keys: readonly string[]): void {
  if (options === null || typeof options !== 'object')
    throw new InvalidElectionOptionError(
      `${decorator} options`,
      options,
      `an object { ${keys.map((key) => `${key}?`).join(', ')} }`,
    );
  for (const key of Object.keys(options))
    if (!keys.includes(key))
      throw new InvalidElectionOptionError(
        `${decorator} ${key}`,
        (options as Record<string, unknown>)[key],
        `no such option; options are ${keys.join(', ')}`,
        true,
      );
}

/** What one lock decorator does with a method, given its handler name ("Class.method"). */
export interface LockedMethodPlan {
  /** What LockExplorer reads at init. */
  record: LockedMethod;
  /** A call on an instance linked to its app's LockService; `call` runs the original method. */
  run(service: LockService, call: () => unknown, args: unknown[], method: object): Promise<unknown>;
  /** A call on an instance no app linked (not a provider, or request-scoped). */
  unlinked(instance: unknown): unknown;
}

/**
 * The body @WithLock and @OnOneReplica share: the method becomes an async wrapper (same name, same
 * Nest metadata) that finds its app's LockService through the instance (LockExplorer links it) and
 * hands the call to the plan.
 */
export function lockedMethod(
  decorator: string,
  plan: (handlerName: string) => LockedMethodPlan,
): MethodDecorator {
  return (target: object, propertyKey: string | symbol, descriptor: PropertyDescriptor) => {
    const original: unknown = descriptor.value;
    const className = (target as { constructor?: { name?: string } }).constructor?.name ?? 'anonymous';
    const handlerName = `${className}.${String(propertyKey)}`;
    if (typeof original !== 'function')
      throw new LeaderElectionSetupError(
        `${decorator} can only decorate methods; ${handlerName} is not a method`,
      );
    const { record, run, unlinked } = plan(handlerName);
    const wrapper = {
      async [original.name](this: object, ...args: unknown[]): Promise<unknown> {
        const service = (this as { [LOCK_SERVICE_LINK]?: LockService } | undefined)?.[LOCK_SERVICE_LINK];
        if (!service) return unlinked(this);
        return run(
          service,
          () => (original as (...a: unknown[]) => unknown).apply(this, args),
          args,
          wrapper,
        );
      },
    }[original.name]!;
    copyMethodMetadata(original, wrapper);
    recordLockedMethod(target, propertyKey, record);
    descriptor.value = wrapper;
    return descriptor;
  };
}
