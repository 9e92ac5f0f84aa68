import { describe, expect, it } from '@jest/globals';
import { AzureBlobLeaseStore } from '../../lib/stores/azure-blob/azure-blob-lease-store.js';
import { displayUrl, redactSecrets } from '../../lib/stores/azure-blob/redact.js';

const KEY = 'c2VjcmV0LWFjY291bnQta2V5LXRoYXQtbXVzdC1uZXZlci1sZWFr';
const SIG = 'sIgNaTuRe%2Bmust%2Fnot%2Bleak%3D';
const SAS = `sv=2024-08-04&ss=b&srt=co&sp=rwdlac&se=2030-01-01T00:00:00Z&sig=${SIG}`;

describe('secrets never reach descriptions or messages', () => {
  it('describes a key-based store by account URL only', () => {
    const store = new AzureBlobLeaseStore({ connectionString: `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${KEY};EndpointSuffix=core.windows.net` });
    expect(store.description).toBe('azure-blob https://acct.blob.core.windows.net/leader-election');
    expect(store.description).not.toContain(KEY);
  });

  it('drops the SAS token from a SAS-based store description', () => {
    const store = new AzureBlobLeaseStore({ connectionString: `BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=${SAS}`, containerName: 'locks' });
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

  it('rejects an unparseable accountUrl without the SAS it carries (Node\'s URL error would hold the whole input)', () => {
    const accountUrl = `https://acct blob.core.windows.net/?${SAS}`;
    const credential = { getToken: async () => null };
    let error: unknown;
    try {
      new AzureBlobLeaseStore({ accountUrl, credential });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TypeError);
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
    expect(redactSecrets('before literal-secret-value after', ['literal-secret-value'])).toBe('before [REDACTED] after');
  });

  it('displays URLs without their query string', () => {
    expect(displayUrl(`https://acct.blob.core.windows.net/c?${SAS}`)).toBe('https://acct.blob.core.windows.net/c');
    expect(displayUrl('not a url')).toBe('[unparseable URL]');
  });
});
