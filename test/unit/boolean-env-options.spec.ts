import { describe, expect, it } from '@jest/globals';
import {
  MODULE_OPTION_KEYS,
  resolveLeaderElectionOptions,
} from '../../lib/nest/leader-election-options.resolver.js';
import type { LeaderElectionModuleOptions } from '../../lib/nest/interfaces/leader-election-options.interface.js';
import { MemoryLeaseStore } from '../../lib/stores/memory/memory-lease-store.js';

// Issue 19 item 6: every option that takes true or false takes the strings "true" and "false" too
// (ConfigService.get() returns strings), with the same result. The test walks every module option:
// whichever accepts a boolean must accept its string the same way.

const store = new MemoryLeaseStore();
const base = { store, identity: 'replica-1' };

function resolve(extra: Record<string, unknown>): unknown {
  return resolveLeaderElectionOptions({ ...base, ...extra } as LeaderElectionModuleOptions);
}

function outcome(
  extra: Record<string, unknown>,
): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: resolve(extra) };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}

/** Options whose value is an object with boolean fields: walked one level down. */
const NESTED: Record<string, Record<string, unknown>> = {
  metrics: { meterName: 'm' },
  renewalThread: { maxBlockedMs: 60_000 },
  presence: { intervalMs: 10_000 },
  failback: { afterStableMs: 1_000 },
};

describe('boolean options accept "true"/"false" (issue 19.6)', () => {
  it('walks every module option key: a key that takes a boolean takes its string alike', () => {
    const checked: string[] = [];
    for (const key of MODULE_OPTION_KEYS) {
      for (const flag of [true, false]) {
        const plain = outcome({ [key]: flag });
        if (!plain.ok) continue;
        checked.push(`${key}=${String(flag)}`);
        const fromEnv = outcome({ [key]: String(flag) });
        expect({ key, flag, ...fromEnv }).toEqual({ key, flag, ...plain });
      }
    }
    for (const [key, shape] of Object.entries(NESTED)) {
      for (const field of ['includeIdentity', 'exitOnBlockedDeadline']) {
        for (const flag of [true, false]) {
          const plain = outcome({ [key]: { ...shape, [field]: flag } });
          if (!plain.ok) continue;
          checked.push(`${key}.${field}=${String(flag)}`);
          const fromEnv = outcome({ [key]: { ...shape, [field]: String(flag) } });
          expect({ key, field, flag, ...fromEnv }).toEqual({ key, field, flag, ...plain });
        }
      }
    }
    // The walk found the boolean options (so it can fail): the documented ones at least.
    expect(checked).toEqual(
      expect.arrayContaining([
        'createIfMissing=true',
        'releaseOnShutdown=false',
        'canLead=false',
        'presence=true',
        'presence=false',
        'failback=false',
        'renewalThread=true',
        'metrics=false',
        'logger=false',
        'metrics.includeIdentity=true',
        'renewalThread.exitOnBlockedDeadline=true',
      ]),
    );
  });

  it('presence: "false" from the environment turns presence off', () => {
    const resolved = resolveLeaderElectionOptions({ ...base, presence: 'false' as unknown as boolean });
    expect(resolved.election.preference.presence).toBe(false);
  });
});
