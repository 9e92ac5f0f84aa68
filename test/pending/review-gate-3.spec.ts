import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Observable, Subject } from 'rxjs';
import {
  LeaderElectionModule,
  LeaderElectionService,
  LeaderTask,
  MemoryLeaseStore,
} from '../../lib/index.js';
import { LeaderWorkTracker } from '../../lib/nest/leader-work.tracker.js';

// Third hostile review of the gate (2026-12-07, issue 19): of merge 7af3b6c, which fixed the second
// review's findings (streams left to finish within the drain at stop / step-down / hand-over, cut when
// the drain gives up: the tenure's `gaveUp` signal). Every test here FAILS on main at 7af3b6c. Run
// them: see test/pending/README.md. Rules that held are pinned in test/unit/review-gate-3.spec.ts.

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

// ---------------------------------------------------------------------------------------------
// Finding 4 (low): when the tenure's signal has already aborted (stop / step-down) by the time a
// stream is attached, onTenureEnd() runs `end` at once, `end` stores the deferred cut's undo in
// `detach`, and then `detach = onTenureEnd(...)` overwrites it with onTenureEnd's no-op. The stream
// that then completes on its own never undoes its deferred cut: the fallback timer fires
// 2 x shutdownTimeoutMs later, counts a forced cut, and the lease's next drain refuses to release.
// Same shape in untilTenureEnds (task-run.ts) and gateObservable (leader-gate.ts). Reached by a
// @LeaderTask that steps down before returning its (final) stream.

@Injectable()
class StepsDownThenFlushes {
  readonly source = new Subject<number>();
  constructor(private readonly service: LeaderElectionService) {}
  @LeaderTask()
  flush(): Observable<number> {
    void this.service.stepDown(); // the tenure ends (step-down) before the stream is attached
    return this.source;
  }
}

describe('review-gate-3 finding 4: a stream attached after its tenure ended keeps its deferred cut', () => {
  it('completing on its own leaves no forced cut behind: the next drain releases', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        LeaderElectionModule.forRoot({
          store: new MemoryLeaseStore(),
          identity: 'pod-a',
          presence: false,
          logger: false,
          shutdownTimeoutMs: 10,
        }),
      ],
      providers: [StepsDownThenFlushes],
    }).compile();
    app = moduleRef.createNestApplication();
    await app.init();
    const job = app.get(StepsDownThenFlushes);
    await new Promise((resolve) => setImmediate(resolve));
    job.source.complete(); // the final stream ends on its own, within the drain
    expect(app.get(LeaderWorkTracker).deferredCutCount('leader')).toBe(0); // its deferred cut undone
    await new Promise((resolve) => setTimeout(resolve, 60)); // past 2 x shutdownTimeoutMs
    expect(await app.get(LeaderWorkTracker).drain('leader', Date.now() + 5)).toBe(true);
  });
});
