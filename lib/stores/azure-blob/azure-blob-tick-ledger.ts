import type { ContainerClient } from '@azure/storage-blob';
import { validateLeaseName } from '../../core/election-options.js';
import {
  decideClaim,
  EMPTY_LEDGER,
  parseLedgerDocument,
  TickLedgerError,
  withClaim,
  type ClaimResult,
  type LedgerDocument,
  type TickClaim,
  type TickLedger,
  type TickRecord,
} from '../../core/tick-ledger.js';

/**
 * Ledgers live under this prefix, one small JSON blob per lease: `~ticks/<lease name with '/' as '~'>`.
 * Lease names cannot contain '~', so no lease blob shares the name, and lease listings stop before '~'.
 */
export const TICKS_PREFIX = '~ticks/';

export function tickLedgerBlobName(leaseName: string): string {
  return `${TICKS_PREFIX}${validateLeaseName(leaseName).replaceAll('/', '~')}`;
}

/** Read-decide-write rounds before a claim gives up (each lost round means another writer won one). */
const MAX_ROUNDS = 5;

/**
 * The tick ledger on Azure blobs: a claim reads the lease's ledger blob with its ETag, applies
 * decideClaim, and writes the new document If-Match that ETag (If-None-Match * when there was none),
 * so two writers never both win on the same version: the loser reads again and is judged again
 * (and refused if the winner had a higher term or already recorded the tick).
 */
export class AzureBlobTickLedger implements TickLedger {
  constructor(private readonly container: ContainerClient) {}

  async lastTick(leaseName: string, job: string, signal: AbortSignal): Promise<TickRecord | undefined> {
    const { document } = await this.read(leaseName, signal);
    const record = document.jobs[job];
    return record ? { ...record } : undefined;
  }

  async claim(request: TickClaim, signal: AbortSignal): Promise<ClaimResult> {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const { document, etag } = await this.read(request.leaseName, signal);
      const result = decideClaim(document.jobs[request.job], document.term, request);
      if (!result.claimed) return result;
      if (await this.write(request.leaseName, withClaim(document, request), etag, signal)) return result;
    }
    throw new TickLedgerError(
      `tick ledger of lease "${request.leaseName}": ${MAX_ROUNDS} conflicting writes in a row; not claimed`,
    );
  }

  private async read(
    leaseName: string,
    signal: AbortSignal,
  ): Promise<{ document: LedgerDocument; etag: string | undefined }> {
    const blob = this.container.getBlockBlobClient(tickLedgerBlobName(leaseName));
    try {
      const response = await blob.download(0, undefined, { abortSignal: signal });
      const text = await readText(response.readableStreamBody);
      return { document: parseLedgerDocument(text, `of lease "${leaseName}"`), etag: response.etag };
    } catch (error) {
      if (statusOf(error) === 404 && codeOf(error) !== 'ContainerNotFound')
        return { document: EMPTY_LEDGER, etag: undefined };
      throw failure('read', leaseName, error);
    }
  }

  /** True when written; false when another writer changed (or created) the blob since it was read. */
  private async write(
    leaseName: string,
    document: LedgerDocument,
    etag: string | undefined,
    signal: AbortSignal,
  ): Promise<boolean> {
    const body = JSON.stringify(document);
    const blob = this.container.getBlockBlobClient(tickLedgerBlobName(leaseName));
    try {
      await blob.upload(body, Buffer.byteLength(body), {
        abortSignal: signal,
        conditions: etag ? { ifMatch: etag } : { ifNoneMatch: '*' },
        blobHTTPHeaders: { blobContentType: 'application/json' },
      });
      return true;
    } catch (error) {
      const status = statusOf(error);
      if (status === 412 || (status === 409 && codeOf(error) === 'BlobAlreadyExists')) return false;
      throw failure('write', leaseName, error);
    }
  }
}

async function readText(stream: NodeJS.ReadableStream | undefined): Promise<string> {
  if (!stream) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

function codeOf(error: unknown): string | undefined {
  const details = (error as { details?: { errorCode?: unknown }; code?: unknown } | undefined) ?? {};
  const code = details.details?.errorCode ?? details.code;
  return typeof code === 'string' ? code : undefined;
}

/** Status and code only: a service message or URL could carry a SAS token. */
function failure(operation: string, leaseName: string, error: unknown): TickLedgerError {
  if (error instanceof TickLedgerError) return error;
  const status = statusOf(error);
  const code = codeOf(error);
  const name = (error as { name?: string } | undefined)?.name ?? 'Error';
  const detail =
    status !== undefined ? `HTTP ${status}${code ? ` ${code}` : ''}` : `${name}${code ? ` ${code}` : ''}`;
  return new TickLedgerError(`tick ledger ${operation} of lease "${leaseName}" failed: ${detail}`);
}
