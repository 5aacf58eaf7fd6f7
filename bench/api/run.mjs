#!/usr/bin/env node
// ./dev bench api: the Canary tab's status call, the rollout details call and
// the rollout list, each side by side with the catalog's entity-by-name, at
// 50 concurrent clients (autocannon), against a demo backend this script
// starts itself on free ports (sandbox cluster + Prometheus + backend, SQLite
// files in a temporary folder, like ./dev demo). Writes bench/results/api.json.
//
// Environment: BENCH_API_SECONDS (per measurement, default 10),
// BENCH_API_CONNECTIONS (default 50), BENCH_API_SEED=0 to skip the long
// history (1,000 events, 10,000 analysis rows) put behind the rollout.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { canaryDatabaseFile, seedHistory } from './seed.mjs';
import {
  backgroundProcesses,
  freePort,
  waitFor,
} from '../../e2e/lib/processes.mjs';

const require = createRequire(import.meta.url);
const autocannon = require('autocannon');

const root = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
);
const SECONDS = Number(process.env.BENCH_API_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_API_CONNECTIONS ?? 50);
const SEED = process.env.BENCH_API_SEED !== '0';
const log = (...a) => console.error('[bench api]', ...a);

const { start, stopAll } = backgroundProcesses({
  onUnexpectedExit: (name, code, logFile) =>
    log(`${name} exited with ${code}; see ${logFile}`),
});

async function json(url, init = {}) {
  const res = await fetch(url, {
    ...init,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (!res.ok)
    throw new Error(
      `${init.method ?? 'GET'} ${url}: ${res.status} ${text.slice(0, 300)}`,
    );
  return text ? JSON.parse(text) : undefined;
}

function measure(url, token) {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url,
        connections: CONNECTIONS,
        duration: SECONDS,
        headers: { authorization: `Bearer ${token}` },
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
  });
}

function summary(result) {
  return {
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    rps: Math.round(result.requests.average),
    p50Ms: result.latency.p50,
    p90Ms: result.latency.p90,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
    bytesPerResponse: result.requests.total
      ? Math.round(result.throughput.total / result.requests.total)
      : 0,
  };
}

