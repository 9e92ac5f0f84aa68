import { EMPTY, isObservable, Observable } from 'rxjs';

/**
 * The shape a gated method promised its callers, so that a skipped call returns the same shape:
 * `undefined` for a sync method, a Promise resolving to `undefined` for a Promise-returning one, an
 * Observable that completes without a value for an Observable-returning one.
 *
 * Known without calling the method, from (in this order):
 * 1. `design:returntype` (TypeScript's emitDecoratorMetadata): `Promise` for `async` methods and for
 *    methods with an explicit `Promise<…>` return type, `Observable` for an explicit Observable;
 * 2. the original function's tag (`AsyncFunction`), when the metadata is not emitted;
 * 3. what earlier runs on the leader returned (a method that returned a promise-like once is
 *    treated as Promise-returning from then on).
 * A method with none of these (a plain function without a declared return type that returns a
 * promise, and never ran on this replica) returns `undefined` when skipped: declare its return type.
 */
export interface ReturnShape {
  promise: boolean;
  observable: boolean;
}

export function declaredShape(original: unknown, target: object, propertyKey: string | symbol): ReturnShape {
  const returnType: unknown = Reflect.getMetadata('design:returntype', target, propertyKey);
  const tag = (original as { [Symbol.toStringTag]?: string } | undefined)?.[Symbol.toStringTag];
  return {
    promise: returnType === Promise || tag === 'AsyncFunction',
    observable:
      returnType === Observable || (typeof returnType === 'function' && returnType.name === 'Observable'),
  };
}

/** Remembers what a leader run returned (rule 3). */
export function learnShape(shape: ReturnShape, result: unknown): void {
  if (isObservable(result)) shape.observable = true;
  else if (isPromiseLike(result)) shape.promise = true;
}

export function skippedResult(shape: ReturnShape): unknown {
  if (shape.observable) return EMPTY;
  if (shape.promise) return Promise.resolve(undefined);
  return undefined;
}

export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** Decorated methods (by their metadata) written as `async *`: refused at boot by the explorer. */
const asyncGenerators = new WeakSet<object>();

export function noteAsyncGenerator(metadata: object, original: unknown): void {
  const tag = (original as { [Symbol.toStringTag]?: string } | undefined)?.[Symbol.toStringTag];
  if (tag === 'AsyncGeneratorFunction') asyncGenerators.add(metadata);
}

export function isAsyncGenerator(metadata: object): boolean {
  return asyncGenerators.has(metadata);
}

/** An async iterable that is not an Observable (the gate cannot end its iteration with the tenure). */
export function isAsyncIterable(value: unknown): boolean {
  return (
    !isObservable(value) &&
    typeof (value as { [Symbol.asyncIterator]?: unknown } | null)?.[Symbol.asyncIterator] === 'function'
  );
}
