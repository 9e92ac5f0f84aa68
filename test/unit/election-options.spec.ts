import { describe, expect, it } from '@jest/globals';
import {
  InvalidElectionOptionError,
  jitteredRetryDelay,
  resolveElectionOptions,
  type ElectionOptions,
} from '../../lib/core/election-options.js';

const base: ElectionOptions = { leaseName: 'jobs', identity: 'replica-a' };

function errorFor(overrides: Partial<ElectionOptions> & Record<string, unknown>): InvalidElectionOptionError {
  try {
    resolveElectionOptions({ ...base, ...overrides } as ElectionOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidElectionOptionError);
    return error as InvalidElectionOptionError;
  }
  throw new Error(`expected ${JSON.stringify(overrides)} to be rejected`);
}

describe('resolveElectionOptions', () => {
  it('applies the documented defaults and derives renewInterval = D/3', () => {
    const options = resolveElectionOptions(base);
    expect(options).toMatchObject({
      leaseDurationSeconds: 15,
      leaseDurationMs: 15_000,
      renewIntervalMs: 5000,
      retryIntervalMs: 2000,
      retryJitter: 0.2,
      safetyMarginMs: 1000,
      requestTimeoutMs: 5000,
      renewRetryIntervalMs: 500,
    });
  });

  it('derives renewInterval and request timeout from a longer lease', () => {
    const options = resolveElectionOptions({ ...base, leaseDurationSeconds: 60 });
    expect(options.renewIntervalMs).toBe(20_000);
    expect(options.requestTimeoutMs).toBe(5000);
  });

  it('accepts the edges of every range', () => {
    expect(() => resolveElectionOptions({ ...base, leaseDurationSeconds: 15 })).not.toThrow();
    expect(() => resolveElectionOptions({ ...base, leaseDurationSeconds: 60 })).not.toThrow();
    expect(() =>
      resolveElectionOptions({ ...base, renewIntervalMs: 13_999, safetyMarginMs: 1000 }),
    ).not.toThrow();
    expect(() => resolveElectionOptions({ ...base, safetyMarginMs: 0 })).not.toThrow();
    expect(() => resolveElectionOptions({ ...base, retryJitter: 0 })).not.toThrow();
    expect(() => resolveElectionOptions({ ...base, maxErrorBackoffMs: 3_600_000 })).not.toThrow();
    expect(() => resolveElectionOptions({ ...base, leaseName: 'jobs/v1.2/..x' })).not.toThrow();
  });

  const invalid: Array<[string, Record<string, unknown>, string, RegExp]> = [
    ['lease shorter than 15 s', { leaseDurationSeconds: 14 }, 'leaseDurationSeconds', /15 to 60/],
    ['lease longer than 60 s', { leaseDurationSeconds: 61 }, 'leaseDurationSeconds', /15 to 60/],
    [
      'infinite lease (-1, Azure style)',
      { leaseDurationSeconds: -1 },
      'leaseDurationSeconds',
      /infinite leases are refused/,
    ],
    ['infinite lease (Infinity)', { leaseDurationSeconds: Infinity }, 'leaseDurationSeconds', /whole number/],
    ['fractional lease', { leaseDurationSeconds: 15.5 }, 'leaseDurationSeconds', /whole number/],
    [
      'lease as a string with a unit',
      { leaseDurationSeconds: '15s' },
      'leaseDurationSeconds',
      /whole number/,
    ],
    [
      'renewInterval + safetyMargin = D',
      { renewIntervalMs: 14_000 },
      'renewIntervalMs',
      /renewIntervalMs \+ safetyMarginMs \(1000\) < leaseDurationSeconds × 1000 \(15000\)/,
    ],
    ['renewInterval beyond D', { renewIntervalMs: 20_000 }, 'renewIntervalMs', /below 14000/],
    ['zero renewInterval', { renewIntervalMs: 0 }, 'renewIntervalMs', /> 0/],
    ['negative renewInterval', { renewIntervalMs: -5 }, 'renewIntervalMs', /> 0/],
    ['NaN renewInterval', { renewIntervalMs: NaN }, 'renewIntervalMs', /> 0/],
    ['safetyMargin ≥ D', { safetyMarginMs: 15_000 }, 'safetyMarginMs', /below the lease duration/],
    ['negative safetyMargin', { safetyMarginMs: -1 }, 'safetyMarginMs', /≥ 0/],
    [
      'large margin makes the default renewInterval invalid',
      { safetyMarginMs: 10_000 },
      'renewIntervalMs',
      /below 5000/,
    ],
    ['zero retryInterval', { retryIntervalMs: 0 }, 'retryIntervalMs', /from 10/],
    ['negative retryInterval', { retryIntervalMs: -100 }, 'retryIntervalMs', /from 10/],
    ['huge retryInterval', { retryIntervalMs: 1e9 }, 'retryIntervalMs', /to 60000/],
    ['jitter of 1', { retryJitter: 1 }, 'retryJitter', /< 1/],
    ['negative jitter', { retryJitter: -0.1 }, 'retryJitter', /≥ 0/],
    ['zero request timeout', { requestTimeoutMs: 0 }, 'requestTimeoutMs', /from 1/],
    ['request timeout beyond D', { requestTimeoutMs: 16_000 }, 'requestTimeoutMs', /to 15000/],
    [
      'renew retry above renewInterval',
      { renewRetryIntervalMs: 6000 },
      'renewRetryIntervalMs',
      /renewIntervalMs \(5000\)/,
    ],
    ['zero renew retry', { renewRetryIntervalMs: 0 }, 'renewRetryIntervalMs', /from 1/],
    [
      'error backoff below retryInterval',
      { maxErrorBackoffMs: 100 },
      'maxErrorBackoffMs',
      /from retryIntervalMs \(2000\)/,
    ],
    [
      'error backoff above an hour (would overflow Node timers further up)',
      { maxErrorBackoffMs: 2 ** 31 },
      'maxErrorBackoffMs',
      /to 3600000 \(1 hour\)/,
    ],
    [
      'null lease duration (an unset config value)',
      { leaseDurationSeconds: null },
      'leaseDurationSeconds',
      /leave the option out/,
    ],
    ['null renewInterval', { renewIntervalMs: null }, 'renewIntervalMs', /leave the option out/],
    ['null retryJitter', { retryJitter: null }, 'retryJitter', /leave the option out/],
    ['empty identity', { identity: '' }, 'identity', /non-empty/],
    ['blank identity', { identity: '   ' }, 'identity', /non-empty/],
    ['identity with a line break', { identity: 'a\nb' }, 'identity', /line breaks/],
    ['identity too long', { identity: 'x'.repeat(257) }, 'identity', /256/],
    ['empty lease name', { leaseName: '' }, 'leaseName', /1–200 characters/],
    ['lease name with a space', { leaseName: 'my job' }, 'leaseName', /letters, digits/],
    ['lease name ending with a dot', { leaseName: 'job.' }, 'leaseName', /not starting or ending/],
    ['lease name with //', { leaseName: 'a//b' }, 'leaseName', /letters, digits/],
    [
      'lease name with a .. segment (the URL would point at another blob)',
      { leaseName: 'x/../leader' },
      'leaseName',
      /'\.\.' path segment/,
    ],
    ['lease name with a . segment', { leaseName: 'x/./y' }, 'leaseName', /'\.\.' path segment/],
  ];

  it.each(invalid)(
    'rejects %s, naming the option, the value and what is allowed',
    (_label, overrides, option, allowed) => {
      const error = errorFor(overrides);
      expect(error.option).toBe(option);
      expect(error.message).toContain(`"${option}"`);
      expect(error.message).toMatch(/got /);
      expect(error.message).toMatch(allowed);
      const given = overrides[option];
      if (typeof given === 'string' && given.length > 80)
        expect(error.value).toBe(`${given.slice(0, 80)}…`); // truncated, as in the message
      else if (option in overrides) expect(error.value).toBe(given);
      else expect(error.value).toBe(5000); // the derived default D/3 that the override made invalid
    },
  );

  it('shows the offending value in the message', () => {
    expect(errorFor({ leaseDurationSeconds: 90 }).message).toContain('got 90');
    expect(errorFor({ renewIntervalMs: NaN }).message).toContain('got NaN');
    expect(errorFor({ leaseName: 'bad name' }).message).toContain('got "bad name"');
  });
});

describe('jitteredRetryDelay', () => {
  const options = { retryIntervalMs: 2000, retryJitter: 0.2 };

  it('spans exactly ±jitter at the extremes of the random source', () => {
    expect(jitteredRetryDelay(options, () => 0)).toBeCloseTo(1600);
    expect(jitteredRetryDelay(options, () => 0.5)).toBeCloseTo(2000);
    expect(jitteredRetryDelay(options, () => 0.999999)).toBeCloseTo(2400, 0);
  });

  it('stays within [R(1−j), R(1+j)) over many draws and actually spreads', () => {
    const samples = Array.from({ length: 10_000 }, () => jitteredRetryDelay(options, Math.random));
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(1600);
    expect(Math.max(...samples)).toBeLessThan(2400);
    expect(Math.max(...samples) - Math.min(...samples)).toBeGreaterThan(700);
  });

  it('is exactly R without jitter', () => {
    expect(jitteredRetryDelay({ retryIntervalMs: 2000, retryJitter: 0 }, Math.random)).toBe(2000);
  });
});
