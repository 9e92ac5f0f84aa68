import type { DiscoveryService } from '@nestjs/core';

/** The parts of Nest's InstanceWrapper the module reads (structural: no deep imports). */
export interface DiscoveredWrapper {
  readonly name: unknown;
  readonly token: unknown;
  readonly host?: { readonly name: string };
  readonly isAlias: boolean;
  readonly instance: unknown;
  metatype: unknown;
  readonly inject?: unknown;
  readonly isTransient: boolean;
  isDependencyTreeStatic(): boolean;
  getStaticTransientInstances(): Array<{ instance: unknown } | undefined>;
}

/**
 * The providers and controllers of this application whose classes the module scans for its
 * decorators, each instance once: one instance can sit behind several wrappers (useExisting aliases,
 * useValue of an existing instance under two tokens), and its leader work must be registered once.
 * Only what this app provides: a decorated class elsewhere in the process is none of its business.
 */
export function* discoveredClasses(
  discovery: DiscoveryService,
): Generator<{ wrapper: DiscoveredWrapper; prototype: object }> {
  const wrappers = [
    ...(discovery.getProviders() as unknown as DiscoveredWrapper[]),
    ...(discovery.getControllers() as unknown as DiscoveredWrapper[]),
  ];
  const seen = new WeakSet<object>();
  for (const wrapper of wrappers) {
    if (wrapper.isAlias) continue;
    const instance = wrapper.instance;
    if (instance && typeof instance === 'object') {
      if (seen.has(instance)) continue;
      seen.add(instance);
    }
    const prototype = prototypeOf(wrapper);
    if (prototype) yield { wrapper, prototype };
  }
}

function prototypeOf(wrapper: DiscoveredWrapper): object | undefined {
  const instance = wrapper.instance;
  if (instance && typeof instance === 'object')
    return (Object.getPrototypeOf(instance) as object | null) ?? undefined;
  const metatype = wrapper.metatype;
  if (typeof metatype === 'function' && !wrapper.inject) return metatype.prototype as object | undefined;
  return undefined;
}
