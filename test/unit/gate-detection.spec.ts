import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { Get, SetMetadata } from '@nestjs/common';
import { EventPattern, MessagePattern } from '@nestjs/microservices';
import { Cron, Interval, Timeout } from '@nestjs/schedule';
import { Observable } from 'rxjs';
import { LeaderOnly, getLeaderOnlyMetadata } from '../../lib/nest/decorators/leader-only.decorator.js';
import {
  handlerKindFromMetadata,
  handlerKindOf,
  recordHandlerKind,
} from '../../lib/nest/utils/handler-kind.js';
import { declaredShape } from '../../lib/nest/utils/return-shape.js';

// GraphQL and WebSocket packages are not installed here (too heavy): these decorators write the
// same metadata keys as @nestjs/graphql's @Query/@Mutation/@ResolveField and @nestjs/websockets'
// @SubscribeMessage.
const Query = (): MethodDecorator => (target, key, descriptor) => {
  SetMetadata('graphql:resolver_type', 'Query')(target, key, descriptor);
  SetMetadata('graphql:resolver_name', String(key))(target, key, descriptor);
};
const ResolveField = (): MethodDecorator => SetMetadata('graphql:resolve_property', true);
const SubscribeMessage =
  (event: string): MethodDecorator =>
  (target, key, descriptor) => {
    SetMetadata('websockets:message_mapping', true)(target, key, descriptor);
    SetMetadata('message', event)(target, key, descriptor);
  };

class Handlers {
  @Get('x') route(): void {}
  @MessagePattern('cmd') pattern(_data: unknown): void {}
  @EventPattern('evt') event(_data: unknown): void {}
  @Query() query(): void {}
  @ResolveField() field(): void {}
  @SubscribeMessage('msg') message(): void {}
  @Timeout(10) once(): void {}
  @Interval(10) every(): void {}
  @Cron('* * * * * *') cron(): void {}
  plain(): void {}
}

describe('handler kinds from metadata (issue 14.2)', () => {
  const kindOf = (key: keyof Handlers): unknown => handlerKindFromMetadata(Handlers.prototype[key]);

  it('recognises routes, message and event patterns, GraphQL resolvers and fields, gateway messages and @Timeout', () => {
    expect(kindOf('route')).toBe('http');
    expect(kindOf('pattern')).toBe('rpc');
    expect(kindOf('event')).toBe('rpc');
    expect(kindOf('query')).toBe('graphql');
    expect(kindOf('field')).toBe('graphql');
    expect(kindOf('message')).toBe('ws');
    expect(kindOf('once')).toBe('timeout');
    expect(kindOf('every')).toBeUndefined();
    expect(kindOf('cron')).toBeUndefined();
    expect(kindOf('plain')).toBeUndefined();
  });

  it('a kind recorded for the final method reaches the @LeaderOnly wrapper it wraps, and a request kind is never downgraded', () => {
    class Wrapped {
      @LeaderOnly()
      handle(): void {}
    }
    const wrapper = Wrapped.prototype.handle;
    const metadata = getLeaderOnlyMetadata(wrapper)!;
    expect(handlerKindOf(metadata, wrapper)).toBe('background');
    recordHandlerKind(metadata, 'graphql');
    recordHandlerKind(metadata, 'timeout');
    expect(handlerKindOf(metadata, wrapper)).toBe('graphql');
  });
});

describe('the promised shape (issue 14.6)', () => {
  // Any decorator makes TypeScript emit design:returntype for the member.
  const Mark = (): MethodDecorator => () => undefined;
  class Shapes {
    @Mark() async asyncMethod(): Promise<void> {}
    @Mark() promised(): Promise<number> {
      return Promise.resolve(1);
    }
    @Mark() observed(): Observable<number> {
      return new Observable<number>();
    }
    @Mark() sync(): number {
      return 1;
    }
  }
  const shapeOf = (key: keyof Shapes): unknown => declaredShape(Shapes.prototype[key], Shapes.prototype, key);

  it('is read from design:returntype and the function tag, without calling the method', () => {
    expect(shapeOf('asyncMethod')).toEqual({ promise: true, observable: false });
    expect(shapeOf('promised')).toEqual({ promise: true, observable: false });
    expect(shapeOf('observed')).toEqual({ promise: false, observable: true });
    expect(shapeOf('sync')).toEqual({ promise: false, observable: false });
    // The tag alone is enough when no metadata is emitted.
    expect(declaredShape(async () => undefined, {}, 'x')).toEqual({ promise: true, observable: false });
  });
});
