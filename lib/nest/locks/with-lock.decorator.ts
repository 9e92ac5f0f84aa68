import { LeaderElectionSetupError, InvalidElectionOptionError } from '../../core/errors.js';
import { lockLeaseName } from '../../locks/lock-names.js';
import { resolveWaitOptions } from '../../locks/lock-options.js';
import { checkOptionKeys, lockedMethod } from './locked-method.js';

export interface WithLockOptions {
  /** How long a call waits for another holder, ms. Default 0 (one attempt). */
  waitMs?: number;
  /**
   * What a call does when the lock stays held elsewhere: 'throw' (default) rejects with
   * LockNotAcquiredError, so a caller never mistakes it for success; 'skip' resolves undefined (for
   * fire-and-forget handlers), with a debug log.
   */
  ifLocked?: 'throw' | 'skip';
}

const OPTION_KEYS = ['waitMs', 'ifLocked'];

/**
 * Runs the method holding the distributed lock `name` (or the name computed from the call's
 * arguments), on whichever replica calls it; the lock is renewed while it runs and released when it
 * settles. The method becomes async. Inside, currentLock() gives `{ name, term, signal }`.
 *
 *   @WithLock((orderId: string) => `order/${orderId}`, { waitMs: 10_000 })
 *   async ship(orderId: string) { … }
 */
export function WithLock(
  name: string | ((...args: never[]) => string),
  options: WithLockOptions = {},
): MethodDecorator {
  if (typeof name === 'string') lockLeaseName(name, '@WithLock name');
  else if (typeof name !== 'function')
    throw new InvalidElectionOptionError(
      '@WithLock name',
      name,
      'a lock name, or a function of the arguments that returns one',
    );
  checkOptionKeys('@WithLock', options, OPTION_KEYS);
  const { waitMs } = resolveWaitOptions({ waitMs: options.waitMs });
  const ifLocked = options.ifLocked ?? 'throw';
  if (ifLocked !== 'throw' && ifLocked !== 'skip')
    throw new InvalidElectionOptionError('@WithLock ifLocked', ifLocked, '"throw" (default) or "skip"');

  return lockedMethod('@WithLock', (handlerName) => ({
    record: { kind: 'with-lock', handlerName },
    unlinked: () => {
      throw new LeaderElectionSetupError(
        `@WithLock on ${handlerName}: the instance is not a provider or controller of a Nest app ` +
          `with LeaderElectionModule (or it is request-scoped), so no lock can be taken; the method ` +
          `did not run`,
      );
    },
    run: async (service, call, args) => {
      const lockName = typeof name === 'string' ? name : (name as (...a: unknown[]) => string)(...args);
      if (ifLocked === 'throw') return service.withLock(lockName, call, { waitMs });
      const result = await service.tryWithLock(lockName, call, { waitMs });
      return result.acquired ? result.value : undefined;
    },
  }));
}
