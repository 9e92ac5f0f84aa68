export declare const AZURITE_ACCOUNT: string;
export declare const AZURITE_KEY: string;
export declare function azuriteConnectionString(port: number, host?: string, key?: string): string;
export declare function freePort(): Promise<number>;

export interface RunningAzurite {
  port: number;
  pid: number;
  connectionString: string;
  stop(): Promise<void>;
}

/**
 * Starts the Azurite blob service from the project's devDependency, in memory, on a free (or given)
 * loopback port, and resolves once it listens. The child is killed when this process exits.
 */
export declare function startAzurite(options?: { port?: number; startTimeoutMs?: number }): Promise<RunningAzurite>;
