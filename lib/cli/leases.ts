import type { BlobGetPropertiesResponse, BlobItem } from '@azure/storage-blob';
import { METADATA, PRESENCE_PREFIX } from '../stores/azure-blob/azure-blob-lease-store.js';
import { redactSecrets } from '../stores/azure-blob/redact.js';
import type { Connection } from './connection.js';
import { CliError, ExitCode } from './exit-codes.js';
import { sanitize } from './sanitize.js';

/** Azure's lease states, as List Blobs and Get Properties report them. */
export type LeaseStateName = 'available' | 'leased' | 'expired' | 'breaking' | 'broken';

/** One lease blob as the CLI shows it (the JSON output is an array of these, keys in this order). */
export interface LeaseRow {
  lease: string;
  state: LeaseStateName | string;
  /** True while leased or breaking: someone holds it now. */
  held: boolean;
  /** Identity the current (held) or last (not held) holder recorded; sanitised. */
  holder: string | null;
  term: number | null;
  /** ISO 8601, as the holder recorded it when acquiring. */
  acquiredAt: string | null;
  /** Term of a leader whose lease record was lost and who stepped down (see docs/GUARANTEES.md). */
  recoveredTerm: number | null;
  /**
   * Candidates with a presence record refreshed within the last 30 s (the default staleness bound),
   * from the same listing; null when nobody of this lease has presence on.
   */
  members: number | null;
}

/** Presence records refreshed within this long count as members (the library's default staleAfterMs). */
const MEMBER_FRESH_MS = 30_000;

/** Page size of List Blobs (the service's maximum): one request per 5 000 leases. */
const PAGE_SIZE = 5000;

/**
 * Every blob in the container, with lease state and metadata: List Blobs with metadata (flat, since
 * lease names may contain '/'), one request per page of 5 000.
 */
export async function listLeases(connection: Connection): Promise<LeaseRow[]> {
  const rows: LeaseRow[] = [];
  try {
    // One timeout (--timeout) for the whole listing.
    const pages = connection.container
      .listBlobsFlat({ includeMetadata: true, abortSignal: connection.requestSignal() })
      .byPage({ maxPageSize: PAGE_SIZE });
    const members = new Map<string, number>();
    for await (const page of pages) {
      const serverNow = page.date?.getTime();
      for (const item of page.segment.blobItems) {
        if (item.name.startsWith(PRESENCE_PREFIX)) {
          // ~presence/<lease with '/' as '~'>/<candidate>: counted per lease, not a lease itself.
          const lease = item.name
            .slice(PRESENCE_PREFIX.length, item.name.lastIndexOf('/'))
            .replaceAll('~', '/');
          const age =
            serverNow !== undefined && item.properties.lastModified
              ? serverNow - item.properties.lastModified.getTime()
              : 0;
          members.set(lease, (members.get(lease) ?? 0) + (age <= MEMBER_FRESH_MS ? 1 : 0));
          continue;
        }
        if (item.name.startsWith('~')) continue; // other records (e.g. ~ticks/ ledgers): no lease has '~'
        rows.push(rowFromItem(item));
      }
    }
    for (const row of rows) row.members = members.get(row.lease) ?? null;
  } catch (error) {
    throw storageError(error, connection, 'List Blobs');
  }
  return rows.sort((a, b) => (a.lease < b.lease ? -1 : a.lease > b.lease ? 1 : 0));
}

/** One lease by name (Get Blob Properties); exit code 3 when it or the container is missing. */
export async function getLease(connection: Connection, leaseName: string): Promise<LeaseRow> {
  try {
    const properties = await connection.container
      .getBlobClient(leaseName)
      .getProperties({ abortSignal: connection.requestSignal() });
    return rowFromProperties(leaseName, properties);
  } catch (error) {
    throw storageError(error, connection, 'Get Blob Properties', leaseName);
  }
}

function rowFromItem(item: BlobItem): LeaseRow {
  return row(item.name, item.properties.leaseState, item.metadata);
}

export function rowFromProperties(leaseName: string, properties: BlobGetPropertiesResponse): LeaseRow {
  return row(leaseName, properties.leaseState, properties.metadata);
}

function row(
  name: string,
  leaseState: string | undefined,
  metadata: Record<string, string> | undefined,
): LeaseRow {
  const meta = lowerCaseKeys(metadata);
  const state = sanitize(leaseState ?? 'available', 32);
  const rawHolder = meta[METADATA.leader];
  const rawAcquired = meta[METADATA.acquiredAt];
  const acquired = rawAcquired ? Date.parse(rawAcquired) : NaN;
  return {
    lease: sanitize(name),
    state,
    held: state === 'leased' || state === 'breaking',
    holder: rawHolder ? sanitize(decode(rawHolder)) : null,
    term: wholeNumber(meta[METADATA.term]),
    acquiredAt: Number.isFinite(acquired) ? new Date(acquired).toISOString() : null,
    recoveredTerm: wholeNumber(meta[METADATA.recoveredTerm]),
    members: null,
  };
}

/** Metadata names are case-insensitive in Azure. */
function lowerCaseKeys(metadata: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata ?? {})) out[key.toLowerCase()] = value;
  return out;
}

function wholeNumber(raw: string | undefined): number | null {
  if (!raw || !/^\d{1,15}$/.test(raw)) return null;
  return Number(raw);
}

function decode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Turns a storage SDK error into a CliError: 404 → 3 (not found), anything else → 1. */
export function storageError(
  error: unknown,
  connection: Connection,
  operation: string,
  leaseName?: string,
): CliError {
  if (error instanceof CliError) return error;
  const status = (error as { statusCode?: unknown }).statusCode;
  const code = errorCode(error);
  if (status === 404) {
    if (code === 'ContainerNotFound' || leaseName === undefined) {
      return new CliError(
        ExitCode.notFound,
        `Container not found: ${connection.where} does not exist (${code ?? 'HTTP 404'}).`,
      );
    }
    return new CliError(
      ExitCode.notFound,
      `Lease "${sanitize(leaseName)}" not found in ${connection.where}.`,
    );
  }
  const name = (error as { name?: string }).name;
  const message = error instanceof Error ? error.message : String(error);
  const firstLine = message.split('\n')[0]!.slice(0, 300);
  const parts = [typeof status === 'number' ? `HTTP ${status}` : undefined, code, firstLine || name]
    .filter(Boolean)
    .join(' ');
  const hint =
    status === 403 || status === 401
      ? ' Check the key, SAS or role assignment (Storage Blob Data Reader to read, Contributor to break).'
      : typeof status === 'number'
        ? ''
        : ' Check the endpoint and the network.';
  return new CliError(
    ExitCode.storage,
    `${operation} on ${connection.where} failed: ${redactSecrets(parts)}.${hint}`,
  );
}

function errorCode(error: unknown): string | undefined {
  const e = error as { code?: unknown; details?: { errorCode?: unknown } };
  if (typeof e.details?.errorCode === 'string') return e.details.errorCode;
  return typeof e.code === 'string' ? e.code : undefined;
}
