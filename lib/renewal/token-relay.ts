import type { ElectionLogger } from '../core/logger.js';
import { sanitizeForeignText } from '../core/sanitize.js';
import { redactSecrets } from '../stores/azure-blob/redact.js';
import type { TokenCredential } from '../stores/azure-blob/azure-blob-lease-store.js';
import { LeaderElectionError } from '../core/errors.js';

/** The scope @azure/storage-blob asks a TokenCredential for (its default audience). */
export const STORAGE_SCOPE = 'https://storage.azure.com/.default';

/** How long before a failed token request is tried again, ms. */
export const TOKEN_RETRY_MS = 10_000;

/**
 * How long a token handed to the renewal thread must still live: a whole block (maxBlockedMs), the
 * longest lease after it (60 s) and the SDK's own refresh window (2 min), so a thread renewing
 * through the longest allowed block never holds an expired token.
 */
export function tokenCoverMs(maxBlockedMs: number): number {
  return maxBlockedMs + 60_000 + 120_000;
}

/** A token as it crosses into the renewal thread: a string and its expiry (epoch ms). */
export interface RelayedToken {
  token: string;
  expiresOnTimestamp: number;
}

export interface TokenRelayOptions {
  credential: TokenCredential;
  /**
   * How long the thread must be able to go on with the token it holds, ms: the main thread may be
   * blocked for up to maxBlockedMs and the thread renews for up to one lease after that. A token is
   * replaced once it has less than this left (or at half its life, if it lives shorter than this).
   */
  coverMs: number;
  /** Receives each new token (the renewal thread's postMessage). */
  deliver(token: RelayedToken): void;
  logger: ElectionLogger;
  /** Wall clock (token expiries are epoch ms). Default Date.now. */
  now?: () => number;
}

/**
 * A TokenCredential object cannot cross into a worker thread (it holds sockets, caches, MSAL state),
 * but the tokens it mints are strings. The relay asks the credential on the main thread and hands
 * each token to the renewal thread long before it expires: a token is replaced while it still has
 * `coverMs` to live, so a main thread blocked for up to maxBlockedMs never leaves the thread with an
 * expired token. A failed request is retried every 10 s (the thread keeps the token it has); a
 * credential that never answers only delays renewals until the lease runs out, as any storage
 * failure does — it can never extend one.
 */
export class TokenRelay {
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private failing = false;
  private readonly now: () => number;
  /** Settles with the first token (or the first failure). */
  readonly first: Promise<void>;

  constructor(private readonly options: TokenRelayOptions) {
    this.now = options.now ?? Date.now;
    this.first = this.refresh();
  }

  /** When to ask for the next token, as a delay from now, ms. */
  static refreshDelayMs(
    token: RelayedToken & { refreshAfterTimestamp?: number },
    now: number,
    coverMs: number,
  ): number {
    const left = token.expiresOnTimestamp - now;
    // Replace it while it still covers a full block; when that moment is (nearly) now — a token that
    // lives shorter than coverMs, or a credential that hands out its cached token again — at half-life.
    let delay = left - coverMs >= 30_000 ? left - coverMs : left / 2;
    // The credential's own hint (MSAL sets it for long-lived tokens) if it comes sooner.
    if (typeof token.refreshAfterTimestamp === 'number' && token.refreshAfterTimestamp - now < delay)
      delay = token.refreshAfterTimestamp - now;
    return Math.min(Math.max(delay, 1_000), 2_147_483_647);
  }

  private async refresh(): Promise<void> {
    if (this.closed) return;
    let delay = TOKEN_RETRY_MS;
    let token: (RelayedToken & { refreshAfterTimestamp?: number }) | null;
    try {
      token = await this.options.credential.getToken(STORAGE_SCOPE);
      if (!token || typeof token.token !== 'string' || typeof token.expiresOnTimestamp !== 'number')
        throw new LeaderElectionError('the credential returned no token');
    } catch (error) {
      if (!this.failing) {
        const message =
          sanitizeForeignText(redactSecrets(error instanceof Error ? error.message : String(error))) ??
          'unknown error';
        this.options.logger.warn(
          `Renewal thread: the credential could not get a storage token (${message}); ` +
            `retrying every ${TOKEN_RETRY_MS / 1000} s, the thread keeps the token it has`,
        );
      }
      this.failing = true;
      token = null;
    }
    if (this.closed) return;
    if (token) {
      if (this.failing) this.options.logger.log('Renewal thread: the credential gets storage tokens again');
      this.failing = false;
      this.options.deliver({ token: token.token, expiresOnTimestamp: token.expiresOnTimestamp });
      delay = TokenRelay.refreshDelayMs(token, this.now(), this.options.coverMs);
    }
    this.timer = setTimeout(() => void this.refresh(), delay);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
