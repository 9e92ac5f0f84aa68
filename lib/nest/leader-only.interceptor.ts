import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { catchError, throwError, type Observable } from 'rxjs';
import { getHandlerLeaderOnlyMetadata } from './leader-election-metadata.accessor.js';
import { LeaderElectionService } from './leader-election.service.js';
import { NotLeaderException } from './not-leader.exception.js';

/**
 * For @LeaderOnly controller routes: a follower answers 503 with a JSON body naming the current
 * leader and a Retry-After header, before the handler runs. Routes without @LeaderOnly pass
 * through, so it can be bound globally (APP_INTERCEPTOR or app.useGlobalInterceptors).
 */
@Injectable()
export class LeaderOnlyInterceptor implements NestInterceptor {
  constructor(private readonly service: LeaderElectionService) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const metadata = getHandlerLeaderOnlyMetadata(context.getHandler(), context.getClass());
    if (!metadata || context.getType() !== 'http') return next.handle();
    const leaseName = metadata.leaseName ?? this.service.defaultLeaseName;
    const response = context.switchToHttp().getResponse<unknown>();
    if (!this.service.isLeader(leaseName)) {
      const elector = this.service.electorFor(leaseName);
      const error = new NotLeaderException(
        elector.state,
        Math.max(1, Math.ceil(elector.options.retryIntervalMs / 1000)),
      );
      setHeader(response, 'Retry-After', String(error.retryAfterSeconds));
      return throwError(() => error);
    }
    return next.handle().pipe(
      catchError((error: unknown) => {
        // Leadership ended between this check and the handler's own gate. A stream cut at tenure end
        // (SSE) has sent its headers already: setting one would throw and replace the not-leader error.
        if (error instanceof NotLeaderException && !headersSent(response))
          setHeader(response, 'Retry-After', String(error.retryAfterSeconds));
        return throwError(() => error);
      }),
    );
  }
}

function setHeader(response: unknown, name: string, value: string): void {
  const target = response as {
    setHeader?: (n: string, v: string) => void;
    header?: (n: string, v: string) => void;
  };
  if (typeof target.setHeader === 'function')
    target.setHeader(name, value); // express, node:http
  else if (typeof target.header === 'function') target.header(name, value); // fastify
}

function headersSent(response: unknown): boolean {
  const target = response as { headersSent?: boolean; sent?: boolean; raw?: { headersSent?: boolean } };
  return target.headersSent === true || target.sent === true || target.raw?.headersSent === true;
}
