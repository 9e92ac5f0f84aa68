import { createHash } from 'node:crypto';
import {
  BlobServiceClient,
  type BlobClient,
  type ContainerClient,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import {
  InvalidElectionOptionError,
  validateIdentity,
  validateLeaseName,
} from '../../core/election-options.js';
import {
  LeaseLostError,
  LeaseRecordLostError,
  LeaseStoreError,
  PermanentStoreError,
  TransientStoreError,
  type AcquireRequest,
  type AcquireResult,
  type LeaseObservation,
  type LeaseStore,
  type LeaseStoreErrorKind,
  type ReleaseOptions,
} from '../../core/lease-store.js';
import type { PresenceAnnouncement, PresenceRecord, PresenceStore } from '../../core/presence.js';
import { LeaderElectionSetupError } from '../../core/errors.js';
import { sanitizeForeignText } from '../../core/sanitize.js';
import { validateContainerName } from './azure-blob-names.js';
import {
  listLeaseRecords,
  resolveListingOptions,
  silenceLowerBound,
  type ListedObservation,
} from './lease-listing.js';
import { displayUrl, redactSecrets } from './redact.js';

export const DEFAULT_CONTAINER_NAME = 'leader-election';

/**
 * The record version an observation of a missing lease blob reports. An acquire with it as If-Match
 * creates the blob and takes the lease only if nobody created the blob since (a real ETag is quoted,
 * so it never equals this).
 */
export const ABSENT_RECORD_ETAG = 'absent';

/** Metadata keys written by the holder on every acquisition. */
export const METADATA = {
  leader: 'leader',
  term: 'term',
  acquiredAt: 'acquiredat',
  recoveredTerm: 'recoveredterm',
  successor: 'successor',
  /** `<term>:<ms>`: fast failover's livenessMs declared by the holder of that term (only it counts). */
  livenessMs: 'livenessms',
} as const;

/** Metadata keys of a presence record. */
export const PRESENCE_METADATA = {
  identity: 'identity',
  priority: 'priority',
  canLead: 'canlead',
  startedAt: 'startedat',
} as const;

/**
 * Presence records live under this prefix, one blob per (lease, candidate):
 * `~presence/<lease name with '/' written as '~'>/<sha-256 of the identity, 32 hex>`. Lease names
 * cannot contain '~', so no lease blob and no other lease's records share a name or a prefix.
 */
export const PRESENCE_PREFIX = '~presence/';

export function presencePrefix(leaseName: string): string {
  return `${PRESENCE_PREFIX}${validateLeaseName(leaseName).replaceAll('/', '~')}/`;
}

export function presenceBlobName(leaseName: string, identity: string): string {
  return `${presencePrefix(leaseName)}${createHash('sha256').update(identity).digest('hex').slice(0, 32)}`;
}

interface CommonOptions {
  /** Container holding one blob per lease name. Default "leader-election". */
  containerName?: string;
  /** Create the container and lease blobs when missing (never overwriting). Default true. */
  createIfMissing?: boolean;
  /** Followers observe by one listing per poll from this many leases in the container (default 13). */
  listingFromLeases?: number;
  /** Blobs per List Blobs page, 1–5000 (default 5000). */
  listingPageSize?: number;
}

/**
 * A Microsoft Entra credential: the shape of `TokenCredential` from @azure/core-auth, which
 * DefaultAzureCredential and every @azure/identity credential implement. Declared here so that this
 * package's types need nothing beyond @azure/storage-blob (core-auth is only its transitive dependency).
 */
export interface TokenCredential {
  getToken(
    scopes: string | string[],
    options?: object,
  ): Promise<{ token: string; expiresOnTimestamp: number } | null>;
}

/** Connect with a storage connection string (account key or SAS). */
export interface ConnectionStringStoreOptions extends CommonOptions {
  connectionString: string;
}

/**
 * Connect with an account URL (e.g. https://acct.blob.core.windows.net) and a Microsoft Entra credential such
 * as DefaultAzureCredential.
 */
export interface AccountUrlStoreOptions extends CommonOptions {
  accountUrl: string;
  credential: TokenCredential;
}

/**
 * Use an existing ContainerClient. Its pipeline is yours: turn its retries off or keep them short,
 * or they can hold a renewal up to the request timeout (the elector still bounds every call).
 */
export interface ContainerClientStoreOptions extends Pick<
  CommonOptions,
  'createIfMissing' | 'listingFromLeases' | 'listingPageSize'
> {
  containerClient: ContainerClient;
}

export type AzureBlobLeaseStoreOptions =
  ConnectionStringStoreOptions | AccountUrlStoreOptions | ContainerClientStoreOptions;

/**
 * Pipeline options for clients we build: exactly one try per call (the elector does its own
 * retrying against its deadlines) and a per-try timeout as a backstop to the AbortSignal.
 */
export const STORE_PIPELINE_OPTIONS: StoragePipelineOptions = {
  retryOptions: { maxTries: 1, tryTimeoutInMs: 30_000 },
  userAgentOptions: { userAgentPrefix: 'nestjs-leader-election' },
};

/**
 * A {@link LeaseStore} on Azure Storage blob leases: one blob per lease name in one container.
 *
 * - observe: Get Properties (no lease id needed, no 409 noise).
 * - acquire: Acquire Lease with the candidate's stable proposed id (and If-Match on the observed ETag
 *   when the request has `ifMatch`), then write `leader`, `term` (previous + 1) and `acquiredat` into
 *   metadata under the lease; acquired only once written.
 * - renew / release: Renew Lease / Release Lease; 409 on release counts as released.
 * Missing container and blob are created on first acquire, never overwriting an existing blob.
 */
export class AzureBlobLeaseStore implements LeaseStore, PresenceStore {
  readonly description: string;
  private readonly createIfMissing: boolean;
  /** The switch-over rule's threshold (LeaseLister): see docs/OPERATIONS.md, "Many leases". */
  readonly listingFromLeases: number;
  readonly listingPageSize: number;
  private readonly secrets: string[];
  private readonly ensured = new Set<string>();
  private containerCreating?: Promise<void>;
  /** The record each lease's last acquire wrote, per lease id: what a heartbeat writes again. */
  private readonly written = new Map<string, { leaseId: string; metadata: Record<string, string> }>();
  private containerEnsured = false;
  /** Create Container answered 403: these credentials (e.g. a container SAS) cannot create it. */
  private containerCreateForbidden = false;

  constructor(options: AzureBlobLeaseStoreOptions) {
    if (options === null || typeof options !== 'object') {
      throw new LeaderElectionSetupError(
        'AzureBlobLeaseStore options must be an object with connectionString, accountUrl + credential, ' +
          'or containerClient',
      );
    }
    ({ listingFromLeases: this.listingFromLeases, listingPageSize: this.listingPageSize } =
      resolveListingOptions(options as CommonOptions));
    const { client, secrets } = AzureBlobLeaseStore.containerClientFrom(options);
    this.container = client;
    this.secrets = secrets;
    this.createIfMissing = options.createIfMissing ?? true;
    this.description = `azure-blob ${displayUrl(client.url)}`;
  }

  readonly container: ContainerClient;

  private static containerClientFrom(options: AzureBlobLeaseStoreOptions): {
    client: ContainerClient;
    secrets: string[];
  } {
    if ('containerClient' in options && options.containerClient) {
      const client = options.containerClient as unknown as Record<string, unknown>;
      if (
        typeof client !== 'object' ||
        typeof client.getBlobClient !== 'function' ||
        typeof client.url !== 'string'
      ) {
        // Described by type only (InvalidElectionOptionError never keeps objects): a client holds a secret.
        throw new InvalidElectionOptionError(
          'containerClient',
          options.containerClient,
          'a ContainerClient from @azure/storage-blob',
        );
      }
      return { client: options.containerClient, secrets: [] };
    }
    const containerName = validateContainerName(
      (options as CommonOptions).containerName ?? DEFAULT_CONTAINER_NAME,
    );
    if ('connectionString' in options) {
      const connectionString = options.connectionString;
      if (typeof connectionString !== 'string' || connectionString.trim() === '') {
        throw new LeaderElectionSetupError(
          'Invalid leader election option "connectionString": got an empty value; allowed: an Azure ' +
            'Storage connection string',
        );
      }
      const secrets = secretsInConnectionString(connectionString);
      let service: BlobServiceClient;
      try {
        service = BlobServiceClient.fromConnectionString(connectionString, STORE_PIPELINE_OPTIONS);
      } catch (error) {
        // Never echo the connection string: it carries the account key or a SAS token. No `cause`
        // either: the SDK error may quote the value.
        throw new LeaderElectionSetupError(
          `Invalid leader election option "connectionString": it could not be parsed ` +
            `(${redactSecrets(messageOf(error), [connectionString, ...secrets])}); allowed: an Azure ` +
            `Storage connection string with AccountName/AccountKey, BlobEndpoint/SharedAccessSignature, ` +
            `or UseDevelopmentStorage=true. The value is not shown because it contains credentials.`,
        );
      }
      return { client: service.getContainerClient(containerName), secrets: [connectionString, ...secrets] };
    }
    if ('accountUrl' in options) {
      if (typeof options.accountUrl !== 'string' || !/^https?:\/\//.test(options.accountUrl)) {
        throw new LeaderElectionSetupError(
          `Invalid leader election option "accountUrl": got ` +
            JSON.stringify(
              typeof options.accountUrl === 'string'
                ? displayUrl(options.accountUrl)
                : typeof options.accountUrl,
            ) +
            `; allowed: an http(s) URL such as https://<account>.blob.core.windows.net`,
        );
      }
      if (!options.credential || typeof (options.credential as TokenCredential).getToken !== 'function') {
        throw new LeaderElectionSetupError(
          'Invalid leader election option "credential": allowed: a TokenCredential (e.g. new ' +
            'DefaultAzureCredential() from @azure/identity) when accountUrl is given',
        );
      }
      let query: string;
      try {
        query = new URL(options.accountUrl).search;
      } catch {
        // Not rethrown: Node's URL error carries the whole input (SAS included) in its `input` field.
        throw new LeaderElectionSetupError(
          `Invalid leader election option "accountUrl": got ` +
            `${JSON.stringify(displayUrl(options.accountUrl))}, which is not a valid URL; allowed: an ` +
            `http(s) URL such as https://<account>.blob.core.windows.net`,
        );
      }
      const service = new BlobServiceClient(options.accountUrl, options.credential, STORE_PIPELINE_OPTIONS);
      return { client: service.getContainerClient(containerName), secrets: query ? [query.slice(1)] : [] };
    }
    throw new LeaderElectionSetupError(
      'AzureBlobLeaseStore needs one of: connectionString, accountUrl + credential, or containerClient',
    );
  }

  async observe(leaseName: string, signal: AbortSignal): Promise<LeaseObservation> {
    const blob = this.blob(leaseName);
    try {
      let properties;
      for (let attempt = 1; ; attempt++) {
        try {
          properties = await blob.getProperties({ abortSignal: signal });
          break;
        } catch (error) {
          // A pooled socket the server closed while we sat idle or blocked fails its next request at once;
          // Get Properties only reads, so a few immediate retries are safe and save a WARN and a poll.
          if (!isStaleConnectionError(error) || signal.aborted || attempt >= STALE_CONNECTION_ATTEMPTS)
            throw error;
        }
      }
      const silentForAtLeastMs = silenceLowerBound(
        properties.date?.getTime(),
        properties.lastModified?.getTime(),
      );
      return {
        held: isHeldState(properties.leaseState),
        ...readMetadata(properties.metadata),
        ...(properties.etag ? { etag: properties.etag } : {}),
        ...(silentForAtLeastMs !== undefined ? { silentForAtLeastMs } : {}),
      };
    } catch (error) {
      if (statusOf(error) === 404) return { held: false, term: 0, etag: ABSENT_RECORD_ETAG };
      throw this.translate(error, 'observe', leaseName);
    }
  }

  /**
   * The observations of every lease under the common prefix of `leaseNames` from one paged List Blobs
   * (the shared poller's LeaseLister): read like observe() reads Get Properties. No container: none.
   */
  async listLeases(
    leaseNames: readonly string[],
    signal: AbortSignal,
  ): Promise<Map<string, ListedObservation>> {
    const reader = { heldState: isHeldState, readMetadata };
    const absent = (listed: Map<string, ListedObservation>): Map<string, ListedObservation> => {
      // No blob: read as observe() reads it, version included, so an acquire on it stays conditional.
      for (const name of leaseNames)
        if (!listed.has(name)) listed.set(name, { held: false, term: 0, etag: ABSENT_RECORD_ETAG });
      return listed;
    };
    try {
      return absent(await listLeaseRecords(this.container, leaseNames, this.listingPageSize, reader, signal));
    } catch (error) {
      if (statusOf(error) === 404) return absent(new Map());
      throw this.translate(error, 'list leases', leaseNames.length === 1 ? leaseNames[0]! : '(all)');
    }
  }

  async acquire(request: AcquireRequest, signal: AbortSignal): Promise<AcquireResult> {
    try {
      // Checked before the lease is taken: an identity that cannot be recorded (a lone surrogate
      // makes encodeURIComponent throw) would leave us holding a lease we can never lead with.
      validateIdentity(request.identity);
    } catch (error) {
      if (!(error instanceof InvalidElectionOptionError)) throw error;
      throw new PermanentStoreError(
        `acquire of lease "${request.leaseName}" refused: ${error.message}`,
        'InvalidIdentity',
      );
    }
    const blob = this.blob(request.leaseName);
    const leaseClient = blob.getBlobLeaseClient(request.leaseId);
    try {
      // If-Match: the blob must still be the version observed; for a blob observed missing, we must be
      // the one creating it now (docs/GUARANTEES.md, "Acquire conditional on the record observed").
      let ifMatch = request.ifMatch;
      if (ifMatch === ABSENT_RECORD_ETAG) {
        // Without createIfMissing a blob observed missing can only have been created by someone else since.
        ifMatch = this.createIfMissing ? await this.createBlob(request.leaseName, signal) : undefined;
        if (ifMatch === undefined) return await this.changedSinceObserved(request.leaseName, signal);
      } else if (ifMatch === undefined) await this.ensureBlob(request.leaseName, signal);
      try {
        const conditions = ifMatch === undefined ? {} : { conditions: { ifMatch } };
        await leaseClient.acquireLease(request.durationSeconds, { abortSignal: signal, ...conditions });
      } catch (error) {
        // 412 ConditionNotMet: a tenure began (or the blob was recreated) since the observation; 404: the
        // observed blob is gone. Either way nothing was taken: not an error, and the caller observes anew.
        if (ifMatch !== undefined && (statusOf(error) === 412 || statusOf(error) === 404)) {
          if (statusOf(error) === 404) this.forgetEnsured(request.leaseName);
          return await this.changedSinceObserved(request.leaseName, signal);
        }
        if (statusOf(error) !== 404 || !this.createIfMissing) throw error;
        // Deleted behind our back (or container removed): create again, then retry once.
        this.forgetEnsured(request.leaseName);
        await this.ensureBlob(request.leaseName, signal);
        await leaseClient.acquireLease(request.durationSeconds, { abortSignal: signal });
      }
    } catch (error) {
      if (error instanceof LeaseStoreError) throw error; // already classified (e.g. ContainerBeingDeleted)
      if (statusOf(error) === 409) {
        // LeaseAlreadyPresent (or breaking): someone else leads. Not an error.
        return { acquired: false, observation: { held: true, term: 0 } };
      }
      throw this.translate(error, 'acquire', request.leaseName);
    }
    try {
      // We hold the lease now: nobody else can write metadata, so previous term + 1 is unique.
      const properties = await blob.getProperties({
        abortSignal: signal,
        conditions: { leaseId: request.leaseId },
      });
      const previous = readMetadata(properties.metadata);
      // previous.term is a safe integer below MAX_TERM (anything else reads as 0, a lost record);
      // minimumTerm comes from the caller: use it only when it is a sane term as well.
      const minimum = isTerm(request.minimumTerm) ? request.minimumTerm : 0;
      const term = Math.max(previous.term, minimum) + 1;
      // Set Metadata replaces the whole set: keep what others stored on the blob, replace only our keys
      // (metadata names are case-insensitive, so drop any spelling of ours first).
      const ours = new Set<string>(Object.values(METADATA));
      const kept = Object.fromEntries(
        Object.entries(properties.metadata ?? {}).filter(([key]) => !ours.has(key.toLowerCase())),
      );
      const record = {
        ...kept,
        [METADATA.leader]: encodeURIComponent(request.identity),
        [METADATA.term]: String(term),
        [METADATA.acquiredAt]: new Date().toISOString(),
        ...(request.recoveredTerm !== undefined
          ? { [METADATA.recoveredTerm]: String(request.recoveredTerm) }
          : {}),
        // Tied to the term: a holder that does not declare one (another version) keeps our key untouched.
        ...(request.livenessMs !== undefined
          ? { [METADATA.livenessMs]: `${term}:${request.livenessMs}` }
          : {}),
      };
      await blob.setMetadata(record, { abortSignal: signal, conditions: { leaseId: request.leaseId } });
      // Heartbeats rewrite exactly this set (Set Metadata replaces the whole set; under our lease
      // nobody else can change it), so a heartbeat costs one request. Kept only for a holder that will
      // heartbeat (fast failover): per-run lock ticks acquire a new name every tick.
      if (request.livenessMs !== undefined)
        this.written.set(request.leaseName, { leaseId: request.leaseId, metadata: record });
      else this.written.delete(request.leaseName);
      return { acquired: true, term, previousTerm: previous.term };
    } catch (error) {
      const status = statusOf(error);
      if (status === 412 || status === 409 || status === 404) {
        throw new LeaseLostError(
          `lease "${request.leaseName}" was lost before its term could be written (${this.describe(error)})`,
          codeOf(error),
          status,
        );
      }
      throw this.translate(error, 'write term', request.leaseName);
    }
  }

  async renew(leaseName: string, leaseId: string, signal: AbortSignal): Promise<void> {
    try {
      await this.blob(leaseName).getBlobLeaseClient(leaseId).renewLease({ abortSignal: signal });
    } catch (error) {
      const status = statusOf(error);
      if (status === 404) {
        // BlobNotFound / ContainerNotFound: the record itself is gone, not taken by someone else.
        this.forgetEnsured(leaseName);
        throw new LeaseRecordLostError(
          `lease "${leaseName}" can no longer be renewed: its record is gone (${this.describe(error)})`,
          codeOf(error),
          status,
        );
      }
      if (status === 409 || status === 412) {
        throw new LeaseLostError(
          `lease "${leaseName}" can no longer be renewed (${this.describe(error)})`,
          codeOf(error),
          status,
        );
      }
      throw this.translate(error, 'renew', leaseName);
    }
  }

  /**
   * Fast failover's heartbeat: Set Blob Metadata under our lease id, rewriting the record as the
   * acquire wrote it. A new ETag and Last-Modified (facts 1–2 in docs/azure-storage-facts.md); a lease
   * that is not ours any more (broken, expired and taken, released) refuses the write with 409/412.
   */
  async heartbeat(leaseName: string, leaseId: string, signal: AbortSignal): Promise<void> {
    const blob = this.blob(leaseName);
    try {
      let written = this.written.get(leaseName);
      if (written?.leaseId !== leaseId) {
        const properties = await blob.getProperties({ abortSignal: signal, conditions: { leaseId } });
        written = { leaseId, metadata: properties.metadata ?? {} };
        this.written.set(leaseName, written);
      }
      await blob.setMetadata(written.metadata, { abortSignal: signal, conditions: { leaseId } });
    } catch (error) {
      const status = statusOf(error);
      if (status === 404) {
        this.forgetEnsured(leaseName);
        throw new LeaseRecordLostError(
          `lease "${leaseName}" cannot heartbeat: its record is gone (${this.describe(error)})`,
          codeOf(error),
          status,
        );
      }
      // 412 LeaseIdMismatchWithBlobOperation / LeaseIdMissing / LeaseNotPresentWithBlobOperation, or
      // 409 (Azure's outcome table; difference D1): the lease is not ours any more.
      if (status === 409 || status === 412)
        throw new LeaseLostError(
          `lease "${leaseName}" can no longer heartbeat (${this.describe(error)})`,
          codeOf(error),
          status,
        );
      throw this.translate(error, 'heartbeat', leaseName);
    }
  }

  /**
   * Fast failover's takeover: Break Lease with break period 0, only if the blob is still the version
   * observed (If-Match). 412 (a heartbeat landed since) and 409 (no lease to break: released or
   * already broken; D4) break nothing: false, the follower keeps following. Break leaves the ETag.
   */
  async breakStale(leaseName: string, ifMatch: string, signal: AbortSignal): Promise<boolean> {
    try {
      await this.blob(leaseName)
        .getBlobLeaseClient()
        .breakLease(0, { abortSignal: signal, conditions: { ifMatch } });
      return true;
    } catch (error) {
      const status = statusOf(error);
      if (status === 412 || status === 409 || status === 404) return false;
      throw this.translate(error, 'break', leaseName);
    }
  }

  async release(
    leaseName: string,
    leaseId: string,
    signal: AbortSignal,
    options: ReleaseOptions = {},
  ): Promise<void> {
    if (this.written.get(leaseName)?.leaseId === leaseId) this.written.delete(leaseName);
    if (options.successor !== undefined)
      await this.nameSuccessor(leaseName, leaseId, options.successor, signal);
    try {
      await this.blob(leaseName).getBlobLeaseClient(leaseId).releaseLease({ abortSignal: signal });
    } catch (error) {
      const status = statusOf(error);
      // 409: not ours any more, or an earlier release succeeded but its response was lost.
      if (status === 409 || status === 404 || status === 412) return;
      throw this.translate(error, 'release', leaseName);
    }
  }

  /**
   * Writes `successor` into the lease blob's metadata under our lease, keeping the rest. Best effort:
   * if it fails the release still happens and followers simply race for the free lease.
   */
  private async nameSuccessor(
    leaseName: string,
    leaseId: string,
    successor: string,
    signal: AbortSignal,
  ): Promise<void> {
    const blob = this.blob(leaseName);
    try {
      const properties = await blob.getProperties({ abortSignal: signal, conditions: { leaseId } });
      const metadata = Object.fromEntries(
        Object.entries(properties.metadata ?? {}).filter(([key]) => key.toLowerCase() !== METADATA.successor),
      );
      await blob.setMetadata(
        { ...metadata, [METADATA.successor]: encodeURIComponent(successor) },
        { abortSignal: signal, conditions: { leaseId } },
      );
    } catch {
      // The release below decides; a missing successor mark only costs the preference.
    }
  }

  async announce(leaseName: string, announcement: PresenceAnnouncement, signal: AbortSignal): Promise<void> {
    const blob = this.container.getBlockBlobClient(presenceBlobName(leaseName, announcement.identity));
    const metadata = {
      [PRESENCE_METADATA.identity]: encodeURIComponent(announcement.identity),
      [PRESENCE_METADATA.priority]: String(announcement.priority),
      [PRESENCE_METADATA.canLead]: String(announcement.canLead),
      [PRESENCE_METADATA.startedAt]: new Date(announcement.startedAt).toISOString(),
    };
    try {
      // Set Blob Metadata: the cheapest write, and it moves Last-Modified (a lease renewal does not).
      await blob.setMetadata(metadata, { abortSignal: signal });
    } catch (error) {
      if (statusOf(error) !== 404) throw this.translate(error, 'announce presence', leaseName);
      try {
        await this.ensureContainer(signal);
        await blob.upload('', 0, { metadata, abortSignal: signal });
      } catch (created) {
        throw this.translate(created, 'announce presence', leaseName);
      }
    }
  }

  async withdraw(leaseName: string, identity: string, signal: AbortSignal): Promise<void> {
    try {
      await this.container
        .getBlobClient(presenceBlobName(leaseName, identity))
        .deleteIfExists({ abortSignal: signal });
    } catch (error) {
      if (statusOf(error) === 404) return;
      throw this.translate(error, 'withdraw presence', leaseName);
    }
  }

  async list(leaseName: string, signal: AbortSignal): Promise<PresenceRecord[]> {
    const records: PresenceRecord[] = [];
    try {
      for await (const page of this.container
        .listBlobsFlat({ prefix: presencePrefix(leaseName), includeMetadata: true, abortSignal: signal })
        .byPage({ maxPageSize: 1000 })) {
        // Ages on the service's clock: Last-Modified against the Date of the same response (both
        // server time, 1 s resolution). A replica's wall clock never enters.
        const serverNow = page.date?.getTime();
        for (const item of page.segment.blobItems) {
          const record = readPresence(item.metadata, item.properties.lastModified?.getTime(), serverNow);
          if (record) records.push(record);
        }
      }
    } catch (error) {
      if (statusOf(error) === 404) return []; // no container yet: nobody announced
      throw this.translate(error, 'list presence', leaseName);
    }
    return records;
  }

  private blob(leaseName: string): BlobClient {
    return this.container.getBlobClient(validateLeaseName(leaseName));
  }

  /**
   * Creates the container when missing (once per store, again after it was found missing). Concurrent
   * callers (the first acquires of many leases at start-up) share one Create Container request.
   */
  private async ensureContainer(signal: AbortSignal, leaseName = '(presence)'): Promise<void> {
    if (!this.createIfMissing || this.containerEnsured) return;
    this.containerCreating ??= this.createContainer(signal, leaseName).finally(() => {
      this.containerCreating = undefined;
    });
    await this.containerCreating;
  }

  private async createContainer(signal: AbortSignal, leaseName: string): Promise<void> {
    try {
      await this.container.create({ abortSignal: signal });
    } catch (error) {
      const status = statusOf(error);
      if (status === 409 && codeOf(error) === 'ContainerBeingDeleted') {
        // Azure keeps a deleted container in this state for 30 s or more; Create Container
        // succeeds only afterwards. Not "exists": try again on the next attempt.
        throw new TransientStoreError(
          `container of lease "${leaseName}" on ${this.description} is being deleted; it is created ` +
            `again once Azure has finished deleting it (${this.describe(error)})`,
          'ContainerBeingDeleted',
          409,
        );
      }
      // 409: ContainerAlreadyExists. 403: a container-scoped credential (container SAS) may not create
      // containers; carry on, the blob calls that follow tell whether container and credentials are valid.
      if (status !== 409 && status !== 403) throw error;
      this.containerCreateForbidden = status === 403;
    }
    this.containerEnsured = true;
  }

  /**
   * The answer to an acquire whose If-Match failed: nothing was taken, and what the record is now. If
   * that cannot be read, a refusal like a 409's (held, holder unknown): the caller observes again.
   */
  private async changedSinceObserved(leaseName: string, signal: AbortSignal): Promise<AcquireResult> {
    try {
      return { acquired: false, observation: await this.observe(leaseName, signal) };
    } catch {
      return { acquired: false, observation: { held: true, term: 0 } };
    }
  }

  /** Creates the container and an empty blob when missing; an existing blob (leased or not) is left alone. */
  private async ensureBlob(leaseName: string, signal: AbortSignal): Promise<void> {
    if (!this.createIfMissing || this.ensured.has(leaseName)) return;
    await this.createBlob(leaseName, signal);
  }

  /** Creates the container if needed and the blob unless it exists: its new ETag (undefined: it existed). */
  private async createBlob(leaseName: string, signal: AbortSignal): Promise<string | undefined> {
    await this.ensureContainer(signal, leaseName);
    let etag: string | undefined;
    try {
      const created = await this.container.getBlockBlobClient(leaseName).upload('', 0, {
        abortSignal: signal,
        conditions: { ifNoneMatch: '*' },
      });
      etag = created.etag;
    } catch (error) {
      const status = statusOf(error);
      if (status === 404 && !this.containerCreateForbidden) {
        // The container vanished after we saw it (deleted, or being deleted when our create got 409): look
        // again next time. Without create rights, a missing container is misconfiguration (permanent, below).
        this.forgetEnsured(leaseName);
        throw new TransientStoreError(
          `container of lease "${leaseName}" on ${this.description} does not exist (yet); creating it ` +
            `again on the next attempt (${this.describe(error)})`,
          codeOf(error),
          404,
        );
      }
      // 409 BlobAlreadyExists, 412 condition failed or blob leased: it exists.
      if (status !== 409 && status !== 412) throw error;
    }
    // A cache only: per-run jobs create a record per tick, so it must not grow without bound.
    if (this.ensured.size >= 10_000) this.ensured.clear();
    this.ensured.add(leaseName);
    return etag;
  }

  /**
   * Forget that the container and this lease's blob exist: the next acquire checks and creates them again.
   */
  private forgetEnsured(leaseName: string): void {
    this.ensured.delete(leaseName);
    this.containerEnsured = false;
  }

  /** Status, code and first line of the service message, with every known secret removed. */
  private describe(error: unknown): string {
    // Redacted before it is cut: a token cut in half would no longer look like one.
    const text = redactSecrets(describeRestError(error), this.secrets);
    return text.length > 400 ? `${text.slice(0, 400)}…` : text;
  }

  private translate(error: unknown, operation: string, leaseName: string): LeaseStoreError {
    if (error instanceof LeaseStoreError) return error;
    const status = statusOf(error);
    const code = codeOf(error);
    const detail = this.describe(error);
    // Without createIfMissing a missing blob or container never appears by itself: configuration.
    const missing = status === 404 && !this.createIfMissing;
    const kind = missing ? 'permanent' : classify(status, code, error);
    const hint = missing
      ? ' (createIfMissing is false: create the container and blob, or allow createIfMissing)'
      : kind === 'permanent'
        ? permanentErrorHint(status, code, error, this.container.url)
        : '';
    const message = `${operation} of lease "${leaseName}" on ${this.description} failed: ${detail}${hint}`;
    if (kind === 'permanent') return new PermanentStoreError(message, code, status);
    return new TransientStoreError(message, code, status);
  }
}

function classify(status: number | undefined, code: string | undefined, error: unknown): LeaseStoreErrorKind {
  // AuthenticationFailed, AuthorizationFailure, ...PermissionMismatch
  if (status === 401 || status === 403) return 'permanent';
  // InvalidResourceName, InvalidHeaderValue, ...
  if (status === 400 && code !== 'OperationTimedOut') return 'permanent';
  // The container is not created behind our back: missing means misconfigured (createIfMissing false,
  // or credentials that may not create it, e.g. a container SAS for a container that does not exist).
  if (status === 404 && code === 'ContainerNotFound') return 'permanent';
  if ((error as { name?: string } | undefined)?.name === 'CredentialUnavailableError') return 'permanent';
  return 'transient'; // 408, 429, 5xx, network errors, aborts
}

/**
 * Likely causes of a permanent error, by code: the service's own message is often empty (a HEAD
 * request such as Get Properties has no response body), and "HTTP 400 InvalidHeaderValue" alone
 * sends people looking in the wrong place.
 */
export function permanentErrorHint(
  status: number | undefined,
  code: string | undefined,
  error: unknown,
  url = '',
): string {
  const local =
    /^https?:\/\/(?:127\.0\.0\.1|localhost|\[::1\]|azurite|host\.docker\.internal)[:/]/i.test(url) ||
    url.includes('devstoreaccount1');
  const name = (error as { name?: string } | undefined)?.name;
  if (name === 'CredentialUnavailableError') {
    return (
      ' (likely cause: the credential found no identity to use — for DefaultAzureCredential set up a ' +
      'managed/workload identity, environment variables or an Azure CLI login)'
    );
  }
  if (name === 'AuthenticationError' || name === 'AggregateAuthenticationError') {
    return (
      ' (likely cause: the credential could not get a token — check the tenant, client id and ' +
      'secret/certificate of the identity)'
    );
  }
  switch (code) {
    case 'InvalidHeaderValue':
    case 'InvalidQueryParameterValue':
    case 'UnsupportedHeader':
      return local
        ? ' (likely cause: the storage emulator is older than @azure/storage-blob and rejects its API ' +
            'version (x-ms-version): update Azurite, or start it with --skipApiVersionCheck)'
        : ' (likely cause: the service rejects a request header, often the API version (x-ms-version) of ' +
            'a storage emulator or Azure Stack older than @azure/storage-blob)';
    case 'AuthenticationFailed':
      return (
        ' (likely cause: a wrong or rotated account key, an expired or malformed SAS token, or a clock ' +
        'more than 15 minutes off)'
      );
    case 'AuthorizationPermissionMismatch':
      return (
        ' (likely cause: the SAS or the role lacks a permission: the lease blobs need read, write and ' +
        'create (SAS sp=rwc, plus a for add), or the Storage Blob Data Contributor role for Microsoft ' +
        'Entra identities)'
      );
    case 'AuthorizationResourceTypeMismatch':
      return ' (likely cause: an account SAS without the container and object resource types: srt=co)';
    case 'AuthorizationServiceMismatch':
      return ' (likely cause: a SAS not valid for the blob service: ss must include b)';
    case 'AuthorizationSourceIPMismatch':
      return ' (likely cause: the SAS is restricted to other IP addresses (sip))';
    case 'AuthorizationProtocolMismatch':
      return ' (likely cause: the SAS allows HTTPS only (spr=https) but the endpoint is http)';
    case 'AuthorizationFailure':
      // Azurite answers a wrong account key with this code too (Azure says AuthenticationFailed).
      return (
        ' (likely cause: a wrong or rotated account key or an invalid SAS (an emulator reports these ' +
        'so), the storage account firewall or network rules blocking this client, or a credential ' +
        'without access to this account)'
      );
    case 'InvalidAuthenticationInfo':
    case 'NoAuthenticationInformation':
      return (
        ' (likely cause: missing or malformed credentials, or a token issued for another tenant or ' +
        'audience)'
      );
    case 'ContainerNotFound':
      return (
        ' (likely cause: the container does not exist and these credentials may not create it — create ' +
        'it once, e.g. with az storage container create)'
      );
    case 'InvalidResourceName':
      return ' (likely cause: an invalid container or lease name)';
    case 'AccountIsDisabled':
      return ' (likely cause: the storage account is disabled)';
    default:
      if (status === 401 || status === 403)
        return ' (likely cause: credentials that are wrong, expired or lack a permission on the container)';
      return '';
  }
}

/**
 * Highest term we accept from metadata: a safe integer that still leaves room for + 1. A larger or
 * malformed value (a tampered or corrupted record) cannot be trusted to order leaders — Number() on
 * "9007199254740993" loses precision, a 400-digit value becomes Infinity — so it reads as 0, a lost
 * record, and the elector's record-loss rule applies (wait one lease duration, then continue from
 * the highest term it has seen).
 */
export const MAX_TERM = Number.MAX_SAFE_INTEGER - 1;

function isTerm(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= MAX_TERM;
}

/** The recorded term: decimal digits within [0, MAX_TERM], else 0 (a lost record). */
export function parseTerm(raw: string | undefined): number {
  if (!raw || !/^\d{1,16}$/.test(raw)) return 0;
  const term = Number(raw);
  return isTerm(term) ? term : 0;
}

/** The recorded holder, decoded, stripped of control characters and escape sequences, at most 256 chars. */
export function parseHolder(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  let holder: string;
  try {
    holder = decodeURIComponent(raw);
  } catch {
    holder = raw;
  }
  return sanitizeForeignText(holder);
}

/** Leased or breaking: held (an expired, broken or available lease is free to take). */
export function isHeldState(leaseState: string | undefined): boolean {
  return leaseState === 'leased' || leaseState === 'breaking';
}

export function readMetadata(metadata: Record<string, string> | undefined): Omit<LeaseObservation, 'held'> {
  const term = parseTerm(metadata?.[METADATA.term]);
  const holder = parseHolder(metadata?.[METADATA.leader]);
  const rawAcquired = metadata?.[METADATA.acquiredAt];
  const acquiredAt = rawAcquired ? Date.parse(rawAcquired) : NaN;
  // Same bounds as the term (a tampered value reads as absent): it can only end a record-loss wait.
  const rawRecovered = metadata?.[METADATA.recoveredTerm];
  const recoveredTerm = rawRecovered === undefined ? undefined : parseTerm(rawRecovered) || undefined;
  const successor = parseHolder(metadata?.[METADATA.successor]);
  const holderLivenessMs = declaredLivenessMs(metadata?.[METADATA.livenessMs], term);
  return {
    term,
    holder,
    acquiredAt: Number.isFinite(acquiredAt) ? acquiredAt : undefined,
    ...(recoveredTerm !== undefined ? { recoveredTerm } : {}),
    ...(successor !== undefined ? { successor } : {}),
    ...(holderLivenessMs !== undefined ? { holderLivenessMs } : {}),
  };
}

/** The livenessMs a `<term>:<ms>` value declares for `term`; undefined when written under another term. */
function declaredLivenessMs(raw: string | undefined, term: number): number | undefined {
  const match = /^(\d{1,16}):(\d{1,9})$/.exec(raw ?? '');
  if (!match || term === 0 || parseTerm(match[1]) !== term) return undefined;
  return Number(match[2]);
}

/** A presence record from its metadata and server times; undefined when it is not one of ours. */
function readPresence(
  metadata: Record<string, string> | undefined,
  lastModified: number | undefined,
  serverNow: number | undefined,
): PresenceRecord | undefined {
  const identity = parseHolder(metadata?.[PRESENCE_METADATA.identity]);
  if (!identity) return undefined;
  const priority = Number(metadata?.[PRESENCE_METADATA.priority]);
  const startedAt = Date.parse(metadata?.[PRESENCE_METADATA.startedAt] ?? '');
  // Without both server times the age is unknown: report it as just refreshed (the leader's orphan
  // cleanup then keeps it) rather than guess from a local clock.
  const ageMs =
    lastModified !== undefined && serverNow !== undefined ? Math.max(0, serverNow - lastModified) : 0;
  return {
    identity,
    priority: Number.isFinite(priority) ? priority : 0,
    canLead: metadata?.[PRESENCE_METADATA.canLead] !== 'false',
    startedAt: Number.isFinite(startedAt) ? startedAt : 0,
    ageMs,
  };
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

function codeOf(error: unknown): string | undefined {
  const code = error as { code?: unknown; details?: { errorCode?: unknown } } | undefined;
  if (typeof code?.details?.errorCode === 'string') return code.details.errorCode;
  return typeof code?.code === 'string' ? code.code : undefined;
}

/** Status, code and the first line of the service message; never headers or the request. */
function describeRestError(error: unknown): string {
  const status = statusOf(error);
  const code = codeOf(error);
  const name = (error as { name?: string } | undefined)?.name;
  const firstLine = messageOf(error).split('\n')[0]?.slice(0, 4000) ?? ''; // cut to length after redaction
  const parts = [status ? `HTTP ${status}` : undefined, code, firstLine || name].filter(Boolean);
  return parts.join(' ');
}

/** Get Properties attempts when the connection breaks under it (each such failure is immediate). */
const STALE_CONNECTION_ATTEMPTS = 4;

/**
 * The connection broke under the request (a reused socket the other side had closed), not a timeout or an
 * answer.
 */
function isStaleConnectionError(error: unknown): boolean {
  if (statusOf(error) !== undefined) return false;
  const code = codeOf(error);
  return code === 'ECONNRESET' || code === 'EPIPE' || /socket hang up/i.test(messageOf(error));
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function secretsInConnectionString(connectionString: string): string[] {
  const secrets: string[] = [];
  for (const part of connectionString.split(';')) {
    const index = part.indexOf('=');
    if (index < 0) continue;
    const key = part.slice(0, index).trim().toLowerCase();
    const value = part.slice(index + 1).trim();
    if ((key === 'accountkey' || key === 'sharedaccesssignature') && value) secrets.push(value);
  }
  return secrets;
}
