import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';
import { startMetrics } from './metrics.js';

async function bootstrap(): Promise<void> {
  // Before the app is created, so the module's metrics (on by default) get a real meter: GET /metrics.
  startMetrics();
  const app = await NestFactory.create(AppModule, { logger: ['log', 'warn', 'error'] });
  // SIGTERM/SIGINT → Nest shutdown hooks → the lease is released, a follower takes over in ~1 poll.
  app.enableShutdownHooks();
  const port = Number(process.env.PORT ?? 3000);
  await app.listen(port, '127.0.0.1');
  new Logger('SampleApp').log(
    `listening on http://127.0.0.1:${port} as ${process.env.INSTANCE_ID ?? 'default identity'}`,
  );
}

void bootstrap();
