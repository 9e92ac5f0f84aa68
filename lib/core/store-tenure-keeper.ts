import type { LeaseStore } from './lease-store.js';
import type { StoreRequests } from './store-requests.js';
import { TenureKeeper, type TenureKeeperHost } from './tenure-keeper.js';

/**
 * A TenureKeeper whose renewals and heartbeats are calls to `store` through `requests`, bounded by
 * their timeout and aborted when the tenure ends (split from leader-elector.ts to keep it small).
 */
export function tenureKeeperOverStore(
  store: LeaseStore,
  requests: StoreRequests,
  host: Omit<TenureKeeperHost, 'sendRenew' | 'sendHeartbeat'>,
): TenureKeeper {
  const { lease } = host;
  return new TenureKeeper({
    ...host,
    sendRenew: (tenure, timeoutMs) =>
      requests.send('renew', (signal) => store.renew(lease.leaseName, lease.leaseId, signal), {
        timeoutMs,
        signal: tenure.signal,
      }),
    sendHeartbeat: (tenure, timeoutMs) =>
      requests.send('heartbeat', (s) => store.heartbeat!(lease.leaseName, lease.leaseId, s), {
        timeoutMs,
        signal: tenure.signal,
      }),
  });
}
