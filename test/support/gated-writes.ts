import { Injectable } from '@nestjs/common';
import { concatMap, from, Subject, type Observable } from 'rxjs';
import { LeaderOnly } from '../../lib/index.js';

/** A write that honours its signal but needs a moment to stop (the test lets it finish). */
export class Writes {
  running = 0;
  maxRunning = 0;
  private readonly pending: Array<() => void> = [];
  async write(): Promise<void> {
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      await new Promise<void>((resolve) => this.pending.push(resolve));
    } finally {
      this.running--;
    }
  }
  finishAll(): void {
    for (const resolve of this.pending.splice(0)) resolve();
  }
}

/** A gated Observable whose every tick starts one write: work that outlives its unsubscription. */
@Injectable()
export class BatchStream {
  readonly ticks = new Subject<number>();
  readonly writes = new Writes();
  @LeaderOnly()
  stream(): Observable<void> {
    return this.ticks.pipe(concatMap(() => from(this.writes.write())));
  }
}
