import { PATH_METADATA } from '@nestjs/common/constants.js';
import type { LeaderOnlyMetadata } from '../interfaces/leader-only-options.interface.js';

/**
 * What calls a @LeaderOnly method, as far as the gate is concerned.
 *
 * - `http`, `rpc`, `graphql`, `ws`: a request handler. A caller is waiting for an answer, so a
 *   follower must answer an error in that transport's terms (HTTP 503, an RPC error, a GraphQL
 *   error, a WebSocket exception), never `undefined`, and overlap protection does not apply.
 * - `timeout`: a @nestjs/schedule @Timeout handler (one-shot; see runMissedTimeout).
 * - `background`: anything else (@Cron, @Interval, direct calls from your code): a follower skips.
 */
export type HandlerKind = 'http' | 'rpc' | 'graphql' | 'ws' | 'timeout' | 'background';

export const REQUEST_KINDS: ReadonlySet<HandlerKind> = new Set(['http', 'rpc', 'graphql', 'ws']);

export function isRequestKind(kind: HandlerKind): boolean {
  return REQUEST_KINDS.has(kind);
}

// Metadata keys of each transport's handler decorators, as literals: the transports are optional
// peers (checked against @nestjs/microservices 12, graphql 13, websockets 12 and schedule 12).
const RPC_PATTERN = 'microservices:pattern'; // @MessagePattern, @EventPattern
const GRAPHQL_KEYS = [
  'graphql:resolver_type',
  'graphql:resolver_name',
  'graphql:resolve_property',
  'graphql:resolve_reference',
]; // @Query, @Mutation, @Subscription, @ResolveField, @ResolveReference
const WS_KEYS = ['websockets:message_mapping', 'message']; // @SubscribeMessage
const SCHEDULER_TYPE = 'SCHEDULER_TYPE'; // @Cron = 1, @Timeout = 2, @Interval = 3
const SCHEDULER_TIMEOUT = 2;

/**
 * The kind a function's own reflect metadata describes (route, pattern, resolver, gateway message, @Timeout).
 */
export function handlerKindFromMetadata(fn: unknown): HandlerKind | undefined {
  if (typeof fn !== 'function') return undefined;
  const has = (key: string): boolean => Reflect.hasOwnMetadata(key, fn);
  if (has(PATH_METADATA)) return 'http';
  if (has(RPC_PATTERN)) return 'rpc';
  if (GRAPHQL_KEYS.some(has)) return 'graphql';
  if (WS_KEYS.some(has)) return 'ws';
  if (Reflect.getOwnMetadata(SCHEDULER_TYPE, fn) === SCHEDULER_TIMEOUT) return 'timeout';
  return undefined;
}

/** True when a @nestjs/schedule decorator (@Cron, @Interval, @Timeout) marked the function. */
export function isScheduledJob(fn: unknown): boolean {
  return typeof fn === 'function' && Reflect.getOwnMetadata(SCHEDULER_TYPE, fn) !== undefined;
}

/**
 * Kinds found by the explorer on the FINAL method of each class (whatever decorator wraps whom: a
 * tracing decorator outside @LeaderOnly may carry the route metadata while our wrapper does not).
 * Keyed by the @LeaderOnly metadata object, which every wrapper that copies metadata shares, so the
 * wrapper finds the kind of the method it gates. A kind belongs to the class's method, not to an
 * app, so one process-wide registry is right even with several apps.
 */
const kinds = new WeakMap<LeaderOnlyMetadata, HandlerKind>();

export function recordHandlerKind(metadata: LeaderOnlyMetadata, kind: HandlerKind): void {
  const known = kinds.get(metadata);
  // A request kind wins over anything else (refusing with an error is the safe answer), and any
  // kind wins over 'background' (the default when nothing was found).
  if (known && ((isRequestKind(known) && !isRequestKind(kind)) || kind === 'background')) return;
  kinds.set(metadata, kind);
}

/** The kind of a gated call: what the explorer recorded, else what the wrapper's own metadata says. */
export function handlerKindOf(metadata: LeaderOnlyMetadata, wrapper: unknown): HandlerKind {
  return kinds.get(metadata) ?? handlerKindFromMetadata(wrapper) ?? 'background';
}
