import type { BlobItem, ContainerClient } from '@azure/storage-blob';
import { InvalidElectionOptionError } from '../../core/errors.js';
import type { LeaseObservation } from '../../core/lease-store.js';

/** Azure's largest List Blobs page (`maxresults` above it is served as 5 000). */
export const MAX_LISTING_PAGE_SIZE = 5000;

/**
 * Default switch-over point: with this many leases followed in one container, one List Blobs per poll
 * costs less than one Get Blob Properties per lease (list class ≈ 12.5 × other class in Microsoft's
 * sample prices; the arithmetic is in docs/OPERATIONS.md).
 */
export const DEFAULT_LISTING_FROM_LEASES = 13;

/** Highest `listingFromLeases` accepted (a value above the leases you have keeps per-lease polling). */
export const MAX_LISTING_FROM_LEASES = 1_000_000;

/** A lease observation with the record's version (`etag`, a field of LeaseObservation on the ETag branch). */
export type ListedObservation = LeaseObservation & { etag?: string };

/** The pieces of a lease blob's observation the store reads the same way for Get Properties and listings. */
export interface LeaseRecordReader {
  heldState(leaseState: string | undefined): boolean;
  readMetadata(metadata: Record<string, string> | undefined): Omit<LeaseObservation, 'held'>;
}

/** What `listingFromLeases` allows, as errors and the options table say it. */
export const LISTING_FROM_LEASES_ALLOWED = `a whole number from 1 to ${MAX_LISTING_FROM_LEASES} (leases)`;

/** `listingFromLeases`, validated (the store's and the module's option). */
export function checkListingFromLeases(value: unknown, option = 'listingFromLeases'): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_LISTING_FROM_LEASES)
    throw new InvalidElectionOptionError(option, value, LISTING_FROM_LEASES_ALLOWED);
  return value;
}

/** Validated listing options of an AzureBlobLeaseStore. */
export function resolveListingOptions(options: { listingFromLeases?: unknown; listingPageSize?: unknown }): {
  listingFromLeases: number;
  listingPageSize: number;
} {
  const listingFromLeases = checkListingFromLeases(options.listingFromLeases ?? DEFAULT_LISTING_FROM_LEASES);
  const pageAllowed = `a whole number from 1 to ${MAX_LISTING_PAGE_SIZE} (blobs per List Blobs page)`;
  const listingPageSize = options.listingPageSize ?? MAX_LISTING_PAGE_SIZE;
  if (
    typeof listingPageSize !== 'number' ||
    !Number.isInteger(listingPageSize) ||
    listingPageSize < 1 ||
    listingPageSize > MAX_LISTING_PAGE_SIZE
  )
    throw new InvalidElectionOptionError('listingPageSize', listingPageSize, pageAllowed);
  return { listingFromLeases, listingPageSize };
}

/** The longest prefix all `names` share ('' for none): the listing then skips other apps' leases. */
export function commonPrefix(names: readonly string[]): string {
  if (names.length === 0) return '';
  let prefix = names[0]!;
  for (const name of names) {
    let length = 0;
    while (length < prefix.length && length < name.length && prefix[length] === name[length]) length += 1;
    prefix = prefix.slice(0, length);
    if (prefix === '') break;
  }
  return prefix;
}

/**
 * Presence records and anything else that is not a lease blob start with '~', which no lease name
 * contains and which sorts after every character a lease name may hold: the listing stops there.
 */
const AFTER_LEASE_NAMES = '~';

/**
 * Every lease record under the common prefix of `leaseNames`, from one flat List Blobs with metadata,
 * read page by page until the service gives no continuation (a short page, even an empty one, is not
 * the end on Azure). Each blob is read exactly as Get Properties is read by observe(), plus its ETag
 * (quoted, as the ETag header carries it). A lease without a blob is absent from the map: observe()
 * reports it as free with term 0.
 */
export async function listLeaseRecords(
  container: ContainerClient,
  leaseNames: readonly string[],
  pageSize: number,
  reader: LeaseRecordReader,
  signal: AbortSignal,
): Promise<Map<string, ListedObservation>> {
  const observations = new Map<string, ListedObservation>();
  const pages = container
    .listBlobsFlat({ prefix: commonPrefix(leaseNames), includeMetadata: true, abortSignal: signal })
    .byPage({ maxPageSize: pageSize });
  for await (const page of pages) {
    const serverNow = page.date?.getTime();
    for (const item of page.segment.blobItems) {
      if (item.name.startsWith(AFTER_LEASE_NAMES)) return observations;
      observations.set(item.name, observationOf(item, reader, serverNow));
    }
  }
  return observations;
}

function observationOf(item: BlobItem, reader: LeaseRecordReader, serverNow?: number): ListedObservation {
  const etag = item.properties.etag;
  const silentForAtLeastMs = silenceLowerBound(serverNow, item.properties.lastModified?.getTime());
  return {
    held: reader.heldState(item.properties.leaseState),
    ...reader.readMetadata(item.metadata),
    ...(etag ? { etag: etag.startsWith('"') ? etag : `"${etag}"` } : {}),
    ...(silentForAtLeastMs !== undefined ? { silentForAtLeastMs } : {}),
  };
}

/**
 * A lower bound of how long a blob has gone unwritten, in server time: Date − Last-Modified − 1 s.
 * Both are whole seconds (docs/azure-storage-facts.md, fact 9): the answer was made at or after Date,
 * the write was made before Last-Modified + 1 s. Undefined when either header is missing.
 */
export function silenceLowerBound(serverNow?: number, lastModified?: number): number | undefined {
  if (serverNow === undefined || lastModified === undefined) return undefined;
  if (!Number.isFinite(serverNow) || !Number.isFinite(lastModified)) return undefined;
  return Math.max(0, serverNow - lastModified - 1000);
}
