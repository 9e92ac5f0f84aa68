// Starts the Azurite blob service from the project's devDependency, in memory, on a free loopback
// port. Plain JavaScript so that Jest's globalSetup, the demo, the benchmarks and the fault harness
// can all load it without a build step (types: azurite.d.mts).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Azurite's well-known development account (public, documented by Microsoft). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export function azuriteConnectionString(port, host = '127.0.0.1', key = AZURITE_KEY) {
  return `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${key};BlobEndpoint=http://${host}:${port}/${AZURITE_ACCOUNT};`;
}

export async function freePort() {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * A bearer token Azurite's `--oauth basic` accepts: it checks the lifetime (nbf, exp), the issuer
 * (an Entra STS) and the audience (storage), not the signature. Expires `lifetimeMs` from now.
 */
export function azuriteToken(lifetimeMs) {
  const now = Math.floor(Date.now() / 1000);
  const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const claims = {
    aud: 'https://storage.azure.com',
    iss: 'https://sts.windows.net/00000000-0000-0000-0000-000000000000/',
    iat: now - 1,
    nbf: now - 1,
    exp: Math.floor((Date.now() + lifetimeMs) / 1000),
  };
  return {
    token: `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}.${Buffer.from('unsigned').toString('base64url')}`,
    expiresOnTimestamp: claims.exp * 1000,
  };
}

/** A self-signed certificate for 127.0.0.1/localhost in a fresh temporary folder (Azurite needs HTTPS for OAuth). */
async function loopbackCertificate() {
  const { generate } = await import('selfsigned');
  const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 7, ip: '127.0.0.1' },
          { type: 2, value: 'localhost' },
        ],
      },
    ],
  });
  const dir = mkdtempSync(join(tmpdir(), 'azurite-tls-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  writeFileSync(certFile, pems.cert);
  writeFileSync(keyFile, pems.private);
  return { dir, certFile, keyFile };
}

export async function startAzurite(options = {}) {
  const require = createRequire(import.meta.url);
  const main = require.resolve('azurite/dist/src/blob/main.js');
  const tls = options.oauth ? await loopbackCertificate() : undefined;
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort());
    const child = spawn(
      process.execPath,
      [
        main,
        '--inMemoryPersistence',
        '--blobHost',
        '127.0.0.1',
        '--blobPort',
        String(port),
        '--skipApiVersionCheck',
        '--loose',
        '--disableProductStyleUrl',
        '--silent',
        '--disableTelemetry', // never phone home: tests reach only loopback
        ...(tls ? ['--oauth', 'basic', '--cert', tls.certFile, '--key', tls.keyFile] : []),
      ],
      // Run in the temp folder so nothing Azurite might write lands in the project.
      { stdio: ['ignore', 'pipe', 'pipe'], cwd: tmpdir() },
    );
    try {
      await waitForListening(child, options.startTimeoutMs ?? 30_000);
    } catch (error) {
      child.kill('SIGKILL');
      if (attempt < 3 && options.port === undefined) continue; // the free port was taken meanwhile
      throw error;
    }
    const kill = () => child.kill('SIGKILL');
    process.once('exit', kill);
    return {
      port,
      pid: child.pid ?? -1,
      connectionString: tls
        ? azuriteConnectionString(port).replace(/http:/g, 'https:')
        : azuriteConnectionString(port),
      ...(tls ? { accountUrl: `https://127.0.0.1:${port}/${AZURITE_ACCOUNT}`, caFile: tls.certFile } : {}),
      async stop() {
        process.removeListener('exit', kill);
        if (tls) rmSync(tls.dir, { recursive: true, force: true });
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      },
    };
  }
}

function waitForListening(child, timeoutMs) {
  return new Promise((resolve, reject) => {
    let output = '';
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
    };
    const fail = (error) => {
      cleanup();
      reject(error);
    };
    const onData = (chunk) => {
      output += chunk.toString();
      if (/successfully listen/i.test(output)) {
        cleanup();
        // Keep draining output so a full pipe never blocks Azurite.
        child.stdout?.resume();
        child.stderr?.resume();
        resolve();
      }
    };
    const onExit = (code) => fail(new Error(`Azurite exited with code ${code}:\n${output}`));
    const timer = setTimeout(
      () => fail(new Error(`Azurite did not start within ${timeoutMs} ms:\n${output}`)),
      timeoutMs,
    );
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}
