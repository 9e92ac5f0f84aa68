import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BlobServiceClient, type StoragePipelineOptions } from '@azure/storage-blob';

// A Blob endpoint on loopback that answers each request from a script, for Azure behaviour Azurite
// cannot show (docs/azure-storage-facts.md); the real SDK talks to it.

export interface Seen {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingHttpHeaders;
}
export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

export const errorAnswer = (status: number, code: string): Answer => ({
  status,
  headers: { 'x-ms-error-code': code, 'content-type': 'application/xml' },
  body: `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>scripted</Message></Error>`,
});

let server: Server | undefined;

/** Closes the endpoint the last scriptedEndpoint() opened (call it in afterEach). */
export async function closeScriptedEndpoint(): Promise<void> {
  server?.closeAllConnections();
  server?.close();
  server = undefined;
}

/** A Blob endpoint whose n-th request gets script(n); returns a client for it, its connection string and what it saw. */
export async function scriptedEndpoint(
  script: (n: number) => Answer,
  pipeline: StoragePipelineOptions,
): Promise<{ service: BlobServiceClient; seen: Seen[]; connectionString: string }> {
  const seen: Seen[] = [];
  server = createServer((req, res) => {
    const answer = script(seen.length);
    seen.push({ method: req.method, url: req.url, headers: req.headers });
    req.resume();
    res.writeHead(answer.status, {
      'x-ms-request-id': `r${seen.length}`,
      'x-ms-version': '2025-01-05',
      date: new Date().toUTCString(),
      ...answer.headers,
    });
    res.end(answer.body ?? '');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const connectionString = `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5LWtleS1rZXk=;BlobEndpoint=http://127.0.0.1:${port}/devstoreaccount1;`;
  return {
    service: BlobServiceClient.fromConnectionString(connectionString, pipeline),
    seen,
    connectionString,
  };
}
