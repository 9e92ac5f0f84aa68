import { InvalidElectionOptionError } from '../../core/errors.js';
import { MAX_TIMER_DELAY_MS } from '../../core/clock.js';
import { validateIdentity, validateLeaseName } from '../../core/options/names.js';
import { NUMERIC_STRING_NOTE } from '../../core/options/option-input.js';
import { PREFERENCE_OPTION_TABLE, TIMING_OPTION_TABLE } from '../../core/options/election-option-table.js';
import { keysOf, type OptionRow, type OptionTable } from '../../core/options/option-table.js';
import {
  checkListingFromLeases,
  DEFAULT_LISTING_FROM_LEASES,
  LISTING_FROM_LEASES_ALLOWED,
} from '../../stores/azure-blob/lease-listing.js';
import type {
  HealthDetailsLevel,
  LeaderElectionModuleOptions,
} from '../interfaces/leader-election-options.interface.js';

export const BOOLEAN_ALLOWED =
  'true or false (the strings "true" and "false" are accepted too, e.g. from the environment)';

const HEALTH_DETAILS_LEVELS: readonly HealthDetailsLevel[] = ['minimal', 'full'];

function checkBoolean(value: unknown, option: string): boolean {
  if (typeof value !== 'boolean') throw new InvalidElectionOptionError(option, value, BOOLEAN_ALLOWED);
  return value;
}

/** A wait that ends up in setTimeout: Node fires anything above 2^31 − 1 ms after 1 ms instead. */
function checkTimerMs(value: unknown, option: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_TIMER_DELAY_MS) {
    const allowed = `a number of ms from 0 to ${MAX_TIMER_DELAY_MS} (about 24.8 days, Node's timer limit)`;
    throw new InvalidElectionOptionError(
      option,
      value,
      typeof value === 'string' ? `${allowed}${NUMERIC_STRING_NOTE}` : allowed,
    );
  }
  return value;
}

const storage = (doc: string): OptionRow => ({
  type: 'object',
  env: 'none',
  default: '—',
  range: 'exactly one storage option',
  doc,
  nullable: true,
});

const timerRow = (defaultText: string, doc: string): OptionRow => ({
  type: 'number (ms)',
  env: 'number',
  default: defaultText,
  range: `from 0 to ${MAX_TIMER_DELAY_MS} (Node's timer limit)`,
  doc,
  check: checkTimerMs,
});

const booleanRow = (defaultText: string, doc: string): OptionRow => ({
  type: 'boolean',
  env: 'boolean',
  default: defaultText,
  range: 'true or false',
  doc,
  check: checkBoolean,
});

/** The election's own rows: null there means "default" for the module (the core refuses it per election). */
const electionRows = Object.fromEntries(
  Object.entries({ ...TIMING_OPTION_TABLE, ...PREFERENCE_OPTION_TABLE }).map(([key, row]) => [
    key,
    { ...row, nullable: true },
  ]),
) as OptionTable<keyof typeof TIMING_OPTION_TABLE | keyof typeof PREFERENCE_OPTION_TABLE>;

/**
 * Every option of LeaderElectionModule.forRoot/forRootAsync, one row each (see OptionRow). Unknown
 * keys are refused against it (with "did you mean"), environment strings are read by it, options
 * with a `check` are validated by it, and the options table of the docs is checked against it.
 */
