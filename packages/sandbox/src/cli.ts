/*
 * Runs the sandbox in the foreground: API server, simulated workloads,
 * metrics and a real Prometheus; with --demo also the demo world and traffic.
 *
 *   node -r @backstage/cli/config/nodeTransform.cjs src/cli.ts [--demo] [--no-prometheus]
 */
import fs from 'node:fs';
import path from 'node:path';
import { startSandbox, Sandbox, PACKAGE_DIR } from './sandbox';
import { PrometheusNotInstalledError } from './prometheus/prometheus';
import { keepDemoState } from './demoState';

const REPO_ROOT = path.resolve(PACKAGE_DIR, '..', '..');

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  }
  return n;
}

function numberEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n))
    throw new Error(`${name} must be a number, got "${raw}"`);
  return n;
}

const DEMO_SERVICES = ['checkout', 'payments', 'search', 'storefront'];

async function main() {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`Usage: yarn start [--demo] [--no-prometheus]

Environment:
  SANDBOX_API_PORT            API server port (HTTP and HTTPS), default 6443
  SANDBOX_METRICS_PORT        /metrics port, default 9464
  SANDBOX_PROMETHEUS_PORT     Prometheus port, default 9090
  SANDBOX_SCRAPE_INTERVAL     Prometheus scrape interval in seconds, default 1 (15–30 behaves like production)
  SANDBOX_DIR                 folder for kubeconfig, Prometheus data and (--demo) the cluster's
                              objects in db/sandbox-cluster.json, default <repo>/.sandbox
  SANDBOX_TOKEN               bearer token in the kubeconfig, default sandbox-token
  SANDBOX_READINESS_DELAY_MS  pod readiness delay, default 1000
  SANDBOX_RPS                 demo requests per second per service, default 50
  SANDBOX_STICKY_SHARE        demo share of requests with x-canary-user: true, default 0.05
  SANDBOX_SEED                seed for reproducible traffic
`);
    return;
  }
  const demo = args.includes('--demo');
  const withPrometheus = !args.includes('--no-prometheus');
  const dir = path.resolve(
    process.env.SANDBOX_DIR || path.join(REPO_ROOT, '.sandbox'),
  );
  fs.mkdirSync(dir, { recursive: true });
  // Counters restart from zero with every run; old samples would only confuse rate().
  fs.rmSync(path.join(dir, 'prometheus', 'data'), {
    recursive: true,
    force: true,
  });

  let sb: Sandbox;
  try {
    sb = await startSandbox({
      apiPort: intEnv('SANDBOX_API_PORT', 6443),
      metricsPort: intEnv('SANDBOX_METRICS_PORT', 9464),
      prometheus: withPrometheus,
      prometheusPort: intEnv('SANDBOX_PROMETHEUS_PORT', 9090),
      scrapeIntervalSeconds: Math.max(1, intEnv('SANDBOX_SCRAPE_INTERVAL', 1)),
      readinessDelayMs: intEnv('SANDBOX_READINESS_DELAY_MS', 1000),
      token: process.env.SANDBOX_TOKEN || 'sandbox-token',
      seed: process.env.SANDBOX_SEED ? intEnv('SANDBOX_SEED', 0) : undefined,
      dir,
    });
  } catch (e) {
    if (e instanceof PrometheusNotInstalledError) {
      process.stderr.write(`${e.message}\n(or run with --no-prometheus)\n`);
      process.exit(1);
    }
    if ((e as NodeJS.ErrnoException)?.code === 'EADDRINUSE') {
      const port = (e as { port?: number }).port;
      process.stderr.write(
        `Port ${port} is already in use: is another sandbox running? ` +
          'Stop it, or choose other ports with SANDBOX_API_PORT / SANDBOX_METRICS_PORT / SANDBOX_PROMETHEUS_PORT.\n',
      );
      process.exit(1);
    }
    throw e;
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: stopping the sandbox...\n`);
    await sb.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  if (demo) {
    // Kept next to the demo backend's database (.sandbox/db), so restarting
    // ./dev demo resumes rollouts on the cluster they left.
    const { restored } = await keepDemoState(
      sb,
      path.join(dir, 'db', 'sandbox-cluster.json'),
    );
    if (!restored) await sb.applyDemoWorld();
    const rps = numberEnv('SANDBOX_RPS', 50);
    const stickyShare = numberEnv('SANDBOX_STICKY_SHARE', 0.05);
    for (const service of DEMO_SERVICES) {
      sb.traffic.start({ service, namespace: 'demo', rps, stickyShare });
    }
  }

  process.stdout.write(
    [
      'Coalmine sandbox is running.',
      `  kubeconfig:  ${sb.kubeconfigPath}`,
      `  API server:  ${sb.apiTlsUrl} (kubeconfig, TLS)  ${sb.apiUrl} (plain HTTP)  token: ${sb.token}`,
      `  metrics:     ${sb.metricsUrl}`,
      `  Prometheus:  ${sb.prometheusUrl ?? '(not started)'}`,
      demo
        ? `  demo world:  namespace demo, traffic to ${DEMO_SERVICES.join(
            ', ',
          )}`
        : '  demo world:  not applied (use --demo)',
      `Try: KUBECONFIG=${sb.kubeconfigPath} kubectl get deploy,pods -n demo`,
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
}

main().catch(e => {
  process.stderr.write(`${e?.stack ?? e}\n`);
  process.exit(1);
});
