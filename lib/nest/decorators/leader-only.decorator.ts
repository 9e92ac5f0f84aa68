import { Logger } from '@nestjs/common';
import { PATH_METADATA } from '@nestjs/common/constants.js';
import { validateLeaseName } from '../../core/election-options.js';
import type { LeaderOnlyMetadata, LeaderOnlyOptions } from '../interfaces/leader-only-options.interface.js';
import { LEADER_GATE, LEADER_ONLY_METADATA } from '../leader-election.constants.js';
import type { LeaderGate } from '../leader-election.service.js';
import { noGate } from '../leader-election.messages.js';
import { copyMethodMetadata } from '../utils/copy-method-metadata.js';

const warnedUnmanaged = new WeakSet<object>();

/**
 * Runs the method only on the replica that leads `leaseName` (default: the module's lease).
 *
 * On @Cron / @Interval / @Timeout handlers (either decorator order) a follower's tick is skipped
 * with a debug log. The check happens at the tick with a monotonic clock, so a late tick after the
 * lease deadline is refused. Inside the run, currentLeadership() gives the term and an AbortSignal.
 *
 * On controller routes a follower answers 503; add LeaderOnlyInterceptor for a Retry-After header.
 *
 * The method is replaced by a wrapper that keeps the original's reflect metadata (schedule reads
 * its metadata from the function and captures the method once at init, so interceptors never see
 * scheduled calls: the gate has to be in the method itself). Sync methods stay sync.
 */
export function LeaderOnly(leaseNameOrOptions?: string | LeaderOnlyOptions): MethodDecorator {
  const options: LeaderOnlyOptions = typeof leaseNameOrOptions === 'string' ? { leaseName: leaseNameOrOptions } : { ...leaseNameOrOptions };
  if (options.leaseName !== undefined) validateLeaseName(options.leaseName, '@LeaderOnly leaseName');

  return (target: object, propertyKey: string | symbol, descriptor: PropertyDescriptor) => {
    const original: unknown = descriptor.value;
    const handlerName = `${(target as { constructor?: { name?: string } }).constructor?.name ?? 'anonymous'}.${String(propertyKey)}`;
    if (typeof original !== 'function') {
      throw new TypeError(`@LeaderOnly can only decorate methods; ${handlerName} is not a method`);
    }
    const metadata: LeaderOnlyMetadata = {
      leaseName: options.leaseName,
      allowOverlap: options.allowOverlap ?? false,
      handlerName,
    };
    const isAsync = (original as { [Symbol.toStringTag]?: string })[Symbol.toStringTag] === 'AsyncFunction';

    const wrapper = {
      [original.name](this: object, ...args: unknown[]): unknown {
        // Route metadata may be added after us (decorator order), so look it up at call time.
        const isRoute = Reflect.hasOwnMetadata(PATH_METADATA, wrapper);
        const gate = (this as { [LEADER_GATE]?: LeaderGate } | undefined)?.[LEADER_GATE];
        if (!gate) {
          if (this && typeof this === 'object' && !warnedUnmanaged.has(this)) {
            warnedUnmanaged.add(this);
            new Logger('LeaderElection').warn(noGate(handlerName));
          }
          if (isRoute) throw new Error(noGate(handlerName));
          return isAsync ? Promise.resolve(undefined) : undefined;
        }
        return gate.runGated(metadata, this, () => (original as (...a: unknown[]) => unknown).apply(this, args), { isRoute, isAsync });
      },
    }[original.name]!;

    copyMethodMetadata(original, wrapper);
    Reflect.defineMetadata(LEADER_ONLY_METADATA, metadata, wrapper);
    descriptor.value = wrapper;
    return descriptor;
  };
}

/** The @LeaderOnly metadata of a method, if any. */
export function getLeaderOnlyMetadata(method: unknown): LeaderOnlyMetadata | undefined {
  if (typeof method !== 'function') return undefined;
  return Reflect.getOwnMetadata(LEADER_ONLY_METADATA, method) as LeaderOnlyMetadata | undefined;
}
