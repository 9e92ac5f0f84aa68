// Cost of the gate: @LeaderOnly vs undecorated (ns/call), and vs lock-per-run (latency, requests).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LockPerRunResult } from '../app/gate-worker.js';
import type { RequestCounts } from '../support/proxy.js';
import { fmt } from '../support/report.js';
import type { Summary } from '../support/stats.js';
import type { Suite } from './context.js';

interface GateResult {
  lockPerRun: LockPerRunResult;
  gate: {
    rounds: number;
    tasks: {
      name: string;
      nsPerCall: { mean: number; p50: number; p99: number; roundP50s: Summary };
      samples: number;
    }[];
    windowMs: number;
    calls: number;
    requests: RequestCounts;
  };
  ticks: { windowMs: number; leaderRuns: number; requests: RequestCounts };
  innerBatch: number;
}

const kinds = (counts: RequestCounts): string =>
  Object.entries(counts.byKind)
    .map(([kind, n]) => `${n} ${kind}`)
    .join(', ') || 'none';

export const gateSuite: Suite = {
  name: 'gate',
  description: '@LeaderOnly gate cost vs undecorated and vs lock-per-run',
  async run(ctx) {
    const azurite = await ctx.azurite();
    try {
      const resultFile = join(ctx.runDir, 'gate-worker.json');
      const worker = ctx.spawnApp('gate-worker', 'bench/perf/app/gate-worker.js', {
        AZURITE_PORT: String(azurite.port),
        RESULT_FILE: resultFile,
        BENCH_TIME_MS: String(ctx.settings.gateBenchTimeMs),
        ROUNDS: String(ctx.settings.gateRounds),
        LOCK_RUNS: String(ctx.settings.lockRuns),
        TICK_WINDOW_MS: String(ctx.settings.tickWindowMs),
      });
      const { code } = await worker.exited;
      if (code !== 0)
        throw new Error(
          `gate worker exited with ${code}; see ${join(ctx.runDir, 'logs', 'gate-worker.log')}`,
        );
      const result = JSON.parse(readFileSync(resultFile, 'utf8')) as GateResult;
      const { lockPerRun: lock, gate, ticks } = result;

      const plain = (name: string): number => gate.tasks.find((t) => t.name === name)!.nsPerCall.p50;
      const gateRows = gate.tasks.map((task) => {
        const base = task.name.includes('async') ? plain('undecorated (async)') : plain('undecorated (sync)');
        return [
          task.name,
          fmt(task.nsPerCall.p50, 0),
          `${fmt(task.nsPerCall.roundP50s.min, 0)} – ${fmt(task.nsPerCall.roundP50s.max, 0)}`,
          fmt(task.nsPerCall.mean, 0),
          fmt(task.nsPerCall.p99, 0),
          task.name.startsWith('undecorated') ? '–' : `+${fmt(task.nsPerCall.p50 - base, 0)}`,
          '0',
        ];
      });
      const renewMs = 5_000;
      const pollMs = 2_000;
      const expectedTicks = Math.round(ticks.windowMs / 10);
      return {
        data: result,
        tables: [
          {
            title: `Gate cost per call, in process (tinybench, batches of 1 000 calls, ${gate.rounds} rounds; ns per call, median over rounds)`,
            head: [
              'method',
              'p50 ns',
              'p50 range over rounds',
              'mean ns',
              'p99 ns',
              'gate overhead (p50)',
              'storage requests per call',
            ],
            rows: gateRows,
            notes: [
              `During the ${fmt(gate.windowMs / 1000, 1)} s bench window (${(gate.calls / 1e6).toFixed(1)} M calls) the counting proxy saw ${gate.requests.total} storage requests (${kinds(gate.requests)}): background renew/poll only (the sync tasks also hold the event loop, which delays them).`,
            ],
          },
          {
            title:
              'Scheduled ticks through the gate (@Interval(10) @LeaderOnly on the leader lease and on a follower lease, same app)',
            head: [
              'window',
              'ticks per method',
              'leader runs',
              'follower runs',
              'storage requests in window',
              'expected background (renew every 5 s + poll every ~2 s)',
            ],
            rows: [
              [
                `${fmt(ticks.windowMs / 1000, 1)} s`,
                `~${expectedTicks}`,
                ticks.leaderRuns,
                0,
                `${ticks.requests.total} (${kinds(ticks.requests)})`,
                `~${fmt(ticks.windowMs / renewMs + ticks.windowMs / pollMs, 0)}`,
              ],
            ],
            notes: [
              'Storage traffic does not depend on the tick rate: 0 requests per tick; the requests seen are the time-driven renewals of the leader lease and polls of the follower lease.',
            ],
          },
          {
            title:
              'Leader election gate vs lock-per-run (Acquire Lease + Release Lease around each run) on the same Azurite',
            head: ['approach', 'latency added per run p50', 'p90', 'max', 'storage requests per run'],
            rows: [
              [
                '@LeaderOnly, leader (runs)',
                `${fmt(plain('@LeaderOnly on the leader (sync)') / 1000, 2)} µs`,
                '',
                '',
                '0',
              ],
              [
                '@LeaderOnly, follower (skips)',
                `${fmt(plain('@LeaderOnly on a follower (sync, skipped)') / 1000, 2)} µs`,
                '',
                '',
                '0',
              ],
              [
                'lock-per-run, lock won (runs)',
                `${fmt(lock.winnerLatencyMs.p50, 2)} ms`,
                `${fmt(lock.winnerLatencyMs.p90, 2)} ms`,
                `${fmt(lock.winnerLatencyMs.max, 2)} ms`,
                `${lock.requestsPerWinnerRun} (${kinds(lock.winnerRequests)} per 100 runs)`,
              ],
              [
                'lock-per-run, lock held elsewhere (skips)',
                `${fmt(lock.loserLatencyMs.p50, 2)} ms`,
                `${fmt(lock.loserLatencyMs.p90, 2)} ms`,
                `${fmt(lock.loserLatencyMs.max, 2)} ms`,
                `${lock.requestsPerLoserRun} (${kinds(lock.loserRequests)} per 100 runs)`,
              ],
            ],
            notes: [
              `lock-per-run latency: ${lock.runs} sequential runs each, direct to Azurite on 127.0.0.1 (a real storage account adds network round trips: typically several ms each).`,
            ],
          },
        ],
      };
    } finally {
      await azurite.stop();
    }
  },
};
