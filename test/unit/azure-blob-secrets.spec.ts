import { describe, expect, it } from '@jest/globals';
import type { ContainerClient } from '@azure/storage-blob';
import { InvalidElectionOptionError } from '../../lib/core/election-options.js';
import { LeaderElectionError } from '../../lib/core/errors.js';
import { PermanentStoreError } from '../../lib/core/lease-store.js';
import { AzureBlobLeaseStore } from '../../lib/stores/azure-blob/azure-blob-lease-store.js';
import { displayUrl, redactSecrets } from '../../lib/stores/azure-blob/redact.js';

const KEY = 'c2VjcmV0LWFjY291bnQta2V5LXRoYXQtbXVzdC1uZXZlci1sZWFr';
const SIG = 'sIgNaTuRe%2Bmust%2Fnot%2Bleak%3D';
const SAS = `sv=2024-08-04&ss=b&srt=co&sp=rwdlac&se=2030-01-01T00:00:00Z&sig=${SIG}`;

describe('secrets never reach descriptions or messages', () => {
  it('describes a key-based store by account URL only', () => {
    const store = new AzureBlobLeaseStore({
      connectionString: `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${KEY};EndpointSuffix=core.windows.net`,
    });
    expect(store.description).toBe('azure-blob https://acct.blob.core.windows.net/leader-election');
    expect(store.description).not.toContain(KEY);
  });

  it('drops the SAS token from a SAS-based store description', () => {
    const store = new AzureBlobLeaseStore({
      connectionString: `BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=${SAS}`,
      containerName: 'locks',
    });
    expect(store.description).toBe('azure-blob https://acct.blob.core.windows.net/locks');
    expect(store.description).not.toContain('sig=');
  });

  it('rejects an unparseable connection string without echoing it', () => {
    const connectionString = `AccountKey=${KEY};NoEndpointHere=1`;
    let message = '';
    try {
      new AzureBlobLeaseStore({ connectionString });
    } catch (error) {
      message = `${String(error)} ${(error as Error).stack}`;
    }
    expect(message).toMatch(/"connectionString"/);
    expect(message).not.toContain(KEY);
    expect(message).not.toContain(connectionString);
  });

  it("rejects an unparseable accountUrl without the SAS it carries (Node's URL error would hold the whole input)", () => {
    const accountUrl = `https://acct blob.core.windows.net/?${SAS}`;
    const credential = { getToken: async () => null };
    let error: unknown;
    try {
      new AzureBlobLeaseStore({ accountUrl, credential });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LeaderElectionError);
    const everything = `${String(error)} ${(error as Error).stack} ${JSON.stringify(error)} ${JSON.stringify((error as { input?: unknown }).input ?? '')}`;
    expect(everything).toMatch(/"accountUrl"/);
    expect(everything).not.toContain(SIG);
    expect(everything).not.toContain('sig=');
  });

  it('redacts account keys, SAS signatures, bearer tokens and SharedKey signatures from text', () => {
    const text = [
      `AccountKey=${KEY};`,
      `https://acct.blob.core.windows.net/c/b?${SAS}`,
      'Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig',
      'Authorization: SharedKey acct:QUJDREVGR0hJSktMTU5PUA==',
      `SharedAccessSignature=${SAS}`,
    ].join('\n');
    const redacted = redactSecrets(text, ['literal-secret-value']);
    expect(redacted).not.toContain(KEY);
    expect(redacted).not.toContain(SIG);
    expect(redacted).not.toContain('eyJhbGciOiJSUzI1NiJ9');
    expect(redacted).not.toContain('QUJDREVGR0hJSktMTU5PUA==');
    expect(redacted).toContain('AccountKey=[REDACTED]');
    expect(redactSecrets('before literal-secret-value after', ['literal-secret-value'])).toBe(
      'before [REDACTED] after',
    );
  });

  it('displays URLs without their query string', () => {
    expect(displayUrl(`https://acct.blob.core.windows.net/c?${SAS}`)).toBe(
      'https://acct.blob.core.windows.net/c',
    );
    expect(displayUrl('not a url')).toBe('[unparseable URL]');
  });
});

