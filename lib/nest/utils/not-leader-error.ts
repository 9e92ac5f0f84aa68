import type { LeadershipState } from '../../core/leader-elector.js';
import { NotLeaderException } from '../not-leader.exception.js';
import type { HandlerKind } from './handler-kind.js';

type ErrorClass = new (error: string | object) => Error;

/**
 * RpcException / WsException, loaded (once per process) only when an app has @LeaderOnly message
 * patterns or gateway handlers: those packages are optional peers. Nest's RPC and WebSocket
 * exception filters send an RpcException's / WsException's object as is, and turn any other error
 * into "Internal server error" (logged as an error), so a follower must throw their own classes.
 */
const transportErrors: { rpc?: ErrorClass; ws?: ErrorClass } = {};

export async function loadTransportErrors(kinds: Iterable<HandlerKind>): Promise<void> {
  const wanted = new Set(kinds);
  if (wanted.has('rpc') && !transportErrors.rpc) {
    transportErrors.rpc = await import('@nestjs/microservices')
      .then((m) => m.RpcException as ErrorClass)
      .catch(() => undefined);
  }
  if (wanted.has('ws') && !transportErrors.ws) {
    // Not a dev dependency here (kept light); a variable specifier keeps TypeScript from resolving it.
    const specifier = '@nestjs/websockets';
    transportErrors.ws = await import(specifier)
      .then((m: { WsException?: ErrorClass }) => m.WsException)
      .catch(() => undefined);
  }
}

/**
 * The error a follower throws for a request handler, in the terms of its transport. HTTP and GraphQL
 * get NotLeaderException (503 over HTTP; GraphQL servers report an HttpException as a GraphQL error
 * with its message). RPC and WebSocket callers get `{ status: 'error', message, leaseName, leader,
 * term, retryAfterSeconds }`, the shape Nest's RPC/WS filters send for their exceptions. The body
 * carries the leader's identity (clients may retry there), never anything from the options.
 */
export function notLeaderError(
  kind: HandlerKind,
  state: Pick<LeadershipState, 'leaseName' | 'leader' | 'term'>,
  retryAfterSeconds: number,
): Error {
  const http = new NotLeaderException(state, retryAfterSeconds);
  const TransportError =
    kind === 'rpc' ? transportErrors.rpc : kind === 'ws' ? transportErrors.ws : undefined;
  if (!TransportError) return http;
  const { statusCode: _status, error: _error, ...body } = http.getResponse() as Record<string, unknown>;
  return new TransportError({ status: 'error', ...body });
}