export const MODULE_OPTION_TABLE: OptionTable<keyof LeaderElectionModuleOptions> = {
  connectionString: storage('Azure Storage connection string (key or SAS). Never logged.'),
  accountUrl: storage('Blob endpoint, with `credential` (a TokenCredential, e.g. DefaultAzureCredential).'),
  credential: storage('The TokenCredential for `accountUrl`.'),
  containerClient: storage(
    'An existing ContainerClient (keep its retries short: the elector retries itself).',
  ),
  containerName: {
    type: 'string',
    env: 'none',
    default: '`leader-election`',
    range: 'Azure container naming rules',
    doc:
      'Container of the lease blobs (one blob per lease name). With `connectionString` or `accountUrl` ' +
      'only: refused beside `store`, and beside a `containerClient` of another container.',
  },
  createIfMissing: booleanRow(
    '`true`',
    'Create the container and lease blobs when missing; never overwrites.',
  ),
  listingFromLeases: {
    type: 'number',
    env: 'number',
    default: `\`${DEFAULT_LISTING_FROM_LEASES}\``,
    range: LISTING_FROM_LEASES_ALLOWED,
    doc:
      'Followers observe all leases of the container with one List Blobs per poll once they follow ' +
      'this many (Azure storage options only).',
    check: checkListingFromLeases,
  },
  store: storage('A custom LeaseStore (e.g. MemoryLeaseStore, single process only).'),
  leaseName: {
    type: 'string',
    env: 'none',
    default: '`leader`',
    range: "1–200 characters: letters, digits, '.', '_', '-', '/'",
    doc: 'Lease used when @LeaderOnly() and the service get no name.',
    check: (value, option) => validateLeaseName(value, option),
  },
  identity: {
    type: 'string',
    env: 'none',
    default: '`<hostname>-<pid>-<6 hex>`',
    range: 'a non-empty string of at most 256 UTF-16 code units, no control characters',
    doc: 'How this replica appears to others (e.g. the pod name).',
    check: (value, option) => validateIdentity(value, option),
  },
  ...electionRows,
  autoStart: booleanRow(
    '`true`',
    'Join the elections at boot; false: only when the app calls service.start().',
  ),
  releaseOnShutdown: booleanRow(
    '`true`',
    'Release held leases on shutdown so a follower takes over within one poll.',
  ),
  shutdownTimeoutMs: timerRow('`10000`', 'Longest wait for leader work at shutdown and at a hand-over.'),
  startupTimeoutMs: timerRow('`10000`', 'Longest wait at boot for the first election attempt.'),
  healthStoreOutageMs: timerRow('3·D', 'Health reports down after storage has been unreachable this long.'),
  healthDetails: {
    type: '"minimal" | "full"',
    env: 'none',
    default: '`minimal`',
    range: 'one of "minimal", "full"',
    doc: 'What the health indicator shows.',
    check: (value, option) => {
      if (!HEALTH_DETAILS_LEVELS.includes(value as HealthDetailsLevel))
        throw new InvalidElectionOptionError(
          option,
          value,
          `one of ${HEALTH_DETAILS_LEVELS.map((level) => `"${level}"`).join(', ')}`,
        );
      return value;
    },
  },
  renewalThread: {
    type: 'boolean | { maxBlockedMs, exitOnBlockedDeadline }',
    env: 'boolean',
    default: '`false`',
    range: 'false, true, or { maxBlockedMs: 1000–3600000 (default 60000), exitOnBlockedDeadline: boolean }',
    doc: 'Renew held leases on a worker thread so a blocked event loop keeps the lease.',
    nullable: true,
  },
  logger: {
    type: 'logger | false',
    env: 'boolean',
    default: "Nest `Logger('LeaderElection')`",
    range: 'false or an object with log, warn and error methods',
    doc: 'Where election events are logged; false silences them.',
    nullable: true,
  },
  metrics: {
    type: 'boolean | { meterProvider?, meterName?, includeIdentity? }',
    env: 'boolean',
    default: 'on if `@opentelemetry/api` loads',
    range: 'true, false, or { meterProvider?, meterName?, includeIdentity? }',
    doc: 'OpenTelemetry metrics of every lease and @LeaderOnly gate.',
  },
};

/** Every module option: any other key is refused (a typo must not boot with a default). */
export const MODULE_OPTION_KEYS = keysOf(MODULE_OPTION_TABLE);

/** Runs the row's check on a given value (or its default). */
export function checkOption<T>(key: keyof LeaderElectionModuleOptions, value: unknown): T {
  const check = MODULE_OPTION_TABLE[key].check;
  return (check ? check(value, key) : value) as T;
}
