import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { stringify } from 'yaml';

export interface PrometheusOptions {
  /** host:port of the sandbox metrics endpoint (path /metrics). */
  metricsTarget: string;
  /** Folder for config and TSDB; created if missing. */
  dir: string;
  /** 0 picks a free port. */
  port?: number;
  /** Seconds; default 1. */
  scrapeIntervalSeconds?: number;
  /** How long to wait for the first successful scrape; default 60 s. */
  startTimeoutMs?: number;
}

export class PrometheusNotInstalledError extends Error {
  name = 'PrometheusNotInstalledError';
}

/** The prometheus binary: $PROMETHEUS_BIN, then $PATH, then /usr/bin/prometheus. */
export function findPrometheusBinary(
  candidates: string[] = [
    process.env.PROMETHEUS_BIN,
    ...(process.env.PATH ?? '')
      .split(path.delimiter)
      .map(d => d && path.join(d, 'prometheus')),
    '/usr/bin/prometheus',
  ].filter((c): c is string => Boolean(c)),
): string {
  for (const c of candidates) {
    try {
      fs.accessSync(c, fs.constants.X_OK);
      if (fs.statSync(c).isFile()) return c;
    } catch {
      // try the next one
    }
  }
  throw new PrometheusNotInstalledError(
    'Prometheus is not installed: the sandbox runs a real Prometheus. Install it with ' +
      '`apt-get install -y --no-install-recommends prometheus` (Debian/Ubuntu; `./dev` does this), ' +
      'or point PROMETHEUS_BIN at a prometheus binary.',
  );
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A real Prometheus as a child process, scraping the sandbox every second.
 * `start` resolves once the sandbox target has been scraped (up == 1).
 */
export class PrometheusProcess {
  private child?: ChildProcess;
  private output = '';
  url = '';

  constructor(private readonly options: PrometheusOptions) {}

  async start(): Promise<string> {
    const binary = findPrometheusBinary();
    const { dir } = this.options;
    fs.mkdirSync(dir, { recursive: true });
    const configPath = path.join(dir, 'prometheus.yml');
    const interval = `${this.options.scrapeIntervalSeconds ?? 1}s`;
    fs.writeFileSync(
      configPath,
      stringify({
        global: { scrape_interval: interval, evaluation_interval: interval },
        scrape_configs: [
          {
            job_name: 'sandbox',
            scrape_interval: interval,
            scrape_timeout: interval,
            metrics_path: '/metrics',
            static_configs: [{ targets: [this.options.metricsTarget] }],
          },
        ],
      }),
    );
    const port = this.options.port || (await freePort());
    this.url = `http://127.0.0.1:${port}`;
    const child = spawn(
      binary,
      [
        `--config.file=${configPath}`,
        `--storage.tsdb.path=${path.join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--web.enable-lifecycle',
        '--storage.tsdb.retention.time=1d',
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    // If this process ends without stop() (a killed test worker), take Prometheus along.
    process.on('exit', this.killOnExit);
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-8000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let exited: string | undefined;
    child.once('exit', (code, signal) => {
      exited = `prometheus exited (code ${code}, signal ${signal})`;
    });
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 60_000);
    for (;;) {
      if (exited) {
        throw new Error(`${exited} before it was ready:\n${this.output}`);
      }
      if (await this.targetUp()) return this.url;
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(
          `prometheus did not scrape the sandbox within the deadline:\n${this.output}`,
        );
      }
      await new Promise(r => setTimeout(r, 200));
    }
  }

  private async targetUp(): Promise<boolean> {
    try {
      const res = await fetch(
        `${this.url}/api/v1/query?query=${encodeURIComponent(
          'up{job="sandbox"}',
        )}`,
        { signal: AbortSignal.timeout(2000) },
      );
      if (!res.ok) return false;
      const body: any = await res.json();
      return (
        body?.data?.result?.some((r: any) => r.value?.[1] === '1') ?? false
      );
    } catch {
      return false;
    }
  }

  /** Instant query; returns the `data.result` array. */
  async query(
    promql: string,
    time?: number,
  ): Promise<
    Array<{ metric: Record<string, string>; value: [number, string] }>
  > {
    const params = new URLSearchParams({ query: promql });
    if (time !== undefined) params.set('time', String(time));
    const res = await fetch(`${this.url}/api/v1/query?${params}`, {
      signal: AbortSignal.timeout(30_000),
    });
    const body: any = await res.json();
    if (body.status !== 'success')
      throw new Error(`query failed: ${body.error ?? res.status}`);
    return body.data.result;
  }

  private readonly killOnExit = () => {
    this.child?.kill('SIGKILL');
  };

  async stop(): Promise<void> {
    process.off('exit', this.killOnExit);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const done = new Promise<void>(resolve =>
      child.once('exit', () => resolve()),
    );
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await done;
    clearTimeout(timer);
    this.child = undefined;
  }
}
