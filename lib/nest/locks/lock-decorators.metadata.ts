/** What @WithLock / @OnOneReplica record about a method, read by LockExplorer at init. */
export type LockedMethod =
  | { kind: 'with-lock'; handlerName: string }
  | { kind: 'one-replica'; handlerName: string; job: string; periodMs?: number };

/** Decorated methods per prototype (the class a decorator ran on). */
const lockedMethods = new WeakMap<object, Map<string | symbol, LockedMethod>>();

export function recordLockedMethod(prototype: object, key: string | symbol, method: LockedMethod): void {
  let methods = lockedMethods.get(prototype);
  if (!methods) lockedMethods.set(prototype, (methods = new Map()));
  methods.set(key, method);
}

/** Every decorated method of an instance's class and its ancestors. */
export function lockedMethodsOf(instance: object): Array<[string | symbol, LockedMethod]> {
  const found: Array<[string | symbol, LockedMethod]> = [];
  for (
    let proto = Object.getPrototypeOf(instance) as object | null;
    proto;
    proto = Object.getPrototypeOf(proto)
  ) {
    for (const entry of lockedMethods.get(proto) ?? []) found.push(entry);
  }
  return found;
}

/** @nestjs/schedule's metadata keys (read from the method, so either decorator order works). */
export const SCHEDULE_INTERVAL_OPTIONS = 'SCHEDULE_INTERVAL_OPTIONS';
export const SCHEDULE_CRON_OPTIONS = 'SCHEDULE_CRON_OPTIONS';
export const SCHEDULE_TIMEOUT_OPTIONS = 'SCHEDULE_TIMEOUT_OPTIONS';

/** The @Interval period of a method, if it has one. */
export function intervalPeriodOf(method: object): number | undefined {
  const options = Reflect.getMetadata(SCHEDULE_INTERVAL_OPTIONS, method) as { timeout?: unknown } | undefined;
  return typeof options?.timeout === 'number' ? options.timeout : undefined;
}
