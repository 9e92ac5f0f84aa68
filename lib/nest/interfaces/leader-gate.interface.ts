import type { HandlerKind } from '../utils/handler-kind.js';
import type { ReturnShape } from '../utils/return-shape.js';
import type { LeaderOnlyMetadata } from './leader-only-options.interface.js';

/** How a @LeaderOnly wrapper reaches the election of its app (see LEADER_GATE). */
export interface LeaderGate {
  runGated(metadata: LeaderOnlyMetadata, instance: object, call: () => unknown, info: GatedCall): unknown;
}

/** A gated call as the wrapper describes it. */
export interface GatedCall {
  kind: HandlerKind;
  /** Shared by every call of the method; the gate learns from leader runs (see return-shape.ts). */
  shape: ReturnShape;
}

/**
 * One @LeaderOnly call as the gate decided it (see LeaderGateRunner.gatedRuns$): it ran, or it was
 * skipped because this replica does not lead, the previous run is still going, the app is shutting
 * down, or the election has not been started yet (autoStart: false); a catchUp tick is skipped when
 * the tick ledger shows it started already, or cannot record it.
 */
export interface GatedRunEvent {
  leaseName: string;
  outcome: 'run' | 'skipped';
  /** tick_already_run / ledger_unavailable: a @LeaderOnly({ catchUp }) tick not recorded by this run. */
  reason?: 'not_leader' | 'overlap' | 'shutdown' | 'tick_already_run' | 'ledger_unavailable';
}

/** The current leader of a lease as this replica last saw it. */
export interface LeaderInfo {
  leaseName: string;
  identity: string;
  term: number | undefined;
  /** True when the leader is this replica. */
  self: boolean;
}
