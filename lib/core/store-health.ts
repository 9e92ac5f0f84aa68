import type { Clock } from './clock.js';
import { errorKindOf, type LeaseStoreErrorKind } from './lease-store.js';
import type { ElectionLogger } from './logger.js';

/** The most recent store failure, as LeadershipState shows it. */
export interface StoreErrorSummary {
  kind: LeaseStoreErrorKind;
  message: string;
  code?: string;
  at: number;
}

/**
 * Store-health bookkeeping for one election: last contact, last error, failures in a row (permanent
 * ones counted apart: their backoff grows with them only), and the log lines: one WARN per outage,
 * ERROR for every permanent failure, one line when the store answers again.
 */
export class StoreHealth {
  lastContactAt?: number;
  lastError?: StoreErrorSummary;
  consecutiveFailures = 0;
  consecutivePermanentFailures = 0;

  constructor(
    private readonly clock: Clock,
    private readonly logger: ElectionLogger,
    private readonly leaseName: string,
  ) {}

  answered(): void {
    if (this.consecutiveFailures > 0) {
      this.logger.log(
        `Lease store reachable again for "${this.leaseName}" ` +
          `after ${this.consecutiveFailures} failed request(s)`,
      );
    }
    this.consecutiveFailures = 0;
    this.consecutivePermanentFailures = 0;
    this.lastError = undefined;
    this.lastContactAt = this.clock.wallNow();
  }

  failed(error: unknown, during: string): LeaseStoreErrorKind {
    const kind = errorKindOf(error);
    const message = messageOf(error);
    this.consecutiveFailures += 1;
    if (kind === 'permanent') this.consecutivePermanentFailures += 1;
    this.lastError = { kind, message, code: codeOf(error), at: this.clock.wallNow() };
    const line = `Lease store ${kind} error during ${during} of "${this.leaseName}": ${message}`;
    if (kind === 'permanent')
      this.logger.error(`${line} (check the storage configuration; retrying with backoff)`);
    else if (this.consecutiveFailures === 1) this.logger.warn(line);
    else this.logger.debug?.(`${line} (failure ${this.consecutiveFailures} in a row)`);
    return kind;
  }
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}
