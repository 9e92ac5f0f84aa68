import type { ContainerClient } from '@azure/storage-blob';
import type { TokenCredential } from '../../stores/azure-blob/azure-blob-lease-store.js';
import type { ElectionPreferenceOptions, ElectionTimingOptions } from '../../core/election-options.js';
import type { LeaseStore } from '../../core/lease-store.js';
import type { ElectionLogger } from '../../core/logger.js';
import type { MetricsMeterProvider } from '../../metrics/meter-types.js';

/**
 * What the health indicator reports for each lease.
 * - 'minimal' (default): status, leaseName, role, term, and when down a reason and the error code.
 *   Nothing about hosts, identities, storage accounts or error messages: safe on a public /health.
 * - 'full': also this replica's identity, the leader's identity, the last storage contact and the
 *   last error (kind, code, message; credentials redacted). For internal endpoints.
 */
export type HealthDetailsLevel = 'minimal' | 'full';

/**
 * Options of LeaderElectionModule.forRoot / forRootAsync.
 *
 * Storage: give exactly one of `connectionString`, `accountUrl` + `credential`, `containerClient`,
 * or a custom `store` (e.g. `new MemoryLeaseStore()` for a single process).
 * Timings (`leaseDurationSeconds`, `renewIntervalMs`, …) are documented on ElectionTimingOptions.
 *
 * Unknown keys are refused at boot (naming the nearest valid option). Numeric options also accept
 * plain decimal strings ("15", "0.2") and boolean options the strings "true"/"false", so values
 * from `ConfigService.get()` / `process.env` work as they are; "15s", "", " 15", "0x10", "1e3" are
 * refused with the option's name.
 */
export interface LeaderElectionModuleOptions extends ElectionTimingOptions, ElectionPreferenceOptions {
  /** Azure Storage connection string (account key or SAS). Never logged. */
  connectionString?: string;
  /** Blob service URL, e.g. https://<account>.blob.core.windows.net; use with `credential`. */
  accountUrl?: string;
  /** Microsoft Entra credential for `accountUrl`, e.g. new DefaultAzureCredential() from @azure/identity. */
  credential?: TokenCredential;
  /** An existing ContainerClient (its pipeline's retry policy is yours; keep retries short). */
  containerClient?: ContainerClient;
  /** Container for the lease blobs (ignored with containerClient). Default "leader-election". */
  containerName?: string;
  /** Create the container and lease blobs when missing, never overwriting. Default true. */
  createIfMissing?: boolean;
  /**
   * Followers observe every lease of the container with one List Blobs per poll (instead of one Get
   * Properties per lease) once they follow this many leases there. Default 13, the money break-even
   * (docs/OPERATIONS.md, "Many leases"). With Azure storage options only.
   */
  listingFromLeases?: number;
  /** A custom LeaseStore instead of Azure (tests, single-process development, other backends). */
  store?: LeaseStore;

  /** Lease used when @LeaderOnly() and the service are given no name. Default "leader". */
  leaseName?: string;
  /**
   * How this replica appears to others (pod name, instance id). Default `<hostname>-<pid>-<6 hex>` (random
   * per app start, so two apps never share one).
   */
  identity?: string;

  /**
   * Join the elections at boot (default true). false: the app takes part only once it calls
   * `LeaderElectionService.start()` (all leases) or `start(leaseName)`, e.g. after warming caches;
   * until then every @LeaderOnly call skips, no @LeaderTask runs, and health reports `up` with
   * `started: false`.
   */
  autoStart?: boolean;
  /** Release held leases on shutdown so a follower takes over within one poll. Default true. */
  releaseOnShutdown?: boolean;
  /** Longest wait for @LeaderOnly runs in flight at shutdown before releasing, ms. Default 10000. */
  shutdownTimeoutMs?: number;
  /** Max wait at boot for the first election attempt, ms (an outage never blocks longer). Default 10000. */
  startupTimeoutMs?: number;
  /** Health reports `down` once the store has been unreachable this long, ms. Default 3 × lease duration. */
  healthStoreOutageMs?: number;
  /** What health shows: 'minimal' (default, safe for a public endpoint) or 'full'. See HealthDetailsLevel. */
  healthDetails?: HealthDetailsLevel;
  /**
   * Renew held leases on a worker thread, so a leader-only job that blocks the event loop (CPU-bound
   * work) does not lose the lease: true, or { maxBlockedMs (default 60000: renewals stop once the main
   * thread has not run for that long, so a block keeps the lease below maxBlockedMs + D − margin −
   * renewInterval and loses it from maxBlockedMs + D − margin), exitOnBlockedDeadline (default false: end
   * the process if the main thread is still blocked when the lease deadline passes) }. Works with
   * `connectionString` and with `accountUrl` + `credential` (the credential stays on the main thread, which
   * mints tokens and hands each to the thread while it still has maxBlockedMs + 3 min to live). An existing
   * ContainerClient or a custom store cannot cross into a thread: renewals then stay on the main
   * thread, said once in the log. Default false.
   */
  renewalThread?: boolean | { maxBlockedMs?: number; exitOnBlockedDeadline?: boolean };
  /** Logger for election events; default Nest's Logger ("LeaderElection" context). `false` silences it. */
  logger?: ElectionLogger | false;
  /**
   * OpenTelemetry metrics of every election and @LeaderOnly gate (docs/metrics.md).
   * - not set (default): on when the optional peer `@opentelemetry/api` can be loaded, through its
   *   global MeterProvider (a no-op until an OpenTelemetry SDK registers one); off, silently, when it
   *   is not installed;
   * - `true` or an object: on; boot fails if `@opentelemetry/api` cannot be loaded and no
   *   `meterProvider` is given;
   * - `false`: off.
   */
  metrics?: boolean | LeaderElectionMetricsOptions;
}

/** The `metrics` module option in its object form. */
export interface LeaderElectionMetricsOptions {
  /**
   * Where instruments come from. Default: the global MeterProvider of `@opentelemetry/api`. Give the
   * SDK's MeterProvider to keep these metrics apart from the global one (or when the global one is set
   * only after the Nest app is created: the API hands out no-op meters until it is set).
   */
  meterProvider?: MetricsMeterProvider;
  /** Meter (instrumentation scope) name. Default "nestjs-leader-election". */
  meterName?: string;
  /**
   * Add this replica's identity as the `identity` attribute of every series. Default false: each
   * replica is scraped on its own, and the default identity changes at every restart (new series).
   */
  includeIdentity?: boolean;
}

/** Extras of forRoot/forRootAsync. */
export interface LeaderElectionModuleExtras {
  /**
   * Register the module globally, so feature modules inject LeaderElectionService,
   * LeaderOnlyInterceptor and LeaderElectionHealthIndicator without importing it (import it once,
   * in the root module, like ScheduleModule.forRoot()). Default true; `false` makes its providers
   * visible only in the module that imports it.
   */
  isGlobal?: boolean;
}
