import type { LeaderElectionHooksMetadata } from './interfaces/leader-work.interface.js';
import type { LeaderOnlyMetadata } from './interfaces/leader-only-options.interface.js';
import type { LeaderTaskMetadata } from './interfaces/leader-work.interface.js';
import type { ReturnShape } from './utils/return-shape.js';
import {
  LEADER_ELECTION_CLASS_METADATA,
  LEADER_ONLY_METADATA,
  LEADER_TASK_METADATA,
} from './leader-election.constants.js';

/**
 * Reads what the decorators record (as nestjs/schedule's SchedulerMetadataAccessor does), and keeps
 * which methods of a class @LeaderOnly and @LeaderTask decorated, keyed by prototype and property,
 * so the explorer finds them even when a decorator outside replaced the method without copying
 * metadata (the method on the prototype then carries none). Nothing here is process-wide: which
 * leases an app declares comes from its own providers and controllers (leaseNamesDeclaredBy).
 */
const gatedMethods = new WeakMap<object, Map<string | symbol, LeaderOnlyMetadata>>();

/** Called by @LeaderOnly for the method it decorates. */
export function recordGatedMethod(
  prototype: object,
  key: string | symbol,
  metadata: LeaderOnlyMetadata,
): void {
  let methods = gatedMethods.get(prototype);
  if (!methods) gatedMethods.set(prototype, (methods = new Map()));
  methods.set(key, metadata);
}

/** The method @LeaderOnly({ catchUp }) wrapped, and its return shape: what a catch-up run calls. */
export interface CatchUpCall {
  original: (...args: unknown[]) => unknown;
  shape: ReturnShape;
}

const catchUpCalls = new WeakMap<LeaderOnlyMetadata, CatchUpCall>();

/** Called by @LeaderOnly for a method with catchUp. */
export function recordCatchUpCall(
  metadata: LeaderOnlyMetadata,
  original: (...args: unknown[]) => unknown,
  shape: ReturnShape,
): void {
  catchUpCalls.set(metadata, { original, shape });
}

export function catchUpCallOf(metadata: LeaderOnlyMetadata): CatchUpCall | undefined {
  return catchUpCalls.get(metadata);
}

const leaderTaskMethods = new WeakMap<object, Map<string | symbol, LeaderTaskMetadata>>();

/** Called by @LeaderTask for the method it decorates. */
export function recordLeaderTask(
  prototype: object,
  key: string | symbol,
  metadata: LeaderTaskMetadata,
): void {
  let methods = leaderTaskMethods.get(prototype);
  if (!methods) leaderTaskMethods.set(prototype, (methods = new Map()));
  methods.set(key, metadata);
}

/** The @LeaderTask methods of a class and its base classes, found as gatedMethodsOf finds gated ones. */
export function leaderTasksOf(prototype: object): Map<string | symbol, LeaderTaskMetadata> {
  return recordedMethodsOf(leaderTaskMethods, prototype, getLeaderTaskMetadata);
}

/**
 * The @LeaderOnly methods of a class and its base classes: property key -> metadata. A key counts
 * only as the class that defines the method the prototype actually has (an override without
 * @LeaderOnly is not gated, as Nest's Reflector reads the invoked handler): the metadata on that
 * method wins (a copying wrapper shares it), else the one recorded when @LeaderOnly decorated it there.
 */
export function gatedMethodsOf(prototype: object): Map<string | symbol, LeaderOnlyMetadata> {
  return recordedMethodsOf(gatedMethods, prototype, getLeaderOnlyMetadata);
}

function recordedMethodsOf<T>(
  records: WeakMap<object, Map<string | symbol, T>>,
  prototype: object,
  readOwn: (method: unknown) => T | undefined,
): Map<string | symbol, T> {
  const chain = prototypeChain(prototype);
  const keys = new Set<string | symbol>();
  for (const level of chain) for (const key of records.get(level)?.keys() ?? []) keys.add(key);
  const found = new Map<string | symbol, T>();
  for (const key of keys) {
    const owner = chain.find((level) => Object.prototype.hasOwnProperty.call(level, key));
    if (!owner) continue;
    const metadata =
      readOwn((prototype as Record<string | symbol, unknown>)[key]) ?? records.get(owner)?.get(key);
    if (metadata !== undefined) found.set(key, metadata);
  }
  return found;
}

/** The prototype and its ancestors, up to (not including) Object.prototype. */
function prototypeChain(prototype: object): object[] {
  const chain: object[] = [];
  for (let level: object | null = prototype; level && level !== Object.prototype;) {
    chain.push(level);
    level = Object.getPrototypeOf(level) as object | null;
  }
  return chain;
}

/** The @LeaderOnly metadata of a method, if any. */
export function getLeaderOnlyMetadata(method: unknown): LeaderOnlyMetadata | undefined {
  if (typeof method !== 'function') return undefined;
  return Reflect.getOwnMetadata(LEADER_ONLY_METADATA, method) as LeaderOnlyMetadata | undefined;
}

/**
 * The @LeaderOnly metadata of a route handler as Nest hands it to an interceptor: on the function,
 * or recorded for the property of the class that holds this very function.
 */
export function getHandlerLeaderOnlyMetadata(
  handler: unknown,
  type: unknown,
): LeaderOnlyMetadata | undefined {
  const own = getLeaderOnlyMetadata(handler);
  if (own || typeof type !== 'function' || typeof handler !== 'function') return own;
  const prototype = type.prototype as Record<string | symbol, unknown> | undefined;
  if (!prototype) return undefined;
  for (const [key, metadata] of gatedMethodsOf(prototype)) if (prototype[key] === handler) return metadata;
  return undefined;
}

export function getLeaderTaskMetadata(method: unknown): LeaderTaskMetadata | undefined {
  if (typeof method !== 'function') return undefined;
  return Reflect.getOwnMetadata(LEADER_TASK_METADATA, method) as LeaderTaskMetadata | undefined;
}

/**
 * The leases a class names in its decorators (@LeaderOnly, @LeaderTask, @LeaderElection); the module's
 * default lease is not among them when a decorator names none.
 */
export function leaseNamesDeclaredBy(prototype: object): string[] {
  const names = [
    ...[...gatedMethodsOf(prototype).values()].map((metadata) => metadata.leaseName),
    ...[...leaderTasksOf(prototype).values()].map((metadata) => metadata.leaseName),
    getLeaderElectionHooks(prototype.constructor)?.leaseName,
  ];
  return names.filter((name): name is string => name !== undefined);
}

/** The @LeaderElection settings of a class, if it has the decorator. */
export function getLeaderElectionHooks(type: unknown): LeaderElectionHooksMetadata | undefined {
  if (typeof type !== 'function') return undefined;
  return Reflect.getMetadata(LEADER_ELECTION_CLASS_METADATA, type) as LeaderElectionHooksMetadata | undefined;
}
