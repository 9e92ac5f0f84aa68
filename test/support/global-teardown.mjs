import { rmSync } from 'node:fs';

export default async function globalTeardown() {
  await globalThis.__AZURITE__?.stop();
  // Removes the packed package and consumer projects; the node_modules symlinks in it are removed,
  // never followed.
  if (process.env.PACKED_PACKAGE_DIR)
    rmSync(process.env.PACKED_PACKAGE_DIR, { recursive: true, force: true });
}
