import { Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, ModulesContainer } from '@nestjs/core';
import {
  catchUpCallOf,
  gatedMethodsOf,
  getLeaderElectionHooks,
  leaderTasksOf,
} from './leader-election-metadata.accessor.js';
import { LEADER_GATE } from './leader-election.constants.js';
import {
  asyncIterableRefused,
  leaderWorkNeedsSingleton,
  registeredTwice,
  routeAndScheduledJob,
  unreachableInstances,
} from './leader-election.messages.js';
import { LeaderElectionRegistry } from './leader-election.registry.js';
import { LeaderElectionService } from './leader-election.service.js';
import { LeaderGateRunner } from './leader-gate.js';
import { LeaderWorkRunner } from './leader-work.js';
import {
  handlerKindFromMetadata,
  isRequestKind,
  isScheduledJob,
  recordHandlerKind,
  type HandlerKind,
} from './utils/handler-kind.js';
import { isAsyncGenerator } from './utils/return-shape.js';
import { discoveredClasses, type DiscoveredWrapper } from './utils/discovered-classes.js';
import { loadTransportErrors } from './utils/not-leader-error.js';
import { LeaderElectionSetupError } from '../core/errors.js';
import type { LeaderOnlyMetadata } from './interfaces/leader-only-options.interface.js';
import {
  SCHEDULE_CRON_OPTIONS,
  SCHEDULE_INTERVAL_OPTIONS,
  SCHEDULE_TIMEOUT_OPTIONS,
} from './locks/lock-decorators.metadata.js';
import { cronTicksOf, type CronSpec } from './utils/cron-ticks.js';

/** Nest's InstanceWrapper with its host module (structural: no deep imports). */
interface ExploredWrapper extends DiscoveredWrapper {
  readonly host?: NestModuleRef;
}

interface NestModuleRef {
  readonly name: string;
  readonly distance: number;
  readonly imports: Set<NestModuleRef>;
  readonly providers: Map<unknown, { hierarchyLevel: number }>;
  addProvider(provider: { provide: unknown; useValue: unknown }): unknown;
}

/**
 * At module init, for this application:
 * - refuses a second registration of the module (two services would each run their own elections
 *   and gate the same instances on either: one app = one election);
 * - finds every provider and controller with @LeaderOnly methods and records what kind of handler
 *   each method is (route, message pattern, resolver, gateway message, @Timeout), read from the
 *   FINAL method on the prototype, so the answer does not depend on which decorator wraps whom;
 * - links instances to this app's gate (LeaderGateRunner) (request-scoped and transient classes too:
 *   their per-request instances are built from a subclass that carries the link);
 * - registers the gate's closing in the first onModuleDestroy Nest runs (see closeGateEarly);
 * - starts the elections those methods use, waiting (bounded) for the first attempt, before any
 *   scheduled job starts (schedule starts jobs at bootstrap).
 */
