import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** A free TCP port on 127.0.0.1 (the kernel picks it; tiny race, fine for tests). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** What `/metrics` answers: text, or another format (e.g. protobuf) for a scraper that asks for it. */
export type MetricsRender =
  | (() => string)
  | ((accept: string) => { contentType: string; body: string | Uint8Array });

/** An HTTP server serving `/metrics` from a function, for Prometheus to scrape. */
export async function startMetricsServer(
  render: MetricsRender,
): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.url?.startsWith('/metrics')) {
      const out = render(String(req.headers.accept ?? ''));
      const { contentType, body } =
        typeof out === 'string'
          ? { contentType: 'text/plain; version=0.0.4', body: out }
          : out;
      res.writeHead(200, { 'content-type': contentType });
      res.end(body);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>(resolve => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A real Prometheus (Debian's package) scraping the given targets every second. */
export interface RunningPrometheus {
  url: string;
  stop(): Promise<void>;
}

/** Where a Prometheus sends its samples by remote write, and how long its queue waits to fill a batch. */
export interface RemoteWrite {
  url: string;
  /** Prometheus's `batch_send_deadline`, e.g. `30s`. */
  batchSendDeadline: string;
}

/**
 * `flags`: more command-line flags, e.g. `--enable-feature=native-histograms`;
 * `scrapeInterval`: 1s unless given; `remoteWrite`: also send every sample
 * there, in batches of up to 100,000 samples on one shard (so a batch goes
 * when the deadline passes). No targets: scrapes nothing (a remote-write
 * receiver, with `--web.enable-remote-write-receiver` in `flags`).
 * `openMetrics`: samples to serve from the start, backfilled into the store
 * with `promtool tsdb create-blocks-from openmetrics` (ending in `# EOF`).
 */
export async function startPrometheus(
  targets: string[],
  {
    flags = [],
    scrapeInterval = '1s',
    remoteWrite,
    openMetrics,
  }: {
    flags?: string[];
    scrapeInterval?: string;
    remoteWrite?: RemoteWrite;
    openMetrics?: string;
  } = {},
): Promise<RunningPrometheus> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'coalmine-prom-'));
  if (openMetrics !== undefined) {
    await fs.writeFile(path.join(dir, 'backfill.om'), openMetrics);
    const made = spawnSync(
      'promtool',
      [
        'tsdb',
        'create-blocks-from',
        'openmetrics',
        path.join(dir, 'backfill.om'),
        path.join(dir, 'data'),
      ],
      { encoding: 'utf8' },
    );
    if (made.status !== 0)
      throw new Error(`promtool could not backfill: ${made.stderr}`);
  }
  const port = await freePort();
  const config = [
    'global:',
    `  scrape_interval: ${scrapeInterval}`,
    '  evaluation_interval: 1s',
    ...(targets.length > 0
      ? [
          'scrape_configs:',
          '  - job_name: test',
          '    static_configs:',
          `      - targets: [${targets.map(t => `'${t}'`).join(', ')}]`,
        ]
      : []),
    ...(remoteWrite
      ? [
          'remote_write:',
          `  - url: '${remoteWrite.url}'`,
          '    queue_config:',
          `      batch_send_deadline: ${remoteWrite.batchSendDeadline}`,
          '      max_samples_per_send: 100000',
          '      capacity: 100000',
          '      min_shards: 1',
          '      max_shards: 1',
        ]
      : []),
    '',
  ].join('\n');
  await fs.writeFile(path.join(dir, 'prometheus.yml'), config);
  const child: ChildProcess = spawn(
    'prometheus',
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
      ...flags,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', chunk => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const exited = new Promise<void>(resolve =>
    child.once('exit', () => resolve()),
  );
  const url = `http://127.0.0.1:${port}`;

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`prometheus exited: ${stderr}`);
    }
    try {
      const res = await fetch(`${url}/-/ready`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`prometheus did not become ready: ${stderr}`);
    }
    await new Promise(r => setTimeout(r, 200));
  }

  return {
    url,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

/** Polls until `check` returns a value other than undefined, or fails after the deadline. */
export async function pollUntil<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${what}${lastError ? `: ${lastError}` : ''}`,
      );
    }
    await new Promise(r => setTimeout(r, 250));
  }
}

/** Waits until Prometheus holds `series` series of `selector`, each with `samples` samples from the last minute. */
export async function waitForScrapes(
  client: {
    querySamples(
      selector: string,
      seconds: number,
    ): Promise<Array<{ points: unknown[] }>>;
  },
  selector: string,
  series: number,
  { samples = 3, timeoutMs = 60_000 } = {},
): Promise<void> {
  await pollUntil(
    async () => {
      const found = await client.querySamples(selector, 60);
      return found.length >= series &&
        found.every(x => x.points.length >= samples)
        ? true
        : undefined;
    },
    timeoutMs,
    `${series} series of ${selector} with ${samples} samples each`,
  );
}

/**
 * A simulated service for Prometheus to scrape: `tick` runs every `everyMs`
 * (traffic), `/metrics` serves `render()`, and a real Prometheus scrapes it
 * every second. `stop` ends all three.
 */
export async function startScrapedService(
  render: MetricsRender,
  tick: () => void,
  everyMs = 100,
  prometheusOptions: Parameters<typeof startPrometheus>[1] = {},
): Promise<{ url: string; stop(): Promise<void> }> {
  const timer = setInterval(tick, everyMs);
  let target: Awaited<ReturnType<typeof startMetricsServer>> | undefined;
  let prometheus: RunningPrometheus | undefined;
  const stop = async () => {
    clearInterval(timer);
    await prometheus?.stop();
    await target?.close();
  };
  try {
    target = await startMetricsServer(render);
    prometheus = await startPrometheus(
      [`127.0.0.1:${target.port}`],
      prometheusOptions,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: prometheus.url, stop };
}

/** A pod of a simulated service: its requests per second and the share that fail (code 500). */
export interface SimulatedPod {
  pod: string;
  rate: number;
  rps: number;
}

/**
 * Two services in namespace `shop`, each with two stable pods (`-v1-`, 30
 * requests/s each) and one canary pod (`-v2-`, 10 requests/s): `app`'s all
 * fail 1 % of requests; `bad`'s canary fails 30 %.
 */
export const HEALTHY_AND_FAILING: SimulatedPod[] = [
  { pod: 'app-v1-7d9f8b6c5-abcde', rate: 0.01, rps: 30 },
  { pod: 'app-v1-7d9f8b6c5-fghij', rate: 0.01, rps: 30 },
  { pod: 'app-v2-5c4b3a2d1-klmno', rate: 0.01, rps: 10 },
  { pod: 'bad-v1-6b5a4c3d2-abcde', rate: 0.01, rps: 30 },
  { pod: 'bad-v1-6b5a4c3d2-fghij', rate: 0.01, rps: 30 },
  { pod: 'bad-v2-4a3b2c1d0-klmno', rate: 0.3, rps: 10 },
];

/**
 * Pods serving requests for a real Prometheus to scrape: every 100 ms each
 * pod serves a tenth of its requests per second, each failing with
 * probability `rate` drawn from `random`, and `/metrics` serves
 * `http_requests_total{namespace="shop",pod,code}`. `prometheusOptions` as
 * for {@link startPrometheus}.
 */
export async function startPodTraffic(
  pods: SimulatedPod[],
  random: { next(): number },
  prometheusOptions: Parameters<typeof startPrometheus>[1] = {},
): Promise<{ url: string; stop(): Promise<void> }> {
  const counts = pods.map(() => ({} as Record<string, number>));
  const serve = () =>
    pods.forEach((p, i) => {
      for (let n = 0; n < p.rps / 10; n++) {
        const code = random.next() < p.rate ? '500' : '200';
        counts[i][code] = (counts[i][code] ?? 0) + 1;
      }
    });
  const render = () =>
    [
      '# TYPE http_requests_total counter',
      ...pods.flatMap((p, i) =>
        Object.entries(counts[i]).map(
          ([code, n]) =>
            `http_requests_total{namespace="shop",pod="${p.pod}",code="${code}"} ${n}`,
        ),
      ),
      '',
    ].join('\n');
  return startScrapedService(render, serve, 100, prometheusOptions);
}
