import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  booleanFromEnv,
  InvalidElectionOptionError,
  NUMERIC_STRING_NOTE,
  numberFromEnv,
  refuseNullOptions,
  refuseUnknownOptions,
  resolveElectionOptions,
  PREFERENCE_OPTION_KEYS,
  TIMING_OPTION_KEYS,
  type ElectionOptions,
  type ElectionPreferenceOptions,
  type ElectionTimingOptions,
  type ResolvedElectionOptions,
} from '../core/election-options.js';
import type { LeaderElector, LeaderElectorDependencies } from '../core/leader-elector.js';
import type { LeaseStore } from '../core/lease-store.js';
import type { ElectionLogger } from '../core/logger.js';
import type { RenewalThreadConnection } from '../renewal/renewal-thread.js';
import { AzureBlobLeaseStore, DEFAULT_CONTAINER_NAME } from '../stores/azure-blob/azure-blob-lease-store.js';
import { DEFAULT_METER_NAME } from '../metrics/metric-names.js';
import type { MetricsMeterProvider } from '../metrics/meter-types.js';
import type {
  HealthDetailsLevel,
  LeaderElectionMetricsOptions,
  LeaderElectionModuleOptions,
} from './interfaces/leader-election-options.interface.js';
import {
  DEFAULT_LEASE_NAME,
  DEFAULT_SHUTDOWN_TIMEOUT_MS,
  DEFAULT_STARTUP_TIMEOUT_MS,
} from './leader-election.constants.js';
import { conflictingStores, noStoreConfigured } from './leader-election.messages.js';
import {
  BOOLEAN_ALLOWED,
  checkOption,
  MODULE_OPTION_KEYS,
  MODULE_OPTION_TABLE,
} from './options/module-option-table.js';
import { nullRefusedKeys, readEnvironmentStrings } from '../core/options/option-table.js';
import { LeaderElectionSetupError } from '../core/errors.js';

export interface ResolvedLeaderElectionOptions {
  store: LeaseStore;
  /** True when the store was built here (and so is ours to close). */
  ownsStore: boolean;
  defaultLeaseName: string;
  identity: string;
  /** Timings and preference options, passed to every election (the core resolves and checks them). */
  timings: ElectionTimingOptions & ElectionPreferenceOptions;
  /** Timings as resolved for the default lease (all leases share them). */
  election: ResolvedElectionOptions;
  /** False: elections start only when the app calls LeaderElectionService.start(). */
  autoStart: boolean;
  releaseOnShutdown: boolean;
  shutdownTimeoutMs: number;
  startupTimeoutMs: number;
  healthStoreOutageMs: number;
  /** What the health indicator shows: 'minimal' (public-safe, the default) or 'full'. */
  healthDetails: HealthDetailsLevel;
  /** Renewal off the main thread: its settings, or why it stays on the main thread (logged once). */
  renewalThread?:
    | (RenewalThreadConnection & {
        containerName: string;
        maxBlockedMs: number;
        exitOnBlockedDeadline: boolean;
      })
    | { fallback: string };
  logger?: ElectionLogger | false;
  /**
   * The `metrics` option: 'auto' (default) records when @opentelemetry/api loads; see ResolvedMetricsOptions.
   */
  metrics: ResolvedMetricsOptions;
  /**
   * Builds the election of one lease. Only the testing kit sets it (to a manually driven elector);
   * not a module option.
   */
  createElector?: (options: ElectionOptions, dependencies: LeaderElectorDependencies) => LeaderElector;
}

/** The `metrics` module option, validated. */
export interface ResolvedMetricsOptions {
  /** 'auto': on when @opentelemetry/api can be loaded (the default); true: on, or boot fails; false: off. */
  enabled: boolean | 'auto';
  meterProvider?: MetricsMeterProvider;
  meterName: string;
  includeIdentity: boolean;
}

const METRICS_OPTION_KEYS = [
  'meterProvider',
  'meterName',
  'includeIdentity',
] as const satisfies ReadonlyArray<keyof LeaderElectionMetricsOptions>;

/** Timing and preference options: per replica, passed to every election (the core checks them). */
const TIMING_KEYS = [...TIMING_OPTION_KEYS, ...PREFERENCE_OPTION_KEYS];

export { MODULE_OPTION_KEYS };

/**
 * `<hostname>-<pid>-<6 hex>`: the random part keeps two apps in one process, or containers on host
 * networking (where every pid is 1), from sharing an identity. Set `identity` (e.g. the pod name) for
 * a stable, readable one.
 */
