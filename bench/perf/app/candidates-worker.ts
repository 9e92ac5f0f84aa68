/**
 * Benchmark worker: CANDIDATES (default 100) LeaderElectors on ONE lease in one process, each with
 * its own AzureBlobLeaseStore (its own client, its own lease id), at default timings. Every
 * SAMPLE_MS it counts the candidates whose isLeader() is true (must be exactly one, except during a
 * handoff, when it may be zero). Every HANDOFF_EVERY_MS the leader steps down (releases the lease)
 * so the other 99 race for it; the gap without a leader is recorded per handoff. CPU time and
 * event-loop delay of the process are measured over the run.
 *
 * Env: STORAGE_PORT (Azurite, or a counting proxy in front of it), RESULT_FILE, CANDIDATES,
 *      DURATION_MS (default 60000), SAMPLE_MS (default 100), HANDOFF_EVERY_MS (default 15000).
 */
import { writeFileSync } from 'node:fs';
import { AzureBlobLeaseStore, LeaderElector, silentLogger } from 'nestjs-leader-election';
import { connectionStringFor, envNumber, envString } from '../support/azurite-connection.js';
import { summarize } from '../support/stats.js';
import { loopDelayMs, startLoopDelay } from '../support/loop-delay.js';

const storagePort = envNumber('STORAGE_PORT');
const resultFile = envString('RESULT_FILE');
const candidates = envNumber('CANDIDATES', 100);
const durationMs = envNumber('DURATION_MS', 60_000);
const sampleMs = envNumber('SAMPLE_MS', 100);
const handoffEveryMs = envNumber('HANDOFF_EVERY_MS', 15_000);
const leaseName = `candidates-${process.pid}`;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const memoryBefore = process.memoryUsage();
  const electors = Array.from({ length: candidates }, (_, i) => {
    const store = new AzureBlobLeaseStore({
      connectionString: connectionStringFor(storagePort),
      containerName: 'bench-candidates',
    });
    return new LeaderElector(
      store,
      { leaseName, identity: `candidate-${String(i).padStart(3, '0')}` },
      { logger: silentLogger },
    );
  });
  // Exact handoff gaps: the moment each candidate becomes leader (from its state stream).
  const becameLeaderAt: number[] = [];
  for (const elector of electors) {
    elector.state$.subscribe((state) => {
      if (state.role === 'leader') becameLeaderAt.push(performance.now());
    });
  }
  const handoffAt: number[] = [];
  const loop = startLoopDelay();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const startedAt = Date.now();
  await Promise.all(electors.map((elector) => elector.start()));
  const firstLeaderMs = performance.now() - t0;

  const histogram = new Map<number, number>(); // leaders seen in a sample -> samples
  let samples = 0;
  let moreThanOne = 0;
  let none = 0;
  let lastHandoff = performance.now();
  const terms = new Set<number>();
  const leaderChanges: { at: number; identity: string; term: number }[] = [];
  let lastLeader: string | undefined;

  while (performance.now() - t0 < durationMs) {
    await sleep(sampleMs);
    // One synchronous pass over all candidates: a consistent snapshot of who believes it leads.
    const leaders = electors.filter((elector) => elector.isLeader());
    samples++;
    histogram.set(leaders.length, (histogram.get(leaders.length) ?? 0) + 1);
    if (leaders.length > 1) moreThanOne++;
    const now = performance.now();
    if (leaders.length === 0) {
      none++;
    } else {
      const leader = leaders[0]!;
      const term = leader.leadership!.term;
      terms.add(term);
      if (leader.identity !== lastLeader) {
        leaderChanges.push({ at: Date.now() - startedAt, identity: leader.identity, term });
        lastLeader = leader.identity;
      }
      if (handoffEveryMs > 0 && now - lastHandoff >= handoffEveryMs) {
        lastHandoff = now;
        handoffAt.push(performance.now());
        await leader.stepDown(); // release; it sits out one lease duration, the other 99 race
      }
    }
  }
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  loop.disable();
  const memoryAfter = process.memoryUsage();
  await Promise.all(electors.map((elector) => elector.stop()));
  const handoffGapsMs = handoffAt
    .map((at) => becameLeaderAt.find((t) => t > at))
    .map((t, i) => (t === undefined ? NaN : t - handoffAt[i]!));

  writeFileSync(
    resultFile,
    JSON.stringify(
      {
        candidates,
        durationMs: Math.round(wallMs),
        firstLeaderMs: Math.round(firstLeaderMs),
        samples,
        samplesWithLeaders: Object.fromEntries(histogram),
        samplesWithMoreThanOneLeader: moreThanOne,
        samplesWithNoLeader: none,
        handoffs: handoffGapsMs.length,
        handoffGapMs: summarize(handoffGapsMs),
        distinctTerms: terms.size,
        leaderChanges,
        cpu: {
          userMs: cpu.user / 1000,
          systemMs: cpu.system / 1000,
          percentOfOneCore: ((cpu.user + cpu.system) / 1000 / wallMs) * 100,
        },
        eventLoopDelayMs: loopDelayMs(loop),
        memory: {
          rssMB: memoryAfter.rss / 2 ** 20,
          heapUsedMB: memoryAfter.heapUsed / 2 ** 20,
          rssBeforeMB: memoryBefore.rss / 2 ** 20,
          heapUsedBeforeMB: memoryBefore.heapUsed / 2 ** 20,
        },
      },
      null,
      2,
    ),
  );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error('candidates worker failed:', error);
    process.exit(1);
  },
);
