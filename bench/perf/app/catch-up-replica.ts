/**
 * Replica of the catch-up benchmark (bench/perf/catch-up.ts): a Nest application context with
 * ScheduleModule + LeaderElectionModule and one @Cron job every 30 s, @LeaderOnly with or without
 * catchUp, journaling each run and each leadership as JSON lines.
 *
 * Built by `npm run build:apps`; run as `node dist/bench/perf/app/catch-up-replica.js`.
 * Env: STORAGE_PORT, CONTAINER_NAME, LEASE_NAME, REPLICA, JOURNAL, CATCH_UP ("1" on), DEADLINE_MS.
 */
import 'reflect-metadata';
import { appendFileSync } from 'node:fs';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Cron, ScheduleModule } from '@nestjs/schedule';
import {
  currentLeadership,
  LeaderElectionModule,
  LeaderElectionService,
  LeaderOnly,
} from 'nestjs-leader-election';
import { connectionStringFor, envNumber, envString } from '../support/azurite-connection.js';

const replica = envString('REPLICA');
const journal = envString('JOURNAL');
const catchUp = process.env.CATCH_UP === '1';
const deadlineMs = envNumber('DEADLINE_MS', 25_000);
const PERIOD_MS = 30_000;
const write = (entry: object): void => appendFileSync(journal, `${JSON.stringify({ ...entry, replica })}\n`);

@Injectable()
class Jobs {
  @Cron('*/30 * * * * *')
  @LeaderOnly(catchUp ? { catchUp: { deadlineMs } } : {})
  async report(): Promise<void> {
    // A catch-up run happens after its tick: the tick it stands for is the latest one (deadline < period).
    write({
      event: 'run',
      tickAt: Math.floor(Date.now() / PERIOD_MS) * PERIOD_MS,
      at: Date.now(),
      term: currentLeadership()?.term,
    });
  }
}

@Module({
  imports: [
    ScheduleModule.forRoot(),
    LeaderElectionModule.forRoot({
      connectionString: connectionStringFor(envNumber('STORAGE_PORT')),
      containerName: envString('CONTAINER_NAME'),
      leaseName: envString('LEASE_NAME'),
      identity: replica,
      logger: false,
    }),
  ],
  providers: [Jobs],
})
class ReplicaModule {}

const app = await NestFactory.createApplicationContext(ReplicaModule, { logger: ['error'] });
app.enableShutdownHooks();
write({ event: 'boot', at: Date.now() });
const service = app.get(LeaderElectionService);
service.changes$().subscribe((state) => {
  if (state.role === 'leader') write({ event: 'leader', at: Date.now(), term: state.term });
});
