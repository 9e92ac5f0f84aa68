import { Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { ScheduleModule } from '@nestjs/schedule';
import { TerminusModule } from '@nestjs/terminus';
import { LeaderElectionModule } from 'nestjs-leader-election';
import { leaderElectionOptionsFromEnv } from './app.config.js';
import { ConsumerService } from './consumer.service.js';
import { HealthController } from './health.controller.js';
import { JobsService } from './jobs.service.js';
import { LeadershipLogService } from './leadership-log.service.js';
import { MetricsController } from './metrics.controller.js';

@Module({
  imports: [
    ConfigModule.forRoot({ isGlobal: true }),
    ScheduleModule.forRoot(),
    TerminusModule,
    LeaderElectionModule.forRootAsync({
      imports: [ConfigModule],
      inject: [ConfigService],
      useFactory: leaderElectionOptionsFromEnv,
    }),
  ],
  controllers: [HealthController, MetricsController],
  providers: [JobsService, ConsumerService, LeadershipLogService],
})
export class AppModule {}
