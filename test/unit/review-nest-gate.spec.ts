import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Injectable, type INestApplication } from '@nestjs/common';
import { Observable, Subject, tap } from 'rxjs';
import { LeaderOnly } from '../../lib/index.js';
import { LeaderElectionTesting, LeaderElectionTestingModule } from '../../lib/testing/index.js';
import { bootTestingApp, flush } from '../support/nest-testing.js';

// Findings of the hostile review of the Nest layer (2026-12-07, issue 19) in the @LeaderOnly gate,
// moved here from test/pending/review-nest.spec.ts once fixed.

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function bootKit(
  providers: unknown[],
  options: Parameters<typeof LeaderElectionTestingModule.forRoot>[0] = {},
): Promise<INestApplication> {
  app = await bootTestingApp({
    imports: [LeaderElectionTestingModule.forRoot(options)],
    providers: providers as never[],
  });
  return app;
}

// A @LeaderOnly method that returns an Observable: a subscription taken while leading must end with
// the tenure (unsubscribed from the source), as @LeaderTask Observables do.

@Injectable()
class StreamingJob {
  readonly source = new Subject<number>();
  writes: number[] = [];
  @LeaderOnly()
  stream(): Observable<number> {
    return this.source.pipe(tap((value) => this.writes.push(value)));
  }
}

describe('review-nest: gated Observables', () => {
  it('@LeaderOnly Observable subscribed while leading keeps doing leader-only work after leadership ended', async () => {
    const started = await bootKit([StreamingJob], { role: 'leader' });
    const job = started.get(StreamingJob);
    const testing = started.get(LeaderElectionTesting);
    let completed = false;
    let failed = false;
    const subscription = job.stream().subscribe({
      complete: () => (completed = true),
      error: () => (failed = true),
    });
    job.source.next(1); // while leading: runs
    expect(job.writes).toEqual([1]);

    testing.loseLeadership(undefined, { leader: 'pod-b' });
    await flush();
    job.source.next(2); // this replica is a follower now: pod-b leads
    subscription.unsubscribe();

    expect(job.writes).toEqual([1]); // the tenure's run must stop with the tenure
    expect(completed || failed).toBe(true);
  });
});

// The overlap check: a call made from a run's async context is re-entry only while that run is still
// going. The context follows timers, so a retry an ended run scheduled must take the overlap slot
// like a fresh call (allowOverlap: false, one replica).

@Injectable()
class RetryingSync {
  calls = 0;
  running = 0;
  maxRunning = 0;
  hold: Promise<void> = Promise.resolve();
  @LeaderOnly()
  async sync(): Promise<void> {
    const call = ++this.calls;
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      if (call === 1) {
        setTimeout(() => void this.sync(), 0); // failed: retry shortly
        return;
      }
      await this.hold;
    } finally {
      this.running--;
    }
  }
}

describe('review-nest: overlap slots', () => {
  it('a retry scheduled by an ended run bypasses the overlap slot and runs beside the next tick', async () => {
    const started = await bootKit([RetryingSync], { role: 'leader' });
    const job = started.get(RetryingSync);
    await job.sync(); // tick 1: ends at once, its retry is scheduled
    let release!: () => void;
    job.hold = new Promise<void>((resolve) => (release = resolve));
    const tick2 = job.sync(); // tick 2 takes the slot and holds it
    await new Promise((resolve) => setTimeout(resolve, 10)); // the retry fires while tick 2 runs
    release();
    await tick2;
    await flush();
    expect(job.calls).toBeGreaterThanOrEqual(2);
    expect(job.maxRunning).toBe(1); // the retry must be skipped as an overlap, not run beside tick 2
  });
});
