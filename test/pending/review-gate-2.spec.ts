import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { LeaderElectionTesting, LeaderElectionTestingModule } from '../../lib/testing/index.js';
import { bootTestingApp, flush } from '../support/nest-testing.js';
import { BatchStream } from '../support/gated-writes.js';

// Second hostile review of the Nest layer's gate (2026-12-07, issue 19), after the fixes of
// review-nest-gate (Observables end with the tenure, retries take the overlap slot, the shutdown
// exception for Observables). Every test here FAILS on the code it was written against (main at
// 87fbc32). Run them: see test/pending/README.md. Fixed findings moved to
// test/unit/review-gate-2-fixed.spec.ts.

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function bootKit(
  providers: unknown[],
  options: Parameters<typeof LeaderElectionTestingModule.forRoot>[0] = {},
  imports: unknown[] = [],
  controllers: unknown[] = [],
): Promise<INestApplication> {
  app = await bootTestingApp({
    imports: [LeaderElectionTestingModule.forRoot(options), ...(imports as never[])],
    providers: providers as never[],
    controllers: controllers as never[],
  });
  return app;
}

// ---------------------------------------------------------------------------------------------
// Finding 2: an Observable's run is over the moment its tenure's signal aborts (unsubscribed), but
// unsubscribing does not stop work the stream started (a promise inside concatMap/mergeMap: a write
// in flight). A Promise-returning run keeps its overlap slot and holds the drain until it has
// stopped (tests "this holds" in test/unit/review-gate-2.spec.ts); an Observable's in-flight work
// does neither, even when it honours its signal (it needs a moment to stop). So:
// (a) the same replica's next tenure runs the method beside it (overlap), (b) stepDown() / yieldTo()
// release the lease while it still writes, (c) the same for a @LeaderTask Observable at shutdown.
// On the paths that release (stop, step-down, hand-over) the stream could be left to finish within
// the drain, as at shutdown, and cut when the drain gives up (then the lease is left to expire).
// (a) happens at a loss, where the stream must be cut at once: that part may end as a documented
// limitation (work started inside a stream is not tracked once it is unsubscribed).
// Status: (b) and (c) are fixed (test/unit/review-gate-2-fixed.spec.ts). (a) stays here: at a loss the
// stream must be cut at once and the gate cannot see work it started, so it is documented as a
// limitation (docs/leader-work.md "Observables end with the tenure", docs/GUARANTEES.md "not covered").

describe('review-gate-2 finding 2: work in flight in a gated Observable when its tenure ends', () => {
  it('(a) the next tenure runs the method beside the previous run still writing (one replica, allowOverlap false)', async () => {
    const started = await bootKit([BatchStream], { role: 'leader' });
    const job = started.get(BatchStream);
    const testing = started.get(LeaderElectionTesting);
    const first = job.stream().subscribe();
    job.ticks.next(1); // a write starts
    testing.loseLeadership(); // tenure 1 ends: the stream is cut, its write is still finishing
    testing.becomeLeader();
    const second = job.stream().subscribe(); // the next tick, in tenure 2
    job.ticks.next(2);
    await flush();
    job.writes.finishAll();
    first.unsubscribe();
    second.unsubscribe();
    expect(job.writes.maxRunning).toBe(1);
  });
});
