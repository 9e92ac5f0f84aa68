import { AsyncLocalStorage } from 'node:async_hooks';
import type { LockContext } from './held-lock.js';

const storage = new AsyncLocalStorage<LockContext>();

/**
 * The lock held by the current @WithLock / @OnOneReplica run (or LockService.withLock fn), with its
 * name, fencing term and signal; undefined outside one.
 */
export function currentLock(): LockContext | undefined {
  return storage.getStore();
}

export function runInLock<T>(lock: LockContext, fn: () => T): T {
  return storage.run(lock, fn);
}
