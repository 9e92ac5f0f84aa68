// A counting HTTP reverse proxy on 127.0.0.1 in front of Azurite: every storage request a client
// makes passes through it and is counted by kind (Get Properties, Acquire Lease, Renew Lease, …)
// and status. One proxy per replica gives per-replica counts at the HTTP level, independent of
// the SDK and of the library under test.
import { Agent, createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';

export interface RequestCounts {
  total: number;
  /** e.g. "Renew Lease 200": kind plus status. */
  byKindStatus: Record<string, number>;
  /** e.g. "Renew Lease". */
  byKind: Record<string, number>;
}

/** Names an Azure Blob REST call from its method, query and lease-action header. */
export function classifyRequest(req: Pick<IncomingMessage, 'method' | 'url' | 'headers'>): string {
  const url = new URL(req.url ?? '/', 'http://x');
  const comp = url.searchParams.get('comp');
  const restype = url.searchParams.get('restype');
  const action = req.headers['x-ms-lease-action'];
  const method = req.method ?? '?';
  if (comp === 'lease') {
    const name = typeof action === 'string' ? action[0]!.toUpperCase() + action.slice(1) : '?';
    return `${name} Lease`;
  }
  if (comp === 'metadata') return method === 'PUT' ? 'Set Metadata' : 'Get Metadata';
  if (restype === 'container' && comp === 'list') return 'List Blobs';
  if (restype === 'container') return method === 'PUT' ? 'Create Container' : `${method} Container`;
  if (method === 'HEAD') return 'Get Properties';
  if (method === 'PUT') return 'Put Blob';
  if (method === 'DELETE') return 'Delete Blob';
  if (method === 'GET' && !comp) return 'Get Blob';
  return `${method} ${comp ?? ''}`.trim();
}

export class CountingProxy {
  readonly counts: RequestCounts = { total: 0, byKindStatus: {}, byKind: {} };
  /** Per kind: Date.now() when the latest request that got a 2xx answer was received. */
  readonly lastSuccessAt: Record<string, number> = {};
  private server?: Server;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256 });
  port = 0;

  constructor(
    private readonly targetPort: number,
    private readonly targetHost = '127.0.0.1',
  ) {}

  async start(port = 0): Promise<this> {
    const server = createServer((req, res) => {
      const receivedAt = Date.now();
      const kind = classifyRequest(req);
      this.counts.total++;
      this.counts.byKind[kind] = (this.counts.byKind[kind] ?? 0) + 1;
      const upstream = httpRequest(
        {
          host: this.targetHost,
          port: this.targetPort,
          method: req.method,
          path: req.url,
          headers: req.headers,
          agent: this.agent,
        },
        (response) => {
          const key = `${kind} ${response.statusCode}`;
          this.counts.byKindStatus[key] = (this.counts.byKindStatus[key] ?? 0) + 1;
          const status = response.statusCode ?? 0;
          if (status >= 200 && status < 300)
            this.lastSuccessAt[kind] = Math.max(this.lastSuccessAt[kind] ?? 0, receivedAt);
          res.writeHead(response.statusCode ?? 502, response.headers);
          response.pipe(res);
        },
      );
      upstream.on('error', () => {
        const key = `${kind} proxy-error`;
        this.counts.byKindStatus[key] = (this.counts.byKindStatus[key] ?? 0) + 1;
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      req.on('aborted', () => upstream.destroy());
      req.pipe(upstream);
    });
    server.keepAliveTimeout = 30_000;
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  /** A copy of the counts so far. */
  snapshot(): RequestCounts {
    return structuredClone(this.counts);
  }

  reset(): void {
    this.counts.total = 0;
    this.counts.byKind = {};
    this.counts.byKindStatus = {};
  }

  async stop(): Promise<void> {
    this.agent.destroy();
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** counts `after` minus `before`. */
export function diffCounts(after: RequestCounts, before: RequestCounts): RequestCounts {
  const sub = (a: Record<string, number>, b: Record<string, number>): Record<string, number> =>
    Object.fromEntries(
      Object.entries(a)
        .map(([k, v]) => [k, v - (b[k] ?? 0)])
        .filter(([, v]) => (v as number) !== 0),
    );
  return {
    total: after.total - before.total,
    byKind: sub(after.byKind, before.byKind),
    byKindStatus: sub(after.byKindStatus, before.byKindStatus),
  };
}
