import { ConfigService } from '@nestjs/config';
import { MemoryLeaseStore, type LeaderElectionModuleOptions } from 'nestjs-leader-election';

/**
 * Leader election settings from the environment:
 *   AZURE_STORAGE_CONNECTION_STRING  Azure Storage (or Azurite) connection string. Unset: an
 *                                    in-memory store (fine for one replica, not for several).
 *   INSTANCE_ID                      identity shown to other replicas (default <hostname>-<pid>)
 *   LEASE_CONTAINER                  container for lease blobs (default leader-election)
 *   LEASE_DURATION_SECONDS           15–60 (default 15)
 *   RETRY_INTERVAL_MS                follower poll interval (default 2000)
 *   PRIORITY                         this replica's priority, higher preferred (default: none)
 *   FAST_FAILOVER_LIVENESS_MS        turns fast failover on with this livenessMs (default: off)
 */
export function leaderElectionOptionsFromEnv(config: ConfigService): LeaderElectionModuleOptions {
  const connectionString = config.get<string>('AZURE_STORAGE_CONNECTION_STRING');
  const number = (key: string): number | undefined => {
    const raw = config.get<string>(key);
    return raw === undefined || raw === '' ? undefined : Number(raw);
  };
  return {
    ...(connectionString ? { connectionString } : { store: new MemoryLeaseStore() }),
    identity: config.get<string>('INSTANCE_ID') || undefined,
    containerName: config.get<string>('LEASE_CONTAINER') || undefined,
    leaseDurationSeconds: number('LEASE_DURATION_SECONDS'),
    retryIntervalMs: number('RETRY_INTERVAL_MS'),
    ...(number('PRIORITY') !== undefined ? { priority: number('PRIORITY') } : {}),
    ...(number('FAST_FAILOVER_LIVENESS_MS') !== undefined
      ? { fastFailover: { livenessMs: number('FAST_FAILOVER_LIVENESS_MS')! } }
      : {}),
  };
}