/** Every request answered 2xx on both sides: otherwise the numbers mean nothing. */
function clean(r) {
  return [r, r.catalog].every(
    x => x.requests > 0 && x.non2xx === 0 && x.errors === 0 && x.timeouts === 0,
  );
}

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'coalmine-bench-api-'));
  const logDir = path.join(tmp, 'logs');
  fs.mkdirSync(logDir);
  const [apiPort, metricsPort, prometheusPort, backendPort] = await Promise.all(
    [0, 0, 0, 0].map(() => freePort()),
  );
  const sandboxToken = 'sandbox-token';
  const apiToken = 'bench-api-token';
  const backend = `http://127.0.0.1:${backendPort}`;
  const env = {
    ...process.env,
    SANDBOX_API_PORT: String(apiPort),
    SANDBOX_METRICS_PORT: String(metricsPort),
    SANDBOX_PROMETHEUS_PORT: String(prometheusPort),
    SANDBOX_DIR: path.join(tmp, 'sandbox'),
    SANDBOX_TOKEN: sandboxToken,
    COALMINE_API_TOKEN: apiToken,
  };
  log(
    `temporary folder ${tmp}; backend on :${backendPort}, sandbox API :${apiPort}, Prometheus :${prometheusPort}`,
  );

  start('sandbox', 'yarn', ['start', '--demo'], {
    cwd: path.join(root, 'packages/sandbox'),
    env,
    logDir,
  });
  await waitFor(
    'the sandbox API',
    120,
    async () =>
      (
        await fetch(`http://127.0.0.1:${apiPort}/version`, {
          headers: { authorization: `Bearer ${sandboxToken}` },
        })
      ).ok,
  );

  const dbDir = path.join(tmp, 'db');
  const override = path.join(tmp, 'app-config.bench.yaml');
  fs.writeFileSync(
    override,
    JSON.stringify({
      backend: {
        baseUrl: backend,
        listen: { port: backendPort, host: '127.0.0.1' },
        database: {
          client: 'better-sqlite3',
          connection: { directory: dbDir },
        },
      },
      kubernetes: {
        clusterLocatorMethods: [
          {
            type: 'config',
            clusters: [
              {
                name: 'sandbox',
                url: `http://127.0.0.1:${apiPort}`,
                authProvider: 'serviceAccount',
                serviceAccountToken: sandboxToken,
                skipTLSVerify: true,
              },
            ],
          },
        ],
      },
      canary: { prometheus: { url: `http://127.0.0.1:${prometheusPort}` } },
    }),
  );
  // Without the dev server's file watcher: an edit in the worktree must not
  // restart the backend in the middle of a measurement.
  start(
    'backend',
    process.execPath,
    [
      '--enable-source-maps',
      ...(process.env.BENCH_API_PROFILE
        ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_API_PROFILE}`]
        : []),
      '--require',
      require.resolve('@backstage/cli-node/config/nodeTransform.cjs'),
      'src/index',
      '--config',
      path.join(root, 'app-config.yaml'),
      '--config',
      path.join(root, 'app-config.canary.yaml'),
      '--config',
      override,
    ],
    {
      cwd: path.join(root, 'packages/backend'),
      env: {
        ...env,
        NODE_ENV: 'development',
        ESBK_TSCONFIG_PATH: path.join(root, 'tsconfig.json'),
      },
      logDir,
    },
  );
  await waitFor(
    'the backend',
    300,
    async () => (await fetch(`${backend}/api/canary/health`)).ok,
  );

  const guest = await json(
    `${backend}/api/auth/guest/refresh?env=development`,
    {
      headers: { 'x-requested-with': 'XMLHttpRequest' },
    },
  );
  const token = guest.backstageIdentity.token;
  const auth = {
    authorization: `Bearer ${token}`,
    'content-type': 'application/json',
  };
  await waitFor(
    'checkout in the catalog',
    120,
    async () =>
      (
        await fetch(
          `${backend}/api/catalog/entities/by-name/component/default/checkout`,
          { headers: auth },
        )
      ).ok,
  );

  // One active rollout of checkout, paused so it stays active for the run.
  const rollout = await json(`${backend}/api/canary/rollouts`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({
      entityRef: 'component:default/checkout',
      image: 'shop/checkout:v2',
    }),
  });
  await waitFor('the rollout to progress', 120, async () => {
    const d = await json(`${backend}/api/canary/rollouts/${rollout.id}`, {
      headers: auth,
    });
    return d.rollout.phase === 'Progressing' && d.analysis.length > 0;
  });
  await json(`${backend}/api/canary/rollouts/${rollout.id}/pause`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ reason: 'bench api: keep it active' }),
  });
  let seeded = null;
  if (SEED) {
    seeded = seedHistory(canaryDatabaseFile(dbDir), rollout.id, {
      events: 1000,
      analysis: 10000,
    });
    log(
      `seeded ${seeded.events} events and ${seeded.analysis} analysis rows (${seeded.checksBytes} bytes of checks each)`,
    );
  }

  const catalogUrl = `${backend}/api/catalog/entities/by-name/component/default/checkout`;
  const endpoints = [
    {
      name: 'status',
      url: `${backend}/api/canary/entities/component/default/checkout`,
    },
    { name: 'details', url: `${backend}/api/canary/rollouts/${rollout.id}` },
    // What the organisation page asks.
    { name: 'list', url: `${backend}/api/canary/rollouts?limit=500` },
  ];
  // BENCH_API_ONLY=status,list measures a subset (for profiling; the
  // results file then holds only those).
  const only = process.env.BENCH_API_ONLY?.split(',');
  if (only)
    endpoints.splice(
      0,
      endpoints.length,
      ...endpoints.filter(e => only.includes(e.name)),
    );
  // Warm-up: first requests compile code paths and fill connection pools.
  for (const url of [catalogUrl, ...endpoints.map(e => e.url)]) {
    await new Promise((resolve, reject) =>
      autocannon(
        {
          url,
          connections: 10,
          duration: 2,
          headers: { authorization: `Bearer ${token}` },
        },
        e => (e ? reject(e) : resolve()),
      ),
    );
  }
  const results = {};
  for (const endpoint of endpoints) {
    log(`catalog entity-by-name, ${CONNECTIONS} clients, ${SECONDS} s ...`);
    const catalog = summary(await measure(catalogUrl, token));
    log(`${endpoint.name}, ${CONNECTIONS} clients, ${SECONDS} s ...`);
    const own = summary(await measure(endpoint.url, token));
    results[endpoint.name] = {
      path: new URL(endpoint.url).pathname + new URL(endpoint.url).search,
      ...own,
      catalog,
      p99RatioToCatalog:
        catalog.p99Ms > 0
          ? Number((own.p99Ms / catalog.p99Ms).toFixed(2))
          : null,
    };
    results[endpoint.name].clean = clean(results[endpoint.name]);
    if (!results[endpoint.name].clean) {
      log(
        `${endpoint.name}: NOT CLEAN — errors, timeouts or non-2xx answers (logs in ${logDir})`,
      );
    }
    log(
      `${endpoint.name}: p50 ${own.p50Ms} ms, p99 ${own.p99Ms} ms, ${
        own.rps
      } req/s; catalog p99 ${catalog.p99Ms} ms → ratio ${
        results[endpoint.name].p99RatioToCatalog
      }`,
    );
  }
  const out = {
    measuredAt: new Date().toISOString(),
    note: `${CONNECTIONS} concurrent clients, ${SECONDS} s per measurement, each endpoint measured right after the catalog's GET /api/catalog/entities/by-name/component/default/checkout in the same run; one guest user's token for every client; demo backend (SQLite files, permission framework with the demo policy, sandbox cluster and Prometheus) on this machine (${
      os.cpus().length
    } cores); one paused rollout of checkout${
      seeded
        ? ` with ${seeded.events} events and ${seeded.analysis} analysis rows behind it`
        : ''
    }`,
    target: 'status p99 ≤ 1.5 × catalog p99',
    statusTargetMet: results.status
      ? clean(results.status) && results.status.p99RatioToCatalog <= 1.5
      : null,
    endpoints: results,
  };
  const file = path.join(root, 'bench', 'results', 'api.json');
  fs.writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  log(`wrote ${path.relative(root, file)}`);
  console.log(JSON.stringify(out, null, 2));
}

main()
  .then(() => {
    stopAll();
    process.exit(0);
  })
  .catch(e => {
    log(`failed: ${e?.stack ?? e}`);
    stopAll();
    process.exit(1);
  });
