import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAzurite } from './azurite.mjs';

// One in-memory Azurite for the whole Jest run. Workers are forked after global setup and inherit
// the environment, so every test reads AZURITE_CONNECTION_STRING.
export default async function globalSetup() {
  const azurite = await startAzurite();
  globalThis.__AZURITE__ = azurite;
  process.env.AZURITE_CONNECTION_STRING = azurite.connectionString;
  process.env.AZURITE_PORT = String(azurite.port);
  // Where test/support/packed-package.ts packs and installs the package, once per run (lazily).
  process.env.PACKED_PACKAGE_DIR = mkdtempSync(join(tmpdir(), 'nle-packed-'));
}
