export declare const AZURITE_ACCOUNT: string;
export declare const AZURITE_KEY: string;
export declare function azuriteConnectionString(port: number, host?: string, key?: string): string;
export declare function freePort(): Promise<number>;

export interface RunningAzurite {
  port: number;
  pid: number;
  connectionString: string;
  /** With `oauth`: the account URL for a TokenCredential (https). */
  accountUrl?: string;
  /** With `oauth`: the self-signed certificate to trust (e.g. NODE_EXTRA_CA_CERTS of a child process). */
  caFile?: string;
  stop(): Promise<void>;
}

/** A bearer token Azurite's `--oauth basic` accepts (lifetime, issuer and audience checked, not the signature). */
export declare function azuriteToken(lifetimeMs: number): { token: string; expiresOnTimestamp: number };

/**
 * Starts the Azurite blob service from the project's devDependency, in memory, on a free (or given)
 * loopback port, and resolves once it listens. The child is killed when this process exits. With
 * `oauth`, it serves HTTPS with a fresh self-signed certificate and accepts bearer tokens (azuriteToken).
 */
export declare function startAzurite(options?: {
  port?: number;
  startTimeoutMs?: number;
  oauth?: boolean;
}): Promise<RunningAzurite>;
