import { validateLeaseName } from '../../core/election-options.js';
import type { LeaderTaskMetadata, LeaderTaskOptions } from '../interfaces/leader-work.interface.js';
import { LEADER_TASK_METADATA } from '../leader-election.constants.js';
import { recordLeaderTask } from '../leader-election-metadata.accessor.js';
import { LEADER_TASK_OPTION_KEYS, refuseUnknownDecoratorKeys } from '../utils/decorator-options.js';
import { noteAsyncGenerator } from '../utils/return-shape.js';
import { LeaderElectionSetupError } from '../../core/errors.js';

/**
 * Runs the method for as long as this replica leads the lease, starting it again on every new
 * tenure: a single-reader queue consumer, a coordinator, a cache warmer.
 *
 *   @LeaderTask()
 *   async consume(leadership: Leadership) {
 *     for await (const message of queue.read({ signal: leadership.signal })) {
 *       await handle(message, leadership.term);
 *     }
 *   }
 *
 * The method receives the tenure (lease, term, AbortSignal, isActive()) and must return (or reject)
 * soon after `leadership.signal` aborts. A method returning an Observable is subscribed for the tenure
 * and unsubscribed when it ends. Never two runs at once in one replica. At shutdown the module
 * aborts the signal and waits up to shutdownTimeoutMs; a run still going then keeps the lease from
 * being released (it expires instead), so no new leader starts beside it.
 * On a singleton provider (default scope) only; on a static method it throws LeaderElectionSetupError
 * when the class is defined.
 */
export function LeaderTask(leaseNameOrOptions?: string | LeaderTaskOptions): MethodDecorator {
  const options: LeaderTaskOptions =
    typeof leaseNameOrOptions === 'string' ? { leaseName: leaseNameOrOptions } : { ...leaseNameOrOptions };
  refuseUnknownDecoratorKeys('@LeaderTask', options, LEADER_TASK_OPTION_KEYS);
  if (options.leaseName !== undefined) {
    validateLeaseName(options.leaseName, '@LeaderTask leaseName');
  }
  return (target: object, propertyKey: string | symbol, descriptor: PropertyDescriptor) => {
    // A static method's target is the class itself: no instance to run on, the explorer never sees it.
    if (typeof target === 'function') {
      const staticName = `${target.name || 'anonymous'}.${String(propertyKey)}`;
      throw new LeaderElectionSetupError(
        `@LeaderTask cannot decorate the static method ${staticName}: ` +
          `leader tasks run on the instance of a singleton provider. Make it an instance method of a ` +
          `provider, or start it with LeaderElectionService.runWhileLeader().`,
      );
    }
    const handlerName =
      `${(target as { constructor?: { name?: string } }).constructor?.name ?? 'anonymous'}` +
      `.${String(propertyKey)}`;
    if (typeof descriptor.value !== 'function')
      throw new LeaderElectionSetupError(
        `@LeaderTask can only decorate methods; ${handlerName} is not a method`,
      );
    const metadata: LeaderTaskMetadata = { ...options, handlerName };
    Reflect.defineMetadata(LEADER_TASK_METADATA, metadata, descriptor.value as object);
    // Also by class and property: a decorator outside that replaces the method without copying
    // metadata (a home-made @Log()) would otherwise hide the task, and it would never run.
    recordLeaderTask(target, propertyKey, metadata);
    noteAsyncGenerator(metadata, descriptor.value);
    return descriptor;
  };
}

export { getLeaderTaskMetadata } from '../leader-election-metadata.accessor.js';
