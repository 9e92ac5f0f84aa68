// Azurite's well-known development account (public, documented by Microsoft). Duplicated from
// test/support/azurite.mjs so that compiled benchmark workers (dist/bench/perf) need no .mjs import.
export const AZURITE_ACCOUNT = 'devstoreaccount1';
const AZURITE_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** Connection string for Azurite (or a proxy in front of it) on 127.0.0.1:port. */
export function connectionStringFor(port: number): string {
  return `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=http://127.0.0.1:${port}/${AZURITE_ACCOUNT};`;
}

/** Reads a required numeric environment variable. */
export function envNumber(name: string, fallback?: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') {
    if (fallback === undefined) throw new Error(`${name} is required`);
    return fallback;
  }
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error(`${name} must be a number, got ${raw}`);
  return value;
}

export function envString(name: string, fallback?: string): string {
  const value = process.env[name];
  if (!value) {
    if (fallback === undefined) throw new Error(`${name} is required`);
    return fallback;
  }
  return value;
}
