// What the renewal thread (renewalThread option) costs: one process leading 1 and 100 leases at
// default timings, with and without the thread; process CPU time over an idle-leadership window and
// memory after GC. One worker thread per process however many leases, so the 100-lease row shows
// what grows with the lease count (the renewals themselves, on either thread) and what does not.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fmt } from '../support/report.js';
import type { Suite, SuiteContext } from './context.js';

interface CostResult {
  leases: number;
  renewalThread: boolean;
  leadingAtEnd: number;
  renewIntervalMs: number;
  leaseDurationMs: number;
  wallMs: number;
  cpuUserMs: number;
  cpuSystemMs: number;
  cpuPercent: number;
  memoryBefore: { rssMB: number; heapUsedMB: number; externalMB: number; threads: number };
  memoryAfter: { rssMB: number; heapUsedMB: number; externalMB: number; threads: number };
}

async function measure(ctx: SuiteContext, leases: number, thread: boolean): Promise<CostResult> {
  const azurite = await ctx.azurite();
  const tag = `renewal-cost-${leases}-${thread ? 'thread' : 'main'}`;
  const resultFile = join(ctx.runDir, `${tag}.json`);
  try {
    const worker = ctx.spawnApp(
      tag,
      'bench/perf/app/renewal-cost-worker.js',
      {
        AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
        RESULT_FILE: resultFile,
        LEASES: String(leases),
        ...(thread ? { RENEWAL_THREAD: '1' } : {}),
        WARMUP_MS: String(ctx.settings.renewalCostWarmupMs),
        DURATION_MS: String(ctx.settings.renewalCostWindowMs),
      },
      ['--expose-gc'],
    );
    const { code } = await worker.exited;
    if (code !== 0) throw new Error(`renewal-cost worker exited with ${code}; see logs/${tag}.log`);
    return JSON.parse(readFileSync(resultFile, 'utf8')) as CostResult;
  } finally {
    await azurite.stop();
  }
}

export const renewalCostSuite: Suite = {
  name: 'renewal-cost',
  description:
    'memory and CPU of the renewal thread: one process leading 1 and 100 leases, with and without renewalThread',
  async run(ctx) {
    const results: CostResult[] = [];
    for (const leases of [1, 100]) {
      for (const thread of [false, true]) {
        ctx.log(`renewal-cost: ${leases} lease(s), ${thread ? 'renewal thread' : 'main-thread renewals'}`);
        results.push(await measure(ctx, leases, thread));
      }
    }
    const find = (leases: number, thread: boolean): CostResult =>
      results.find((r) => r.leases === leases && r.renewalThread === thread)!;
    const delta = (a: number, b: number, digits: number): string =>
      `${b - a >= 0 ? '+' : ''}${fmt(b - a, digits)}`;
    const cpuMs = (r: CostResult): number => r.cpuUserMs + r.cpuSystemMs;
    return {
      data: { results },
      tables: [
        {
          title: `Cost of the renewal thread (one process leading N leases alone, D = 15 s, renew every 5 s; idle leadership for ${fmt(ctx.settings.renewalCostWindowMs / 1000, 0)} s; memory after a full GC)`,
          head: [
            'leases',
            'renewals',
            'OS threads',
            'RSS',
            'main heap used',
            'CPU time (user + system)',
            'CPU',
            'leading at the end',
          ],
          rows: results.map((r) => [
            r.leases,
            r.renewalThread ? 'renewal thread' : 'main thread',
            r.memoryAfter.threads,
            `${fmt(r.memoryAfter.rssMB, 1)} MB`,
            `${fmt(r.memoryAfter.heapUsedMB, 1)} MB`,
            `${cpuMs(r)} ms (${r.cpuUserMs} + ${r.cpuSystemMs})`,
            `${fmt(r.cpuPercent, 2)} %`,
            `${r.leadingAtEnd}/${r.leases}`,
          ]),
          notes: [1, 100].map((leases) => {
            const main = find(leases, false);
            const thread = find(leases, true);
            return `${leases} lease(s): the thread adds ${delta(main.memoryAfter.rssMB, thread.memoryAfter.rssMB, 1)} MB RSS, ${delta(main.memoryAfter.heapUsedMB, thread.memoryAfter.heapUsedMB, 1)} MB main heap, ${thread.memoryAfter.threads - main.memoryAfter.threads} OS threads, ${delta(cpuMs(main), cpuMs(thread), 0)} ms CPU over ${fmt(thread.wallMs / 1000, 0)} s (${delta(main.cpuPercent, thread.cpuPercent, 2)} % of one core)`;
          }),
        },
      ],
    };
  },
};