export function defaultIdentity(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/**
 * Validates module options and builds the store. Runs in a provider factory, so any error here
 * stops the application from booting, with a message naming the option. Nothing here touches the
 * network: a storage outage at boot is not a configuration error.
 */
export function resolveLeaderElectionOptions(
  options: LeaderElectionModuleOptions | undefined,
): ResolvedLeaderElectionOptions {
  if (options === null || typeof options !== 'object') {
    throw new InvalidElectionOptionError('options', options, 'an object (LeaderElectionModuleOptions)');
  }
  refuseUnknownOptions(options, MODULE_OPTION_KEYS, 'LeaderElectionModule option');
  refuseNullOptions(options, nullRefusedKeys(MODULE_OPTION_TABLE));
  // One pass over the table: environment strings read ("15", "true"), then each value checked.
  const input = readEnvironmentStrings(options, MODULE_OPTION_TABLE);
  const defaultLeaseName = checkOption<string>('leaseName', input.leaseName ?? DEFAULT_LEASE_NAME);
  const identity = checkOption<string>('identity', input.identity ?? defaultIdentity());

  const timings: Record<string, unknown> = {};
  for (const key of TIMING_KEYS) if (input[key] !== undefined) timings[key] = input[key];
  const election = resolveElectionOptions({
    ...(timings as ElectionTimingOptions & ElectionPreferenceOptions),
    leaseName: defaultLeaseName,
    identity,
  });

  const autoStart = checkOption<boolean>('autoStart', input.autoStart ?? true);
  const releaseOnShutdown = checkOption<boolean>('releaseOnShutdown', input.releaseOnShutdown ?? true);
  const shutdownTimeoutMs = checkOption<number>(
    'shutdownTimeoutMs',
    input.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS,
  );
  const startupTimeoutMs = checkOption<number>(
    'startupTimeoutMs',
    input.startupTimeoutMs ?? DEFAULT_STARTUP_TIMEOUT_MS,
  );
  const healthStoreOutageMs = checkOption<number>(
    'healthStoreOutageMs',
    input.healthStoreOutageMs ?? 3 * election.leaseDurationMs,
  );
  const createIfMissing =
    input.createIfMissing === undefined
      ? undefined
      : checkOption<boolean>('createIfMissing', input.createIfMissing);
  const healthDetails = checkOption<HealthDetailsLevel>('healthDetails', input.healthDetails ?? 'minimal');

  const logger = input.logger as
    Partial<Record<'log' | 'warn' | 'error', unknown>> | false | undefined | null;
  if (
    logger !== undefined &&
    logger !== false &&
    (typeof logger !== 'object' ||
      logger === null ||
      typeof logger.log !== 'function' ||
      typeof logger.warn !== 'function' ||
      typeof logger.error !== 'function')
  ) {
    throw new InvalidElectionOptionError(
      'logger',
      options.logger,
      'false or an object with log, warn and error methods (e.g. a Nest Logger)',
    );
  }

  const metrics = resolveMetricsOption(input.metrics);

  const listingFromLeases =
    input.listingFromLeases === undefined
      ? undefined
      : checkOption<number>('listingFromLeases', input.listingFromLeases);
  const { store, ownsStore } = buildStore({ ...options, createIfMissing, listingFromLeases });
  const renewalThread = resolveRenewalThread(input);
  return {
    ...(renewalThread ? { renewalThread } : {}),
    store,
    ownsStore,
    defaultLeaseName,
    identity,
    timings: timings as ElectionTimingOptions & ElectionPreferenceOptions,
    election,
    autoStart,
    releaseOnShutdown,
    shutdownTimeoutMs,
    startupTimeoutMs,
    healthStoreOutageMs,
    healthDetails,
    logger: logger === false ? false : options.logger,
    metrics,
  };
}

/**
 * `renewalThread: true | { maxBlockedMs, exitOnBlockedDeadline }`. Only strings can cross into a
 * worker thread: with a connection string the thread builds its own client; with accountUrl + a
 * TokenCredential the credential stays here and its tokens are handed over (TokenRelay); with an
 * existing ContainerClient or a custom store, renewals stay on the main thread (said once in the log).
 */
function resolveRenewalThread(
  options: LeaderElectionModuleOptions,
): ResolvedLeaderElectionOptions['renewalThread'] {
  const given = booleanFromEnv(options.renewalThread ?? false);
  if (given === false) return undefined;
  if (given !== true && (typeof given !== 'object' || given === null || Array.isArray(given))) {
    throw new InvalidElectionOptionError(
      'renewalThread',
      given,
      'false (default), true, or { maxBlockedMs, exitOnBlockedDeadline }',
    );
  }
  const spec = given === true ? {} : (given as { maxBlockedMs?: unknown; exitOnBlockedDeadline?: unknown });
  refuseUnknownOptions(spec, ['maxBlockedMs', 'exitOnBlockedDeadline'], 'renewalThread option');
  const maxBlockedMs = numberFromEnv(spec.maxBlockedMs ?? 60_000);
  if (
    typeof maxBlockedMs !== 'number' ||
    !Number.isFinite(maxBlockedMs) ||
    maxBlockedMs < 1_000 ||
    maxBlockedMs > 3_600_000
  ) {
    throw new InvalidElectionOptionError(
      'renewalThread.maxBlockedMs',
      maxBlockedMs,
      'a number of ms from 1000 to 3600000 (default 60000)' + NUMERIC_STRING_NOTE,
    );
  }
  const exitOnBlockedDeadline = booleanFromEnv(spec.exitOnBlockedDeadline ?? false);
  if (typeof exitOnBlockedDeadline !== 'boolean')
    throw new InvalidElectionOptionError(
      'renewalThread.exitOnBlockedDeadline',
      exitOnBlockedDeadline,
      BOOLEAN_ALLOWED,
    );
  const settings = {
    containerName: options.containerName ?? DEFAULT_CONTAINER_NAME,
    maxBlockedMs,
    exitOnBlockedDeadline,
  };
  if (typeof options.connectionString === 'string' && options.connectionString !== '')
    return { connectionString: options.connectionString, ...settings };
  if (typeof options.accountUrl === 'string' && options.credential)
    return { accountUrl: options.accountUrl, credential: options.credential, ...settings };
  const source = options.containerClient ? 'an existing ContainerClient' : 'a custom store';
  return {
    fallback:
      `renewals stay on the main thread: ${source} cannot be handed to a worker thread (a connection ` +
      `string or accountUrl + credential can)`,
  };
}

function resolveMetricsOption(given: unknown): ResolvedMetricsOptions {
  const defaults = { meterName: DEFAULT_METER_NAME, includeIdentity: false };
  const value = booleanFromEnv(given);
  if (value === undefined) return { enabled: 'auto', ...defaults };
  if (typeof value === 'boolean') return { enabled: value, ...defaults };
  const allowed =
    'true, false, or { meterProvider?, meterName?, includeIdentity? } (the strings "true" and "false" ' +
    'are accepted too)';
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InvalidElectionOptionError('metrics', value, allowed);
  refuseUnknownOptions(value, METRICS_OPTION_KEYS, 'metrics option');
  const { meterProvider, meterName, includeIdentity } = value as LeaderElectionMetricsOptions;
  if (
    meterProvider !== undefined &&
    (typeof meterProvider !== 'object' ||
      meterProvider === null ||
      typeof meterProvider.getMeter !== 'function')
  ) {
    throw new InvalidElectionOptionError(
      'metrics.meterProvider',
      meterProvider,
      "an OpenTelemetry MeterProvider (an object with getMeter), e.g. the SDK's MeterProvider",
    );
  }
  if (
    meterName !== undefined &&
    (typeof meterName !== 'string' || meterName.trim() === '' || meterName.length > 255)
  ) {
    throw new InvalidElectionOptionError(
      'metrics.meterName',
      meterName,
      'a non-empty string of at most 255 characters',
    );
  }
  const identity = booleanFromEnv(includeIdentity ?? false);
  if (typeof identity !== 'boolean')
    throw new InvalidElectionOptionError('metrics.includeIdentity', identity, BOOLEAN_ALLOWED);
  return {
    enabled: true,
    ...(meterProvider ? { meterProvider } : {}),
    meterName: meterName ?? DEFAULT_METER_NAME,
    includeIdentity: identity,
  };
}

/**
 * containerName only names the container for a connection string or accountUrl: ignoring it beside a
 * ContainerClient of another container or a custom store would let replicas elect on different
 * containers (two leaders), so it is refused like credential without accountUrl.
 */
function refuseContainerNameThatCannotApply(
  options: Pick<LeaderElectionModuleOptions, 'containerName' | 'containerClient'>,
  storeOption: string | undefined,
): void {
  if (options.containerName === undefined) return;
  if (storeOption === 'store') {
    throw new LeaderElectionSetupError(
      'LeaderElectionModule: "containerName" is only used with "connectionString" or "accountUrl", but ' +
        'store was given (a custom store chooses where its leases live). Remove containerName.',
    );
  }
  const clientContainer = (options.containerClient as { containerName?: unknown } | undefined)?.containerName;
  if (storeOption === 'containerClient' && options.containerName !== clientContainer) {
    throw new LeaderElectionSetupError(
      'LeaderElectionModule: "containerName" is only used with "connectionString" or "accountUrl", but ' +
        `containerClient was given (its container is ${JSON.stringify(String(clientContainer))}). ` +
        'Remove containerName, or pass a ContainerClient of the container you mean.',
    );
  }
}

function buildStore(
  options: Omit<LeaderElectionModuleOptions, 'createIfMissing' | 'listingFromLeases'> & {
    createIfMissing?: boolean;
    listingFromLeases?: number;
  },
): { store: LeaseStore; ownsStore: boolean } {
  const given = (['connectionString', 'accountUrl', 'containerClient', 'store'] as const).filter(
    (key) => options[key] !== undefined && options[key] !== null && options[key] !== '',
  );
  if (given.length > 1) throw new LeaderElectionSetupError(conflictingStores(given));
  if (given.length === 0) {
    if (options.connectionString === '') {
      throw new InvalidElectionOptionError(
        'connectionString',
        '',
        'a non-empty Azure Storage connection string (is the environment variable set?)',
      );
    }
    throw new LeaderElectionSetupError(noStoreConfigured());
  }
  if (options.credential !== undefined && given[0] !== 'accountUrl') {
    throw new LeaderElectionSetupError(
      `LeaderElectionModule: "credential" is only used with "accountUrl", but ${given[0]} was given.`,
    );
  }
  refuseContainerNameThatCannotApply(options, given[0]);
  if (options.store) {
    if (options.listingFromLeases !== undefined)
      throw new LeaderElectionSetupError(
        'LeaderElectionModule: "listingFromLeases" applies to the Azure store the module builds, but a ' +
          'custom store was given: remove it (a custom store lists if it implements LeaseLister).',
      );
    const store = options.store;
    for (const method of ['observe', 'acquire', 'renew', 'release'] as const) {
      if (typeof (store as unknown as Record<string, unknown>)[method] !== 'function') {
        throw new InvalidElectionOptionError(
          'store',
          store,
          `a LeaseStore with observe, acquire, renew and release methods (missing ${method})`,
        );
      }
    }
    return { store, ownsStore: false };
  }
  const listing =
    options.listingFromLeases === undefined ? {} : { listingFromLeases: options.listingFromLeases };
  const common = {
    containerName: options.containerName,
    createIfMissing: options.createIfMissing,
    ...listing,
  };
  if (options.containerClient) {
    const client = options.containerClient as unknown as Record<string, unknown>;
    if (
      typeof client !== 'object' ||
      typeof client.getBlobClient !== 'function' ||
      typeof client.url !== 'string'
    ) {
      // Described by type only: a client object carries its credential (account key, SAS).
      throw new InvalidElectionOptionError(
        'containerClient',
        options.containerClient,
        'a ContainerClient from @azure/storage-blob (e.g. blobServiceClient.getContainerClient(name))',
      );
    }
    return {
      store: new AzureBlobLeaseStore({
        containerClient: options.containerClient,
        createIfMissing: options.createIfMissing,
        ...listing,
      }),
      ownsStore: true,
    };
  }
  if (options.accountUrl) {
    if (
      !options.credential ||
      typeof (options.credential as { getToken?: unknown }).getToken !== 'function'
    ) {
      throw new InvalidElectionOptionError(
        'credential',
        options.credential,
        'a TokenCredential with a getToken method (e.g. new DefaultAzureCredential() from ' +
          '@azure/identity) when "accountUrl" is given',
      );
    }
    return {
      store: new AzureBlobLeaseStore({
        accountUrl: options.accountUrl,
        credential: options.credential,
        ...common,
      }),
      ownsStore: true,
    };
  }
  return {
    store: new AzureBlobLeaseStore({ connectionString: options.connectionString!, ...common }),
    ownsStore: true,
  };
}
