// Starts the Azurite blob service from the project's devDependency, in memory, on a free loopback
// port. Plain JavaScript so that Jest's globalSetup, the demo, the benchmarks and the fault harness
// can all load it without a build step (types: azurite.d.mts).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';

/** Azurite's well-known development account (public, documented by Microsoft). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

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

export async function startAzurite(options = {}) {
  const require = createRequire(import.meta.url);
  const main = require.resolve('azurite/dist/src/blob/main.js');
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort());
    const child = spawn(
      process.execPath,
      [
        main,
        '--inMemoryPersistence',
        '--blobHost', '127.0.0.1',
        '--blobPort', String(port),
        '--skipApiVersionCheck',
        '--loose',
        '--disableProductStyleUrl',
        '--silent',
        '--disableTelemetry', // never phone home: tests reach only loopback
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
      connectionString: azuriteConnectionString(port),
      async stop() {
        process.removeListener('exit', kill);
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
    const timer = setTimeout(() => fail(new Error(`Azurite did not start within ${timeoutMs} ms:\n${output}`)), timeoutMs);
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}
