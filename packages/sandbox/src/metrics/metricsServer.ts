import http from 'node:http';
import { AddressInfo } from 'node:net';

/** Serves `/metrics` in the Prometheus text format on its own port. */
export class MetricsServer {
  private server?: http.Server;
  url = '';

  constructor(
    private readonly render: () => string,
    private readonly port = 0,
  ) {}

  async start(): Promise<string> {
    const server = http.createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path !== '/metrics') {
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        res.end('not found; try /metrics\n');
        return;
      }
      try {
        const body = this.render();
        res.writeHead(200, {
          'Content-Type': 'text/plain; version=0.0.4; charset=utf-8',
        });
        res.end(body);
      } catch (e) {
        res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end(String(e));
      }
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}/metrics`;
    return this.url;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    await new Promise<void>(resolve => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    this.server = undefined;
  }
}
