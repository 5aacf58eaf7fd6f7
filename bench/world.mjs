// The demo world a benchmark measures against, started on free ports: the
// sandbox cluster with its Prometheus and a demo backend (SQLite files in a
// temporary folder, like ./dev demo), one active rollout of checkout paused
// so it stays active, optionally with a long history (1,000 events, 10,000
// analysis rows) put behind it. Used by `./dev bench api` and `./dev bench tab`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { canaryDatabaseFile, seedHistory } from './api/seed.mjs';
import {
  backgroundProcesses,
  freePort,
  waitFor,
} from '../e2e/lib/processes.mjs';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function worldLogger(name) {
  return (...a) => console.error(`[${name}]`, ...a);
}
let log = worldLogger('bench');

const { start, stopAll } = backgroundProcesses({
  onUnexpectedExit: (name, code, logFile) =>
    log(`${name} exited with ${code}; see ${logFile}`),
});
export { freePort, stopAll, waitFor };

export async function json(url, init = {}) {
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

/**
 * Starts the world and returns its addresses, a guest token and the paused
 * rollout. `serveApp`: the backend serves the production build of
 * packages/app (app-backend, as a real install does) at its own address;
 * `seed` puts the long history behind the rollout; `name` prefixes the log
 * lines.
 */
export async function startWorld({
  name = 'bench',
  seed = true,
  serveApp = false,
} = {}) {
  log = worldLogger(name);

  const tmp = fs.mkdtempSync(
    path.join(os.tmpdir(), `coalmine-${name.replace(/\W+/g, '-')}-`),
  );
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
      ...(serveApp ? { app: { baseUrl: backend } } : {}),
      backend: {
        baseUrl: backend,
        ...(serveApp ? { cors: { origin: backend } } : {}),
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
    body: JSON.stringify({ reason: `${name}: keep it active` }),
  });
  let seeded = null;
  if (seed) {
    seeded = seedHistory(canaryDatabaseFile(dbDir), rollout.id, {
      events: 1000,
      analysis: 10000,
    });
    log(
      `seeded ${seeded.events} events and ${seeded.analysis} analysis rows (${seeded.checksBytes} bytes of checks each)`,
    );
  }

  return { tmp, logDir, backend, token, auth, rollout, seeded, dbDir };
}

/** Runs a benchmark's main: stops the world's processes and exits 0, or 1 after logging why. */
export function runBenchmark(main, log) {
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
}
