import { Logger } from '@nestjs/common';
import { validateLeaseName } from '../../core/election-options.js';
import type { LeaderOnlyMetadata, LeaderOnlyOptions } from '../interfaces/leader-only-options.interface.js';
import { LEADER_GATE, LEADER_ONLY_METADATA } from '../leader-election.constants.js';
import type { LeaderGate } from '../interfaces/leader-gate.interface.js';
import { recordCatchUpCall, recordGatedMethod } from '../leader-election-metadata.accessor.js';
import { noGate, noGateRefused } from '../leader-election.messages.js';
import { copyMethodMetadata } from '../utils/copy-method-metadata.js';
import { handlerKindOf, isRequestKind } from '../utils/handler-kind.js';
import { declaredShape, noteAsyncGenerator, skippedResult } from '../utils/return-shape.js';
import {
  decoratorBoolean,
  decoratorCatchUp,
  LEADER_ONLY_OPTION_KEYS,
  refuseUnknownDecoratorKeys,
} from '../utils/decorator-options.js';
import { LeaderElectionSetupError } from '../../core/errors.js';

const warnedUnmanaged = new WeakSet<object>();

/**
 * Runs the method only on the replica that leads `leaseName` (default: the module's lease).
 *
 * On @Cron / @Interval / @Timeout handlers and other background calls (either decorator order) a
 * follower's call is skipped and counted (LeaderElectionService.skippedCount), returning the shape
 * the method promised (see utils/return-shape.ts). The check happens at each call with a monotonic
 * clock, so a late tick after the lease deadline is refused. Inside the run, currentLeadership()
 * gives the term and an AbortSignal.
 *
 * On request handlers (controller routes, @MessagePattern/@EventPattern, GraphQL resolvers, gateway
 * messages) a follower answers an error in the transport's terms (HTTP 503 naming the leader, an
 * RPC error, …); add LeaderOnlyInterceptor for a Retry-After header.
 *
 * The method is replaced by a wrapper that keeps the original's reflect metadata (schedule reads
 * its metadata from the function and captures the method once at init, so interceptors never see
 * scheduled calls: the gate has to be in the method itself). Sync methods stay sync.
 */
export function LeaderOnly(leaseNameOrOptions?: string | LeaderOnlyOptions): MethodDecorator {
  const options: LeaderOnlyOptions =
    typeof leaseNameOrOptions === 'string' ? { leaseName: leaseNameOrOptions } : { ...leaseNameOrOptions };
  refuseUnknownDecoratorKeys('@LeaderOnly', options, LEADER_ONLY_OPTION_KEYS);
  const allowOverlap = decoratorBoolean('@LeaderOnly', 'allowOverlap', options.allowOverlap, false);
  const runMissedTimeout = decoratorBoolean(
    '@LeaderOnly',
    'runMissedTimeout',
    options.runMissedTimeout,
    true,
  );
  if (options.leaseName !== undefined) {
    validateLeaseName(options.leaseName, '@LeaderOnly leaseName');
  }
  const catchUp = decoratorCatchUp(options.catchUp);

  return (target: object, propertyKey: string | symbol, descriptor: PropertyDescriptor) => {
    const original: unknown = descriptor.value;
    const handlerName =
      `${(target as { constructor?: { name?: string } }).constructor?.name ?? 'anonymous'}` +
      `.${String(propertyKey)}`;
    if (typeof original !== 'function') {
      throw new LeaderElectionSetupError(
        `@LeaderOnly can only decorate methods; ${handlerName} is not a method`,
      );
    }
    const metadata: LeaderOnlyMetadata = {
      leaseName: options.leaseName,
      allowOverlap,
      runMissedTimeout,
      ...(catchUp ? { catchUp } : {}),
      handlerName,
    };
    // TypeScript applies its design:* metadata before any decorator, so the return type is known here.
    const shape = declaredShape(original, target, propertyKey);

    const wrapper = {
      [original.name](this: object, ...args: unknown[]): unknown {
        // Looked up per call: the explorer records the kind at init from the final method (route
        // metadata may sit on a decorator that wraps us), after this decorator ran.
        const kind = handlerKindOf(metadata, wrapper);
        const gate = (this as { [LEADER_GATE]?: LeaderGate } | undefined)?.[LEADER_GATE];
        if (!gate) {
          if (this && typeof this === 'object' && !warnedUnmanaged.has(this)) {
            warnedUnmanaged.add(this);
            new Logger('LeaderElection').warn(noGate(handlerName));
          }
          if (isRequestKind(kind)) throw new LeaderElectionSetupError(noGateRefused(handlerName));
          return skippedResult(shape);
        }
        return gate.runGated(
          metadata,
          this,
          () => (original as (...a: unknown[]) => unknown).apply(this, args),
          { kind, shape },
        );
      },
    }[original.name]!;

    copyMethodMetadata(original, wrapper);
    if (catchUp) recordCatchUpCall(metadata, original as (...a: unknown[]) => unknown, shape);
    Reflect.defineMetadata(LEADER_ONLY_METADATA, metadata, wrapper);
    recordGatedMethod(target, propertyKey, metadata);
    noteAsyncGenerator(metadata, original);
    descriptor.value = wrapper;
    return descriptor;
  };
}

export { getLeaderOnlyMetadata } from '../leader-election-metadata.accessor.js';
