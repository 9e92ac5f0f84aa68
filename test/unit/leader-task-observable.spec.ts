import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Observable } from 'rxjs';
import { LeaderTask, currentLeadership, type Leadership } from '../../lib/index.js';
import { LeaderElectionTesting, LeaderElectionTestingModule } from '../../lib/testing/index.js';

// Issue 19 item 3: a @LeaderTask that returns an Observable is subscribed for its tenure and
// unsubscribed when the tenure ends.

@Injectable()
class Stream {
  subscribed: number[] = [];
  unsubscribed: number[] = [];
  values: number[] = [];
  context: (number | undefined)[] = [];

  @LeaderTask()
  follow(leadership: Leadership): Observable<number> {
    return new Observable<number>((subscriber) => {
      this.subscribed.push(leadership.term);
      this.context.push(currentLeadership()?.term);
      subscriber.next(leadership.term);
      return () => this.unsubscribed.push(leadership.term);
    });
  }
}

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('@LeaderTask returning an Observable (issue 19.3)', () => {
  it('is subscribed when the tenure starts and unsubscribed when it ends, once per tenure', async () => {
    const moduleRef = await Test.createTestingModule({
      // Shutdown leaves the endless stream to finish within the drain, then cuts it (review-gate-2 finding 1).
      imports: [LeaderElectionTestingModule.forRoot({ shutdownTimeoutMs: 50 })],
      providers: [Stream],
    }).compile();
    app = moduleRef.createNestApplication();
    await app.init();
    await flush();
    const stream = app.get(Stream);
    const testing = app.get(LeaderElectionTesting);
    expect(stream.subscribed).toEqual([1]);
    expect(stream.context).toEqual([1]);
    expect(stream.unsubscribed).toEqual([]);

    testing.loseLeadership();
    await flush();
    expect(stream.unsubscribed).toEqual([1]);

    testing.becomeLeader(undefined, { term: 2 });
    await flush();
    expect(stream.subscribed).toEqual([1, 2]);
    await app.close();
    app = undefined;
    expect(stream.unsubscribed).toEqual([1, 2]);
  });
});
