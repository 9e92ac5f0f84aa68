import type { INestApplication, ModuleMetadata, NestApplicationOptions } from '@nestjs/common';
import { Test } from '@nestjs/testing';

/** Lets pending promise callbacks and I/O callbacks run (one macrotask turn). */
export const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Compiles a testing module from `metadata`, creates the Nest application and initialises it. */
export async function bootTestingApp(
  metadata: ModuleMetadata,
  appOptions?: NestApplicationOptions,
): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule(metadata).compile();
  const app = moduleRef.createNestApplication(appOptions);
  await app.init();
  return app;
}