// Issue 14 item 15: tokens in credential errors; issue 7 item 4: hints for permanent errors.
describe('credential errors and permanent-error hints', () => {
  const JWT =
    'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJodHRwczovL3N0b3JhZ2UuYXp1cmUuY29tIn0.c2lnbmF0dXJlLW11c3Qtbm90LWxlYWs';
  const REFRESH = '0.AXEAmustNotLeakRefreshTokenValue123';
  const SECRET = 'Qx8Q~client-secret-must-not-leak~abc';

  it('redacts OAuth tokens, client secrets and bare JWTs in form, query and JSON shapes', () => {
    const text = [
      `access_token=${JWT}&token_type=Bearer`,
      `{"access_token":"${JWT}","refresh_token": "${REFRESH}"}`,
      `client_secret=${SECRET}&grant_type=client_credentials`,
      `token: ${JWT}`,
      `id_token=${JWT.slice(0, 50)}`, // cut short, as a truncated message would be
    ].join('\n');
    const redacted = redactSecrets(text);
    expect(redacted).not.toContain('eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9');
    expect(redacted).not.toContain('c2lnbmF0dXJlLW11c3Qtbm90LWxlYWs');
    expect(redacted).not.toContain(REFRESH);
    expect(redacted).not.toContain(SECRET);
    expect(redacted).toContain('access_token=[REDACTED]');
    expect(redacted).toContain('token_type=Bearer'); // the word alone is not a token
  });

  it("leaves the SDK's own sentence about Bearer authentication as written", () => {
    const sentence = 'Bearer token authentication is not permitted for non-TLS protected (non-https) URLs.';
    expect(redactSecrets(sentence)).toBe(sentence);
    expect(redactSecrets(`Authorization: Bearer ${JWT}`)).not.toContain('c2lnbmF0dXJl');
  });

  it('a TokenCredential error with tokens reaches the store error redacted', async () => {
    const credential = {
      getToken: async (): Promise<null> => {
        throw new Error(
          `AADSTS50000: token endpoint said {"access_token":"${JWT}","refresh_token":"${REFRESH}"} for client_secret=${SECRET} access_token=${JWT}`,
        );
      },
    };
    const store = new AzureBlobLeaseStore({ accountUrl: 'https://127.0.0.1:9', credential });
    const error = await store.observe('leader', new AbortController().signal).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(Error);
    const everything = `${String(error)} ${error!.stack} ${JSON.stringify(error)}`;
    expect(everything).toContain('AADSTS50000');
    expect(everything).not.toContain('eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9');
    expect(everything).not.toContain(REFRESH);
    expect(everything).not.toContain(SECRET);
  });

  it("the SDK's refusal of a token over http reaches the log as the SDK wrote it", async () => {
    const store = new AzureBlobLeaseStore({
      accountUrl: 'http://127.0.0.1:9',
      credential: { getToken: async () => ({ token: JWT, expiresOnTimestamp: Date.now() + 3_600_000 }) },
    });
    const error = await store.observe('leader', new AbortController().signal).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toContain('Bearer token authentication is not permitted');
    expect(error?.message).not.toContain(JWT.slice(0, 30));
  });

  /** A ContainerClient stand-in whose Get Properties fails like the service would. */
  function failingClient(url: string, failure: Record<string, unknown>): ContainerClient {
    const error = Object.assign(new Error(String(failure.message ?? '')), { name: 'RestError', ...failure });
    return {
      url,
      getBlobClient: () => ({ getProperties: async () => Promise.reject(error) }),
    } as unknown as ContainerClient;
  }

  it.each([
    [
      'an emulator older than the SDK',
      'http://127.0.0.1:10000/devstoreaccount1/leader-election',
      { statusCode: 400, code: 'InvalidHeaderValue', message: '' },
      /emulator is older than @azure\/storage-blob.*--skipApiVersionCheck/,
    ],
    [
      'a wrong account key',
      'https://acct.blob.core.windows.net/leader-election',
      {
        statusCode: 403,
        code: 'AuthenticationFailed',
        message: 'Server failed to authenticate the request.',
      },
      /wrong or rotated account key/,
    ],
    [
      'a SAS without a permission',
      'https://acct.blob.core.windows.net/leader-election',
      {
        statusCode: 403,
        code: 'AuthorizationPermissionMismatch',
        message: 'This request is not authorized to perform this operation using this permission.',
      },
      /lacks a permission.*sp=rwc/,
    ],
    [
      'a credential with no identity',
      'https://acct.blob.core.windows.net/leader-election',
      { statusCode: undefined, name: 'CredentialUnavailableError', message: 'DefaultAzureCredential failed' },
      /found no identity/,
    ],
  ])(
    'a permanent error from %s carries a hint naming the likely cause',
    async (_label, url, failure, hint) => {
      const store = new AzureBlobLeaseStore({ containerClient: failingClient(url, failure) });
      const error = await store.observe('leader', new AbortController().signal).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(PermanentStoreError);
      expect((error as Error).message).toMatch(hint);
    },
  );

  it('transient errors get no hint', async () => {
    const store = new AzureBlobLeaseStore({
      containerClient: failingClient('https://acct.blob.core.windows.net/c', {
        statusCode: 503,
        code: 'ServerBusy',
        message: 'busy',
      }),
    });
    const error = await store
      .observe('leader', new AbortController().signal)
      .catch((e: unknown) => e as Error);
    expect((error as Error).message).not.toMatch(/likely cause/);
  });
});

describe('identities the store cannot record (issue 14, item 16)', () => {
  it('refuses an identity with a lone surrogate before taking the lease, as a permanent error', async () => {
    const calls: string[] = [];
    const record = (name: string) => async (): Promise<object> => {
      calls.push(name);
      return {};
    };
    const blobClient = {
      getBlobLeaseClient: () => ({ acquireLease: record('acquireLease') }),
      getProperties: record('getProperties'),
      setMetadata: record('setMetadata'),
    };
    const containerClient = {
      url: 'https://acct.blob.core.windows.net/c',
      create: record('create'),
      getBlockBlobClient: () => ({ upload: record('upload') }),
      getBlobClient: () => blobClient,
    } as unknown as ContainerClient;
    const store = new AzureBlobLeaseStore({ containerClient });
    const identity = `${'x'.repeat(255)}😀`.slice(0, 256);
    const error = await store
      .acquire(
        {
          leaseName: 'leader',
          leaseId: '00000000-0000-4000-8000-000000000000',
          identity,
          durationSeconds: 15,
        },
        new AbortController().signal,
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentStoreError);
    expect((error as Error).message).toMatch(/lone UTF-16 surrogate/);
    expect(calls).toEqual([]);
  });
});

describe('a wrong containerClient given to the store directly (issue 14, item 10)', () => {
  it('is refused at construction, described by type, without its SAS', () => {
    let error: unknown;
    try {
      new AzureBlobLeaseStore({
        containerClient: { url: `https://acct.blob.core.windows.net/c?${SAS}` } as unknown as ContainerClient,
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidElectionOptionError);
    expect((error as InvalidElectionOptionError).option).toBe('containerClient');
    expect((error as InvalidElectionOptionError).value).toBeUndefined();
    expect(`${String(error)} ${JSON.stringify(error)}`).not.toContain(SIG);
  });
});
