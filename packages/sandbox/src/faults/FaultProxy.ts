import net from 'net';

/**
 * What the proxy does with connections:
 * - `pass`: forwards bytes both ways to the API server;
 * - `refuse`: nothing listens (clients get ECONNREFUSED); open connections are cut;
 * - `hang`: accepts connections and never answers; open connections are cut.
 */
export type FaultMode = 'pass' | 'refuse' | 'hang';

/** A change of mode, with when it happened (epoch ms). */
export interface FaultChange {
  mode: FaultMode;
  at: number;
}

/**
 * A TCP proxy in front of an API server whose faults a test controls: an API
 * server that refuses connections, or accepts them and never answers, for as
 * long as the test says. It speaks no HTTP, so it works for plain HTTP and TLS
 * alike, and the client in front of it cannot tell it from a real outage.
 */
export class FaultProxy {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private current: FaultMode = 'pass';
  /** Every change of mode, in order. */
  readonly history: FaultChange[] = [];

  private constructor(
    private readonly target: { host: string; port: number },
    /** The port the proxy listens on (kept across `refuse`). */
    readonly port: number,
  ) {}

  /** Starts a proxy to `target` on `port` (0 picks a free one). */
  static async start(options: {
    target: string | { host: string; port: number };
    port?: number;
  }): Promise<FaultProxy> {
    const target =
      typeof options.target === 'string'
        ? (() => {
            const url = new URL(options.target);
            return { host: url.hostname, port: Number(url.port) };
          })()
        : options.target;
    const probe = await listen(options.port ?? 0, () => undefined);
    const port = (probe.address() as net.AddressInfo).port;
    await close(probe);
    const proxy = new FaultProxy(target, port);
    await proxy.mode('pass');
    return proxy;
  }

  /** `http://127.0.0.1:<port>`: the API server's address as clients should use it. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get currentMode(): FaultMode {
    return this.current;
  }

  /** Switches the mode; resolves once new connections see it. */
  async mode(next: FaultMode): Promise<void> {
    this.history.push({ mode: next, at: Date.now() });
    this.current = next;
    // Cut what is open, so keep-alive connections cannot outlive a fault.
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (next === 'refuse') {
      if (this.server) {
        const server = this.server;
        this.server = undefined;
        await close(server);
      }
      return;
    }
    if (!this.server) {
      this.server = await listen(this.port, socket => this.accept(socket));
    }
  }

  private accept(client: net.Socket) {
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    client.on('error', () => client.destroy());
    if (this.current === 'hang') return; // accepted, never answered
    const upstream = net.connect(this.target.port, this.target.host);
    this.sockets.add(upstream);
    upstream.on('close', () => {
      this.sockets.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (this.server) {
      const server = this.server;
      this.server = undefined;
      await close(server);
    }
  }
}

function listen(
  port: number,
  onConnection: (socket: net.Socket) => void,
): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer(onConnection);
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

function close(server: net.Server): Promise<void> {
  return new Promise(resolve => server.close(() => resolve()));
}
