import { Injectable, Module, type DynamicModule } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import {
  InvalidElectionOptionError,
  refuseNullOptions,
  refuseUnknownOptions,
  validateIdentity,
  type ElectionOptions,
} from '../core/election-options.js';
import { keysOf, readEnvironmentStrings, type OptionTable } from '../core/options/option-table.js';
import { MODULE_OPTION_TABLE } from '../nest/options/module-option-table.js';
import type { LeaderElectorDependencies, Leadership } from '../core/leader-elector.js';
import type { LeadershipEndReason } from '../core/leadership-events.js';
import type {
  HealthDetailsLevel,
  LeaderElectionModuleOptions,
} from '../nest/interfaces/leader-election-options.interface.js';
import { DEFAULT_LEASE_NAME, RESOLVED_LEADER_ELECTION_OPTIONS } from '../nest/leader-election.constants.js';
import {
  resolveLeaderElectionOptions,
  type ResolvedLeaderElectionOptions,
} from '../nest/leader-election-options.resolver.js';
import { LEADER_ELECTION_EXPORTS, LEADER_ELECTION_PROVIDERS } from '../nest/leader-election.providers.js';
import { MemoryLeaseStore } from '../stores/memory/memory-lease-store.js';
import { memoryTickLedgerOf, type MemoryTickLedger } from '../stores/memory/memory-tick-ledger.js';
import { ManualLeaderElector } from './manual-leader-elector.js';
import { UnknownLeaseError } from '../core/errors.js';
import { LOCK_DECISIONS } from '../nest/locks/lock.constants.js';
import { LockTesting } from './lock-testing.js';

export interface LeaderElectionTestingOptions {
  /** Role of every lease at boot. Default 'leader' (term 1), so leader-only code runs. */
  role?: 'leader' | 'follower';
  /** As a follower: the identity shown as leader (503 bodies, currentLeader()). Default "other-replica". */
  leader?: string;
  /** This replica's identity. Default "test-replica". */
  identity?: string;
  /** The module's default lease. Default "leader". */
  leaseName?: string;
  /** Default 'full', so tests can read identities from health. */
  healthDetails?: HealthDetailsLevel;
  /** Longest wait for runs and leader tasks at shutdown, ms. Default 10000. */
  shutdownTimeoutMs?: number;
  /** Default false (silent). */
  logger?: ResolvedLeaderElectionOptions['logger'];
  /**
   * The real module's `metrics` option, to test dashboards and alerts: e.g. `{ meterProvider }` with
   * an OpenTelemetry SDK MeterProvider and an in-memory reader; becomeLeader()/loseLeadership() and
   * every @LeaderOnly call then show up as they would in production (no store requests: no request
   * durations). Default false: a test app records nothing, even when @opentelemetry/api is installed.
   */
  metrics?: LeaderElectionModuleOptions['metrics'];
}

/**
 * The testing kit's options, one row each: its own (role, leader) and the real module's rows for the
 * options it shares. Unknown keys are refused against it, as the real module does.
 */
export const TESTING_OPTION_TABLE: OptionTable<keyof LeaderElectionTestingOptions> = {
  role: {
    type: '"leader" | "follower"',
    env: 'none',
    default: '`leader`',
    range: '"leader" (default) or "follower"',
    doc: 'Role of every lease at boot (leader: term 1).',
    check: (value, option) => {
      if (value !== 'leader' && value !== 'follower')
        throw new InvalidElectionOptionError(option, value, '"leader" (default) or "follower"');
      return value;
    },
  },
  leader: {
    type: 'string',
    env: 'none',
    default: '`other-replica`',
    range: 'an identity',
    doc: 'As a follower: the identity shown as leader.',
    check: (value, option) => validateIdentity(value, option),
  },
  identity: { ...MODULE_OPTION_TABLE.identity, default: '`test-replica`' },
  leaseName: MODULE_OPTION_TABLE.leaseName,
  healthDetails: { ...MODULE_OPTION_TABLE.healthDetails, default: '`full`' },
  shutdownTimeoutMs: MODULE_OPTION_TABLE.shutdownTimeoutMs,
  logger: { ...MODULE_OPTION_TABLE.logger, default: '`false`' },
  metrics: { ...MODULE_OPTION_TABLE.metrics, default: '`false`' },
};

/**
 * Checks the kit's options against its table (unknown keys, nulls, role, leader) as the real module
 * does; the options it shares with the real module are checked again by the real resolver at boot.
 */
export function validateTestingOptions(options: unknown): LeaderElectionTestingOptions {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options))
    throw new InvalidElectionOptionError('options', options, 'an object (LeaderElectionTestingOptions)');
  refuseUnknownOptions(options, keysOf(TESTING_OPTION_TABLE), 'LeaderElectionTestingModule option');
  refuseNullOptions(options);
  const input = readEnvironmentStrings(options as LeaderElectionTestingOptions, TESTING_OPTION_TABLE);
  for (const key of ['role', 'leader'] as const)
    if (input[key] !== undefined) TESTING_OPTION_TABLE[key].check!(input[key], key);
  return input;
}

