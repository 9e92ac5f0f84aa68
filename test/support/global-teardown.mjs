export default async function globalTeardown() {
  await globalThis.__AZURITE__?.stop();
}
