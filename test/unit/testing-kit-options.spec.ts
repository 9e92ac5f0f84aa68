import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { Test } from '@nestjs/testing';
import { InvalidElectionOptionError } from '../../lib/index.js';
import { LeaderElectionTestingModule, type LeaderElectionTestingOptions } from '../../lib/testing/index.js';

// Issue 19 item 4: the testing kit's options are checked like the real module's: an unknown key is
// refused with a suggestion, a bad value is named with what is allowed.

async function boot(options: unknown): Promise<void> {
  const moduleRef = await Test.createTestingModule({
    imports: [LeaderElectionTestingModule.forRoot(options as LeaderElectionTestingOptions)],
  }).compile();
  await moduleRef.close();
}

describe('LeaderElectionTestingModule.forRoot options (issue 19.4)', () => {
  it('refuses an unknown key with the nearest option ("rol" -> "role")', async () => {
    const error = await boot({ rol: 'follower' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidElectionOptionError);
    expect((error as Error).message).toContain('"rol"');
    expect((error as Error).message).toContain('did you mean "role"?');
  });

  it('refuses role: "Follower", naming the option, the value and the allowed values', async () => {
    const error = await boot({ role: 'Follower' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidElectionOptionError);
    expect((error as InvalidElectionOptionError).option).toBe('role');
    expect((error as Error).message).toContain('"Follower"');
    expect((error as Error).message).toContain('"leader"');
    expect((error as Error).message).toContain('"follower"');
  });

  it('refuses bad values of the other options', async () => {
    for (const [options, option] of [
      [{ leader: 42 }, 'leader'],
      [{ leader: 'bad\nname' }, 'leader'],
      [{ identity: '' }, 'identity'],
      [{ leaseName: '../x' }, 'leaseName'],
      [{ healthDetails: 'everything' }, 'healthDetails'],
      [{ shutdownTimeoutMs: -1 }, 'shutdownTimeoutMs'],
      [{ logger: 'console' }, 'logger'],
      [null, 'options'],
    ] as const) {
      const error = await boot(options).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidElectionOptionError);
      expect((error as InvalidElectionOptionError).option).toBe(option);
    }
  });

  it('accepts the documented options', async () => {
    await expect(
      boot({
        role: 'follower',
        leader: 'pod-a',
        identity: 'me',
        leaseName: 'jobs',
        healthDetails: 'minimal',
        shutdownTimeoutMs: 100,
        logger: false,
        metrics: false,
      }),
    ).resolves.toBeUndefined();
    await expect(boot(undefined)).resolves.toBeUndefined();
  });
});