@Injectable()
export class LeaderElectionExplorer implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly modules: ModulesContainer,
    private readonly registry: LeaderElectionRegistry,
    private readonly gate: LeaderGateRunner,
    private readonly work: LeaderWorkRunner,
  ) {}

  async onModuleInit(): Promise<void> {
    this.refuseSecondRegistration(this.discovery.getProviders() as unknown as ExploredWrapper[]);
    const handlerCounts = new Map<string, number>();
    const kinds = new Set<HandlerKind>();
    for (const { wrapper, prototype } of discoveredClasses(this.discovery)) {
      let gated = 0;
      // Found by class and property, not by the final method's metadata: a decorator outside
      // @LeaderOnly that does not copy metadata (a home-made @Log()) hides it from the method.
      for (const [name, metadata] of gatedMethodsOf(prototype)) {
        const method = (prototype as Record<string | symbol, unknown>)[name];
        gated++;
        // Recorded for every gated method, 'background' included, so a call never re-reads metadata.
        const kind = handlerKindFromMetadata(method) ?? 'background';
        if (isRequestKind(kind) && isScheduledJob(method))
          throw new LeaderElectionSetupError(routeAndScheduledJob(metadata.handlerName));
        if (isAsyncGenerator(metadata))
          throw new LeaderElectionSetupError(asyncIterableRefused(metadata.handlerName, '@LeaderOnly'));
        recordHandlerKind(metadata, kind);
        kinds.add(kind);
        const leaseName = metadata.leaseName ?? this.registry.options.defaultLeaseName;
        if (metadata.catchUp) this.registerCatchUp(wrapper, method, metadata, leaseName);
        handlerCounts.set(leaseName, (handlerCounts.get(leaseName) ?? 0) + 1);
      }
      if (gated > 0) this.linkToGate(wrapper);
      this.registerLeaderWork(wrapper, prototype);
    }
    await loadTransportErrors(kinds);
    this.closeGateEarly();
    this.gate.registerHandlers(handlerCounts);
    await this.registry.boot(handlerCounts.keys());
  }

  /**
   * @LeaderTask methods start with every tenure, and the hooks of @LeaderElection() classes
   * (OnLeadershipAcquired / OnLeadershipLost / OnLeaderChanged) receive every transition, both
   * registered before the elections start so
   * that the first acquisition is seen. They need the one long-lived instance: a request-scoped or
   * transient provider has none, so it is refused at boot rather than silently never run.
   */
  private registerLeaderWork(wrapper: DiscoveredWrapper, prototype: object): void {
    // By class and property, like gated methods: found under a decorator that does not copy metadata.
    const tasks = leaderTasksOf(prototype);
    const hooks = getLeaderElectionHooks(prototype.constructor);
    if (tasks.size === 0 && !hooks) return;
    const className = String(wrapper.name);
    if (
      !wrapper.isDependencyTreeStatic() ||
      wrapper.isTransient ||
      !wrapper.instance ||
      typeof wrapper.instance !== 'object'
    ) {
      throw new LeaderElectionSetupError(
        leaderWorkNeedsSingleton(
          className,
          tasks.size > 0 ? [...tasks.keys()].map(String) : ['@LeaderElection hooks'],
        ),
      );
    }
    const instance = wrapper.instance as Record<string | symbol, (...args: unknown[]) => unknown>;
    for (const [name, metadata] of tasks) {
      if (isAsyncGenerator(metadata))
        throw new LeaderElectionSetupError(asyncIterableRefused(metadata.handlerName, '@LeaderTask'));
      // The final method (an outer wrapper included), as a call from the app would run it.
      const { handlerName, ...options } = metadata;
      this.work.runWhileLeader((leadership) => instance[name]!.call(instance, leadership), {
        ...options,
        name: handlerName,
      });
    }
    if (hooks) this.work.addHooks(instance, hooks.leaseName, className);
  }

  /**
   * @LeaderOnly({ catchUp }) is for @Cron methods of singleton providers: only a cron schedule has
   * ticks with an identity every replica agrees on (its scheduled instants), and schedule registers
   * jobs of static providers only. Anything else is refused here, naming the method.
   */
  private registerCatchUp(
    wrapper: DiscoveredWrapper,
    method: unknown,
    metadata: LeaderOnlyMetadata,
    leaseName: string,
  ): void {
    const name = metadata.handlerName;
    const cron = (method ? Reflect.getMetadata(SCHEDULE_CRON_OPTIONS, method as object) : undefined) as
      CronSpec | undefined;
    if (!cron) {
      const what =
        method && Reflect.getMetadata(SCHEDULE_INTERVAL_OPTIONS, method as object)
          ? 'an @Interval method (an interval has no scheduled instants to catch up; it keeps ' +
            'ticking on the new leader)'
          : method && Reflect.getMetadata(SCHEDULE_TIMEOUT_OPTIONS, method as object)
            ? 'a @Timeout method (use runMissedTimeout, on by default, to run a missed @Timeout once)'
            : 'not a @Cron method';
      throw new LeaderElectionSetupError(
        `@LeaderOnly catchUp on ${name}: catchUp is allowed on @Cron methods only, and ${name} is ${what}; ` +
          'remove catchUp',
      );
    }
    const call = catchUpCallOf(metadata);
    const instance = wrapper.instance as object | undefined;
    if (
      !call ||
      !wrapper.isDependencyTreeStatic() ||
      wrapper.isTransient ||
      !instance ||
      typeof instance !== 'object'
    )
      throw new LeaderElectionSetupError(
        `@LeaderOnly catchUp on ${name}: catchUp needs a singleton provider (@nestjs/schedule runs @Cron ` +
          'jobs of static providers only); remove catchUp or make the provider a default-scoped singleton',
      );
    const ticks = cronTicksOf(cron, name);
    const gate = this.gate;
    gate.registerCatchUp({
      metadata,
      leaseName,
      deadlineMs: metadata.catchUp!.deadlineMs,
      ticks,
      runTick: (tickAt) =>
        gate.runGated(
          metadata,
          instance,
          () => call.original.apply(instance),
          { kind: 'background', shape: call.shape },
          tickAt,
        ),
    });
  }

  private refuseSecondRegistration(providers: ExploredWrapper[]): void {
    const hosts = new Set<NestModuleRef>();
    const services = new Set<unknown>();
    for (const wrapper of providers) {
      if (wrapper.token !== LeaderElectionService || wrapper.isAlias) continue;
      services.add(wrapper.instance);
      if (wrapper.host) hosts.add(wrapper.host);
    }
    if (services.size <= 1) return;
    const importers = new Set<string>();
    for (const module of this.modules.values() as unknown as Iterable<NestModuleRef>) {
      for (const host of hosts)
        if (module.imports.has(host) && !hosts.has(module)) importers.add(module.name);
    }
    throw new LeaderElectionSetupError(registeredTwice(services.size, [...importers]));
  }

  /**
   * A @LeaderOnly wrapper finds its app's gate through a hidden property of the instance it runs on
   * (several apps in one process each gate their own instances). Static instances get it now;
   * request-scoped and transient ones are created per request/consumer from wrapper.metatype, which
   * is replaced here, for this app only, by a subclass whose constructor adds the property (methods
   * and Nest metadata are inherited, and the class keeps its name).
   */
  private linkToGate(wrapper: DiscoveredWrapper): void {
    const link = (instance: unknown): void => {
      if (instance && typeof instance === 'object') {
        Object.defineProperty(instance, LEADER_GATE, {
          value: this.gate,
          enumerable: false,
          configurable: true,
          writable: true,
        });
      }
    };
    if (wrapper.isDependencyTreeStatic() && !wrapper.isTransient) {
      link(wrapper.instance);
      return;
    }
    for (const host of wrapper.isTransient ? wrapper.getStaticTransientInstances() : []) link(host?.instance);
    if (wrapper.isDependencyTreeStatic()) return; // transient, all instances created at boot
    const metatype = wrapper.metatype;
    if (typeof metatype !== 'function' || wrapper.inject || !metatype.prototype) {
      throw new LeaderElectionSetupError(unreachableInstances(String(wrapper.name)));
    }
    if ((metatype as { [GATED_SUBCLASS]?: boolean })[GATED_SUBCLASS]) return;
    const Base = metatype as new (...args: unknown[]) => object;
    const gate = this.gate;
    const Gated = class extends Base {
      constructor(...args: unknown[]) {
        super(...args);
        Object.defineProperty(this, LEADER_GATE, {
          value: gate,
          enumerable: false,
          configurable: true,
          writable: true,
        });
      }
    };
    Object.defineProperty(Gated, 'name', { value: Base.name });
    Object.defineProperty(Gated, GATED_SUBCLASS, { value: true });
    wrapper.metatype = Gated;
  }

  /**
   * Nest runs onModuleDestroy module by module, the root module first and global modules (this one)
   * last, so the registry's own hook would close the gate only after the application's modules were
   * destroyed: a tick could still run against a closed database. Register the closing (stop gated
   * runs, drain, release) as a provider of the module Nest destroys first, at the highest hierarchy
   * level so it runs before that module's other providers. Nest internals (Module.addProvider,
   * InstanceWrapper.hierarchyLevel): if they change, the registry's own onModuleDestroy still closes
   * the gate, later (docs/OPERATIONS.md says where to release resources either way).
   */
  private closeGateEarly(): void {
    try {
      // Nest's own order: sorted by distance, descending, then reversed (ties reversed too).
      const destroyOrder = [...(this.modules.values() as unknown as Iterable<NestModuleRef>)]
        .sort((a, b) => b.distance - a.distance)
        .reverse();
      const first = destroyOrder[0];
      if (!first) return;
      const token = Symbol('nestjs-leader-election:close-gate');
      first.addProvider({ provide: token, useValue: { onModuleDestroy: () => this.registry.shutdown() } });
      const hook = first.providers.get(token);
      if (hook) hook.hierarchyLevel = Number.MAX_SAFE_INTEGER;
    } catch {
      // Fallback: LeaderElectionRegistry.onModuleDestroy.
    }
  }
}

const GATED_SUBCLASS = Symbol('nestjs-leader-election:gated-subclass');