/**
 * Drives the elections of a LeaderElectionTestingModule: make this app leader or follower of a lease,
 * end a tenure with a chosen reason, choose terms. Inject it in a test (`app.get(LeaderElectionTesting)`).
 * Everything it changes flows through the real gate, hooks, leader tasks, state stream and health.
 */
@Injectable()
export class LeaderElectionTesting {
  private readonly electors = new Map<string, ManualLeaderElector>();
  /** @internal The kit's store (its tick ledger is the app's). */
  readonly store = new MemoryLeaseStore();

  constructor(private readonly options: LeaderElectionTestingOptions = {}) {}

  /** @internal The service's elector factory. */
  create(options: ElectionOptions, dependencies: LeaderElectorDependencies): ManualLeaderElector {
    const leading = (this.options.role ?? 'leader') === 'leader';
    const elector = new ManualLeaderElector(
      options,
      { logger: dependencies.logger, beforeHandover: dependencies.beforeHandover },
      leading ? { term: 1 } : undefined,
    );
    if (!leading) elector.follow(this.options.leader ?? 'other-replica', 1);
    this.electors.set(options.leaseName, elector);
    return elector;
  }

  /**
   * The app's tick ledger (@LeaderOnly({ catchUp }) records each @Cron tick here before it runs): read
   * it, or seed it with claim() to stand for ticks another replica ran.
   */
  get tickLedger(): MemoryTickLedger {
    return memoryTickLedgerOf(this.store);
  }

  /** The manually driven election of a lease (the default lease when no name is given). */
  elector(leaseName?: string): ManualLeaderElector {
    const name = leaseName ?? this.options.leaseName ?? DEFAULT_LEASE_NAME;
    const elector = this.electors.get(name);
    if (!elector) {
      throw new UnknownLeaseError(
        name,
        [...this.electors.keys()],
        `LeaderElectionTesting: lease "${name}" is not declared in this app (declared: ` +
          `${[...this.electors.keys()].map((n) => `"${n}"`).join(', ') || 'none yet'}); declare it with ` +
          `@LeaderOnly(name), @LeaderTask(name) or service.join(name)`,
      );
    }
    return elector;
  }

  /** This app becomes leader of the lease with `term` (default: one above the last). Returns the tenure. */
  becomeLeader(leaseName?: string, options: { term?: number } = {}): Leadership {
    return this.elector(leaseName).grant(options.term);
  }

  /**
   * This app stops leading the lease, with `reason` ('lost' by default; 'deadline', 'step-down'), and
   * optionally sees `leader` leading with `term` afterwards.
   */
  loseLeadership(
    leaseName?: string,
    options: { reason?: Exclude<LeadershipEndReason, 'stopped'>; leader?: string; term?: number } = {},
  ): void {
    const elector = this.elector(leaseName);
    elector.revoke(options.reason ?? 'lost');
    if (options.leader !== undefined) elector.follow(options.leader, options.term);
  }

  /** Another replica leads the lease (this app follows), with `term` (default: one above the last). */
  setLeader(leader: string, options: { leaseName?: string; term?: number } = {}): void {
    this.elector(options.leaseName).follow(leader, options.term);
  }
}

/**
 * LeaderElectionModule for tests: the same providers (LeaderElectionService, @LeaderOnly gate,
 * leader tasks, hooks, LeaderOnlyInterceptor, health), with elections driven by LeaderElectionTesting
 * instead of a store. No storage, no network, and no timer of its own: it behaves the same under
 * Jest's or Vitest's fake timers as without them. Global, like the real module.
 *
 *   Test.createTestingModule({
 *     imports: [LeaderElectionTestingModule.forRoot({ role: 'follower' }), JobsModule],
 *   })
 */
@Module({})
export class LeaderElectionTestingModule {
  static forRoot(given?: LeaderElectionTestingOptions): DynamicModule {
    const options = validateTestingOptions(given);
    const testing = new LeaderElectionTesting(options);
    return {
      module: LeaderElectionTestingModule,
      global: true,
      imports: [DiscoveryModule],
      providers: [
        {
          provide: RESOLVED_LEADER_ELECTION_OPTIONS,
          useFactory: (): ResolvedLeaderElectionOptions => ({
            ...resolveLeaderElectionOptions({
              store: testing.store,
              identity: options.identity ?? 'test-replica',
              leaseName: options.leaseName,
              healthDetails: options.healthDetails ?? 'full',
              shutdownTimeoutMs: options.shutdownTimeoutMs,
              logger: options.logger ?? false,
              metrics: options.metrics ?? false,
            }),
            createElector: (electionOptions, dependencies) => testing.create(electionOptions, dependencies),
          }),
        },
        { provide: LeaderElectionTesting, useValue: testing },
        // Locks and per-run ticks: acquired here unless a test says otherwise (no store, no timers).
        { provide: LockTesting, useValue: new LockTesting() },
        { provide: LOCK_DECISIONS, useExisting: LockTesting },
        ...LEADER_ELECTION_PROVIDERS,
      ],
      exports: [...LEADER_ELECTION_EXPORTS, LeaderElectionTesting, LockTesting],
    };
  }
}
