import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { Test } from '@nestjs/testing';
import {
  InvalidElectionOptionError,
  LeaderElectionHealthIndicator,
  LeaderElectionModule,
  LeaderElectionService,
  type LeaderElectionModuleOptions,
} from '../../lib/index.js';
import { azuriteConnectionString } from '../support/azurite.mjs';

// Issue 7 items 3 and 4: options read from the environment through ConfigService (strings), as the
// README shows, and a replica with a permanent configuration error shown as down, not as a follower.

const ENV_KEYS = [
  'AZURE_STORAGE_CONNECTION_STRING',
  'LEASE_CONTAINER',
  'POD_NAME',
  'LEASE_DURATION_SECONDS',
  'RENEW_INTERVAL_MS',
  'RETRY_INTERVAL_MS',
  'RELEASE_ON_SHUTDOWN',
  'HEALTH_DETAILS',
] as const;

const saved = Object.fromEntries(ENV_KEYS.map((key) => [key, process.env[key]]));
const apps: INestApplication[] = [];
const suffix = randomBytes(4).toString('hex');

afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
  for (const key of ENV_KEYS) {
    if (saved[key] === undefined) delete process.env[key];
    else process.env[key] = saved[key];
  }
});

/** The app of the README: ConfigModule + forRootAsync reading every value from the environment. */
async function boot(
  env: Partial<Record<(typeof ENV_KEYS)[number], string>>,
  extra: (config: ConfigService) => Partial<LeaderElectionModuleOptions> = () => ({}),
): Promise<INestApplication> {
  for (const key of ENV_KEYS) delete process.env[key];
  Object.assign(process.env, env);
  const moduleRef = await Test.createTestingModule({
    imports: [
      ConfigModule.forRoot({ isGlobal: true, ignoreEnvFile: true }),
      LeaderElectionModule.forRootAsync({
        imports: [ConfigModule],
        inject: [ConfigService],
        useFactory: (config: ConfigService) => ({
          connectionString: config.getOrThrow('AZURE_STORAGE_CONNECTION_STRING'),
          containerName: config.get('LEASE_CONTAINER'),
          identity: config.get('POD_NAME'),
          leaseDurationSeconds: config.get('LEASE_DURATION_SECONDS'),
          renewIntervalMs: config.get('RENEW_INTERVAL_MS'),
          retryIntervalMs: config.get('RETRY_INTERVAL_MS'),
          releaseOnShutdown: config.get('RELEASE_ON_SHUTDOWN'),
          healthDetails: config.get('HEALTH_DETAILS'),
          startupTimeoutMs: 5_000,
          logger: false,
          ...extra(config),
        }),
      }),
    ],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  apps.push(app);
  await app.init();
  return app;
}

async function bootError(
  env: Parameters<typeof boot>[0],
  extra?: Parameters<typeof boot>[1],
): Promise<unknown> {
  return boot(env, extra).then(
    () => {
      throw new Error('expected boot to fail');
    },
    (error: unknown) => error,
  );
}

describe('options from the environment (issue 7, item 3)', () => {
  it('boots with the timings and flags given as strings, and leads', async () => {
    const app = await boot({
      AZURE_STORAGE_CONNECTION_STRING: process.env.AZURITE_CONNECTION_STRING!,
      LEASE_CONTAINER: `e2e-env-${suffix}`,
      POD_NAME: 'env-pod-0',
      LEASE_DURATION_SECONDS: '30',
      RENEW_INTERVAL_MS: '9000',
      RETRY_INTERVAL_MS: '250',
      RELEASE_ON_SHUTDOWN: 'true',
      HEALTH_DETAILS: 'full',
    });
    const service = app.get(LeaderElectionService);
    expect(service.electorFor().options).toMatchObject({
      identity: 'env-pod-0',
      leaseDurationSeconds: 30,
      leaseDurationMs: 30_000,
      renewIntervalMs: 9000,
      retryIntervalMs: 250,
    });
    expect(service.isLeader()).toBe(true);
    expect(app.get(LeaderElectionHealthIndicator).isHealthy('election').election).toMatchObject({
      status: 'up',
      role: 'leader',
      identity: 'env-pod-0',
      term: 1,
    });
  }, 30_000);

  it('unset variables mean the defaults', async () => {
    const app = await boot({
      AZURE_STORAGE_CONNECTION_STRING: process.env.AZURITE_CONNECTION_STRING!,
      LEASE_CONTAINER: `e2e-env-${suffix}-d`,
    });
    expect(app.get(LeaderElectionService).electorFor().options).toMatchObject({
      leaseDurationSeconds: 15,
      renewIntervalMs: 5000,
      retryIntervalMs: 2000,
    });
  }, 30_000);

  it.each([
    ['LEASE_DURATION_SECONDS', '15s', 'leaseDurationSeconds'],
    ['LEASE_DURATION_SECONDS', '', 'leaseDurationSeconds'],
    ['RETRY_INTERVAL_MS', 'abc', 'retryIntervalMs'],
    ['RENEW_INTERVAL_MS', '1e3', 'renewIntervalMs'],
    ['RELEASE_ON_SHUTDOWN', 'yes', 'releaseOnShutdown'],
    ['HEALTH_DETAILS', 'everything', 'healthDetails'],
  ] as const)(
    '%s=%j stops boot with an error naming %s',
    async (variable, value, option) => {
      const error = await bootError({
        AZURE_STORAGE_CONNECTION_STRING: process.env.AZURITE_CONNECTION_STRING!,
        [variable]: value,
      });
      expect(error).toBeInstanceOf(InvalidElectionOptionError);
      expect((error as InvalidElectionOptionError).option).toBe(option);
      expect(String(error)).toContain(`"${option}"`);
      expect(String(error)).toContain(`got ${JSON.stringify(value)}`);
    },
    30_000,
  );

  it('a misspelt option in the factory stops boot and names the right one', async () => {
    const error = await bootError(
      { AZURE_STORAGE_CONNECTION_STRING: process.env.AZURITE_CONNECTION_STRING! },
      (config) =>
        ({
          leaseDurationSecond: config.get('LEASE_DURATION_SECONDS') ?? '30',
        }) as Partial<LeaderElectionModuleOptions>,
    );
    expect(error).toBeInstanceOf(InvalidElectionOptionError);
    expect(String(error)).toContain('did you mean "leaseDurationSeconds"?');
  }, 30_000);
});

describe('a permanent configuration error is not a healthy follower (issue 7, item 4)', () => {
  it('a wrong account key: boots, never leads, health is down with the error code, and the default body shows no host or URL', async () => {
    const port = Number(process.env.AZURITE_PORT);
    const wrongKey = Buffer.from('definitely-not-the-azurite-key-definitely-not').toString('base64');
    const app = await boot({
      AZURE_STORAGE_CONNECTION_STRING: azuriteConnectionString(port, '127.0.0.1', wrongKey),
      POD_NAME: 'misconfigured-pod',
      RETRY_INTERVAL_MS: '100',
    });
    const service = app.get(LeaderElectionService);
    expect(service.isLeader()).toBe(false);
    expect(service.getState().lastError?.kind).toBe('permanent');
    const health = app.get(LeaderElectionHealthIndicator).isHealthy('election').election!;
    expect(health.status).toBe('down');
    expect(health.errorCode).toBe('AuthorizationFailure'); // Azurite's code for a wrong key (Azure: AuthenticationFailed)
    expect(health.reason).toMatch(/permanent storage error/);
    const body = JSON.stringify(health);
    expect(body).not.toContain('misconfigured-pod');
    expect(body).not.toContain('127.0.0.1');
    expect(body).not.toContain(wrongKey);
  }, 30_000);
});
