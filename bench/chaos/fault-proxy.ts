/**
 * A fault-injecting TCP proxy on node:net, listening on 127.0.0.1 only. One per replica, between the
 * replica and Azurite, so a fault can hit one replica's path to storage and nothing else.
 *
 * Modes (a mode applies to bytes that arrive after it is set):
 *   pass           forward bytes as they come.
 *   delay(ms)      forward each chunk `ms` later, in both directions, keeping order (one-way delay,
 *                  so a request/response round trip takes 2 × ms longer). Like a slow network,
 *                  bytes a client sent before giving up still reach the server and take effect.
 *   blackhole      a partition: connections stay open but every byte is dropped; new connections
 *                  are accepted and never answered. Connections that were black-holed stay dead
 *                  after the partition heals (their byte stream has a hole); clients time out and
 *                  open new ones.
 *   reset          destroy every connection (RST) and reset new ones at once.
 */
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { once } from 'node:events';

export type ProxyMode =
  { kind: 'pass' } | { kind: 'delay'; ms: number } | { kind: 'blackhole' } | { kind: 'reset' };

export interface ProxyStats {
  connections: number;
  bytesUp: number;
  bytesDown: number;
  chunksDropped: number;
  resets: number;
}

export interface FaultProxyOptions {
  /** Port of the upstream service on 127.0.0.1 (Azurite). */
  targetPort: number;
  /** Port to listen on (default: a free one). */
  listenPort?: number;
}

const HOST = '127.0.0.1';

interface Connection {
  client: Socket;
  upstream?: Socket;
  /** Set once the connection met a partition: it drops everything from then on. */
  blackholed: boolean;
  up: Channel;
  down: Channel;
}

/** One direction of one connection: a FIFO of chunks, each delivered at its own time. */
class Channel {
  private readonly queue: { at: number; chunk: Buffer | null }[] = [];
  private timer?: NodeJS.Timeout;
  private lastAt = 0;
  private ended = false;

  constructor(
    private readonly deliver: (chunk: Buffer) => void,
    private readonly finish: () => void,
  ) {}

  /** `chunk === null` is the end of the stream, delivered in order after every earlier chunk. */
  push(chunk: Buffer | null, delayMs: number): void {
    if (this.ended) return;
    const at = Math.max(this.lastAt, Date.now() + delayMs);
    this.lastAt = at;
    if (this.queue.length === 0 && at <= Date.now()) {
      this.emit(chunk);
      return;
    }
    this.queue.push({ at, chunk });
    this.schedule();
  }

  discard(): void {
    this.queue.length = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.ended = true;
  }

  private emit(chunk: Buffer | null): void {
    if (chunk === null) {
      this.ended = true;
      this.finish();
    } else {
      this.deliver(chunk);
    }
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        const now = Date.now();
        while (this.queue.length > 0 && this.queue[0]!.at <= now) {
          const { chunk } = this.queue.shift()!;
          this.emit(chunk);
          if (this.ended) {
            this.queue.length = 0;
            return;
          }
        }
        this.schedule();
      },
      Math.max(0, this.queue[0]!.at - Date.now()),
    );
  }
}

export class FaultProxy {
  readonly stats: ProxyStats = { connections: 0, bytesUp: 0, bytesDown: 0, chunksDropped: 0, resets: 0 };
  private modeValue: ProxyMode = { kind: 'pass' };
  private readonly connections = new Set<Connection>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private targetPort: number,
  ) {}

  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: false });
    server.listen(options.listenPort ?? 0, HOST);
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    const proxy = new FaultProxy(server, port, options.targetPort);
    server.on('connection', (socket) => proxy.accept(socket));
    return proxy;
  }

  get mode(): ProxyMode {
    return this.modeValue;
  }

  /** Changes the mode for bytes arriving from now on; `reset` also destroys open connections now. */
  setMode(mode: ProxyMode): void {
    if (mode.kind === 'delay' && !(mode.ms >= 0))
      throw new RangeError(`delay must be ≥ 0 ms, got ${mode.ms}`);
    this.modeValue = mode;
    if (mode.kind === 'reset') {
      for (const connection of [...this.connections]) this.reset(connection);
    } else if (mode.kind === 'blackhole') {
      for (const connection of this.connections) this.blackhole(connection);
    }
  }

  /** Points the proxy at another upstream port (new connections only). */
  retarget(targetPort: number): void {
    this.targetPort = targetPort;
  }

  /** Destroys every open connection (e.g. after the upstream restarted) without changing the mode. */
  dropConnections(): void {
    for (const connection of [...this.connections]) this.reset(connection);
  }

  async close(): Promise<void> {
    for (const connection of [...this.connections]) this.reset(connection);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    this.stats.connections++;
    client.setNoDelay(true);
    const connection: Connection = {
      client,
      blackholed: false,
      up: new Channel(
        (chunk) => connection.upstream?.write(chunk),
        () => connection.upstream?.end(),
      ),
      down: new Channel(
        (chunk) => {
          if (!client.destroyed) client.write(chunk);
        },
        () => client.end(),
      ),
    };
    this.connections.add(connection);
    client.on('error', () => undefined);
    client.on('close', () => {
      // Bytes already "on the wire" towards the server still arrive (delay mode); then hang up.
      if (connection.blackholed) connection.upstream?.destroy();
      else connection.up.push(null, this.delayMs());
      this.forget(connection);
    });

    const mode = this.modeValue;
    if (mode.kind === 'reset') {
      this.reset(connection);
      return;
    }
    if (mode.kind === 'blackhole') {
      this.blackhole(connection);
    } else {
      const upstream = createConnection({ host: HOST, port: this.targetPort, allowHalfOpen: true });
      upstream.setNoDelay(true);
      connection.upstream = upstream;
      upstream.on('error', () => undefined);
      upstream.on('data', (chunk: Buffer) => {
        if (connection.blackholed) {
          this.stats.chunksDropped++;
          return;
        }
        this.stats.bytesDown += chunk.length;
        connection.down.push(chunk, this.delayMs());
      });
      let upstreamEnded = false;
      upstream.on('end', () => {
        upstreamEnded = true;
        if (!connection.blackholed) connection.down.push(null, this.delayMs());
      });
      upstream.on('close', () => {
        // Upstream gone without an orderly end (e.g. Azurite stopped, connection refused): the
        // client sees its connection reset, unless it is black-holed (then it just hangs).
        if (!upstreamEnded && !connection.blackholed && !client.destroyed) {
          setTimeout(() => client.destroy(), this.delayMs()).unref();
        }
      });
    }
    client.on('data', (chunk: Buffer) => {
      if (connection.blackholed) {
        this.stats.chunksDropped++;
        return;
      }
      this.stats.bytesUp += chunk.length;
      connection.up.push(chunk, this.delayMs());
    });
    client.on('end', () => {
      if (!connection.blackholed) connection.up.push(null, this.delayMs());
    });
  }

  private delayMs(): number {
    return this.modeValue.kind === 'delay' ? this.modeValue.ms : 0;
  }

  private blackhole(connection: Connection): void {
    connection.blackholed = true;
    connection.up.discard();
    connection.down.discard();
  }

  private reset(connection: Connection): void {
    this.stats.resets++;
    connection.up.discard();
    connection.down.discard();
    connection.upstream?.destroy();
    if (!connection.client.destroyed) connection.client.resetAndDestroy();
    this.forget(connection);
  }

  private forget(connection: Connection): void {
    this.connections.delete(connection);
  }
}
