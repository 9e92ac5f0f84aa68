import type { ContainerClient } from '@azure/storage-blob';
import { InvalidElectionOptionError } from '../core/election-options.js';
import {
  AzureBlobLeaseStore,
  DEFAULT_CONTAINER_NAME,
  type TokenCredential,
} from '../stores/azure-blob/azure-blob-lease-store.js';
import { validateContainerName } from '../stores/azure-blob/azure-blob-names.js';
import { displayUrl } from '../stores/azure-blob/redact.js';
import { CliError, ExitCode } from './exit-codes.js';
import { secretsOfConnectionString, secretsOfUrl, type Output } from './output.js';

export const CONNECTION_STRING_ENV = 'AZURE_STORAGE_CONNECTION_STRING';
export { DEFAULT_CONTAINER_NAME };

/** The connection options every command takes (the same choices as the module's options). */
export interface ConnectionFlags {
  connectionString?: string;
  accountUrl?: string;
  container: string;
  /** Upper bound of one storage request, seconds. */
  timeout: number;
}

export interface Connection {
  container: ContainerClient;
  /** Container name and account URL without any credential, for messages. */
  where: string;
  /** A fresh AbortSignal bounding one request. */
  requestSignal(): AbortSignal;
}

/**
 * Connects as the module does: a connection string (the flag, else AZURE_STORAGE_CONNECTION_STRING)
 * or an account URL with DefaultAzureCredential from @azure/identity, loaded only when used. The
 * container client is built by {@link AzureBlobLeaseStore}, so its validation, its redaction of
 * parse errors and its pipeline (one try per call, bounded) are the module's.
 */
export async function connect(
  flags: ConnectionFlags,
  env: NodeJS.ProcessEnv,
  output: Output,
): Promise<Connection> {
  let containerName: string;
  try {
    containerName = validateContainerName(flags.container, '--container');
  } catch (error) {
    if (error instanceof InvalidElectionOptionError) {
      throw new CliError(
        ExitCode.usage,
        `Invalid --container: got ${JSON.stringify(flags.container)}; allowed: ${error.allowed}.`,
      );
    }
    throw error;
  }
  if (flags.connectionString !== undefined && flags.accountUrl !== undefined) {
    throw new CliError(ExitCode.usage, 'Pass either --connection-string or --account-url, not both.');
  }

  let store: AzureBlobLeaseStore;
  if (flags.accountUrl !== undefined) {
    output.addSecrets(...secretsOfUrl(flags.accountUrl));
    const credential = await defaultAzureCredential();
    store = newStore(
      () =>
        new AzureBlobLeaseStore({
          accountUrl: flags.accountUrl!,
          credential,
          containerName,
          createIfMissing: false,
        }),
      '--account-url',
    );
  } else {
    const connectionString = flags.connectionString ?? env[CONNECTION_STRING_ENV];
    if (connectionString === undefined || connectionString.trim() === '') {
      throw new CliError(
        ExitCode.usage,
        `No storage connection: set ${CONNECTION_STRING_ENV}, or pass --connection-string <string> or ` +
          `--account-url <url> (with @azure/identity installed).`,
      );
    }
    output.addSecrets(...secretsOfConnectionString(connectionString));
    store = newStore(
      () => new AzureBlobLeaseStore({ connectionString, containerName, createIfMissing: false }),
      'the connection string',
    );
  }
  const timeoutMs = flags.timeout * 1000;
  return {
    container: store.container,
    where: `container "${containerName}" on ${displayUrl(store.container.url).replace(/\/[^/]*$/, '')}`,
    requestSignal: () => AbortSignal.timeout(timeoutMs),
  };
}

function newStore(create: () => AzureBlobLeaseStore, what: string): AzureBlobLeaseStore {
  try {
    return create();
  } catch (error) {
    // The store's messages never quote the credentials (and Output redacts them anyway).
    const message = error instanceof Error ? error.message : String(error);
    throw new CliError(
      ExitCode.usage,
      `Cannot use ${what}: ${message.replace(/^Invalid leader election option /, 'invalid option ')}`,
    );
  }
}

/** DefaultAzureCredential from the optional @azure/identity, imported only when --account-url is used. */
async function defaultAzureCredential(): Promise<TokenCredential> {
  // A variable specifier: @azure/identity is an optional peer, not a dependency, and may be absent.
  const specifier = '@azure/identity';
  let identity: { DefaultAzureCredential: new () => TokenCredential };
  try {
    identity = (await import(specifier)) as typeof identity;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new CliError(
        ExitCode.storage,
        '--account-url signs in with DefaultAzureCredential from @azure/identity, which is not ' +
          'installed. Install it next to nestjs-leader-election (npm install @azure/identity), or use ' +
          '--connection-string / AZURE_STORAGE_CONNECTION_STRING.',
      );
    }
    throw new CliError(
      ExitCode.storage,
      `Could not load @azure/identity: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  return new identity.DefaultAzureCredential();
}
