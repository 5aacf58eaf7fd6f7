import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Sandbox, startSandbox } from '../sandbox';

const execFileAsync = promisify(execFile);
const SEED = path.join(__dirname, 'seed000');
const NS = 'seed';

/**
 * End to end with the real clients: kubectl (with the kubeconfig the sandbox
 * writes) applies seed 000's manifests, and the Debian Prometheus scraping
 * the sandbox sees the traffic split and the error rate the manifests ask for.
 */
describe('kubectl and Prometheus against the sandbox', () => {
  let sb: Sandbox;
  let cacheDir: string;
  let faultyTrafficSince = 0;

  const env = () => ({
    ...process.env,
    KUBECONFIG: sb.kubeconfigPath,
    KUBECACHEDIR: cacheDir,
  });
  const kubectl = async (...args: string[]) => {
    const { stdout } = await execFileAsync('kubectl', args, {
      env: env(),
      timeout: 30_000,
    });
    return stdout;
  };
  const kubectlFails = async (...args: string[]) => {
    try {
      await execFileAsync('kubectl', args, { env: env(), timeout: 30_000 });
    } catch (e: any) {
      return String(e.stderr);
    }
    throw new Error(`kubectl ${args.join(' ')} should have failed`);
  };

  /** Resolves once Prometheus holds a scrape of the seed traffic at or after `t` (unix seconds). */
  async function scrapedAfter(t: number, timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await sb.query(
        `max(timestamp(istio_requests_total{reporter="destination",destination_workload_namespace="${NS}",destination_service_name="my-app-service"}))`,
      );
      if (r.length && Number(r[0].value[1]) >= t) return;
      if (Date.now() > deadline)
        throw new Error(`no scrape after ${t} in time`);
      await new Promise(res => setTimeout(res, 200));
    }
  }

  async function requestsByVersion(
    time: number,
  ): Promise<Record<string, number>> {
    const r = await sb.query(
      `sum by (destination_version) (istio_requests_total{reporter="destination",destination_workload_namespace="${NS}",destination_service_name="my-app-service"})`,
      time,
    );
    return Object.fromEntries(
      r.map(s => [s.metric.destination_version, Number(s.value[1])]),
    );
  }

  beforeAll(async () => {
    cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubectl-cache-'));
    sb = await startSandbox({
      prometheus: true,
      readinessDelayMs: 100,
      seed: 1,
    });
  }, 90_000);

  afterAll(async () => {
    await sb?.stop();
    fs.rmSync(cacheDir, { recursive: true, force: true });
  });

  it('applies seed 000 with kubectl and Prometheus sees each weight within 2 points', async () => {
    const nsFile = path.join(cacheDir, 'namespace.yaml');
    fs.writeFileSync(
      nsFile,
      `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${NS}\n`,
    );
    // Plain apply works too: the sandbox's OpenAPI v3 leaves validation to the server.
    expect(await kubectl('apply', '-f', nsFile)).toContain(
      `namespace/${NS} created`,
    );
    const applied = await kubectl(
      'apply',
      '--validate=false',
      '-n',
      NS,
      '-f',
      path.join(SEED, 'service.yaml'),
      '-f',
      path.join(SEED, 'deployment-v1.yaml'),
      '-f',
      path.join(SEED, 'deployment-v2.yaml'),
      '-f',
      path.join(SEED, 'destinationrule.yaml'),
      '-f',
      path.join(SEED, 'virtualservice-100.yaml'),
    );
    expect(applied).toContain(
      'virtualservice.networking.istio.io/my-app-vs created',
    );
    await sb.waitForDeployment(NS, 'my-app-v1');
    await sb.waitForDeployment(NS, 'my-app-v2');

    // A canary whose manifest asks for 10 % errors, for the next test.
    await sb.apply(`
apiVersion: v1
kind: Service
metadata: { name: faulty, namespace: ${NS} }
spec: { selector: { app: faulty }, ports: [{ port: 80 }] }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: faulty, namespace: ${NS} }
spec:
  replicas: 2
  selector: { matchLabels: { app: faulty } }
  template:
    metadata: { labels: { app: faulty, version: v9 } }
    spec:
      containers:
        - name: app
          image: shop/faulty:v9
          env: [{ name: SIM_ERROR_RATE, value: "0.1" }]
`);
    await sb.waitForDeployment(NS, 'faulty');
    sb.traffic.start({ service: 'faulty', namespace: NS, rps: 800 });
    faultyTrafficSince = Date.now() / 1000;
    sb.traffic.start({ service: 'my-app-service', namespace: NS, rps: 1000 });

    for (const [file, weight, windowSeconds] of [
      ['virtualservice-100.yaml', 0, 3],
      ['virtualservice-5.yaml', 5, 7],
      ['virtualservice-25.yaml', 25, 7],
    ] as const) {
      const out = await kubectl(
        'apply',
        '--validate=false',
        '-n',
        NS,
        '-f',
        path.join(SEED, file),
      );
      expect(out).toMatch(
        /virtualservice.networking.istio.io\/my-app-vs (configured|unchanged)/,
      );
      const changedAt = Date.now() / 1000;
      const from = changedAt + 2;
      const to = from + windowSeconds;
      await scrapedAfter(to);
      const a = await requestsByVersion(from);
      const b = await requestsByVersion(to);
      const v1 = (b.v1 ?? 0) - (a.v1 ?? 0);
      const v2 = (b.v2 ?? 0) - (a.v2 ?? 0);
      const other = Object.keys(b).filter(v => v !== 'v1' && v !== 'v2');
      expect(other).toEqual([]);
      expect(v1 + v2).toBeGreaterThan(windowSeconds * 500);
      const share = (100 * v2) / (v1 + v2);
      expect(Math.abs(share - weight)).toBeLessThanOrEqual(2);
    }
  }, 120_000);

  it('reads the canary error rate its manifest sets from rate() in Prometheus', async () => {
    const ratio = `sum(rate(istio_requests_total{reporter="destination",destination_workload="faulty",response_code=~"5.."}[30s])) / sum(rate(istio_requests_total{reporter="destination",destination_workload="faulty"}[30s]))`;
    // A full 30 s window of traffic (the previous test ran most of it).
    await scrapedAfter(faultyTrafficSince + 31);
    const r = await sb.query(ratio);
    expect(r).toHaveLength(1);
    const errorPercent = 100 * Number(r[0].value[1]);
    expect(Math.abs(errorPercent - 10)).toBeLessThanOrEqual(1.5);
    // Stable is not perfect either, but far from 10 %.
    const stable = await sb.query(
      `sum(rate(istio_requests_total{reporter="destination",destination_workload="my-app-v1",response_code=~"5.."}[30s])) / sum(rate(istio_requests_total{reporter="destination",destination_workload="my-app-v1"}[30s]))`,
    );
    expect(Number(stable[0].value[1])).toBeLessThan(0.01);
  }, 60_000);

  it('shows replica changes in kubectl get -w and scales with kubectl scale', async () => {
    const watcher = spawn(
      'kubectl',
      ['get', 'deploy', 'my-app-v2', '-n', NS, '-w'],
      { env: env() },
    );
    let output = '';
    watcher.stdout.on('data', d => (output += d.toString()));
    watcher.stderr.on('data', d => (output += d.toString()));
    const waitFor = async (re: RegExp) => {
      const deadline = Date.now() + 30_000;
      while (!re.test(output)) {
        if (Date.now() > deadline)
          throw new Error(`kubectl get -w never showed ${re}:\n${output}`);
        await new Promise(res => setTimeout(res, 50));
      }
    };
    try {
      await waitFor(/my-app-v2\s+2\/2\s+2\s+2/);
      expect(
        await kubectl('scale', 'deploy', 'my-app-v2', '-n', NS, '--replicas=4'),
      ).toContain('deployment.apps/my-app-v2 scaled');
      await waitFor(/my-app-v2\s+[0-3]\/4/);
      await waitFor(/my-app-v2\s+4\/4\s+4\s+4/);
    } finally {
      watcher.kill();
    }
  }, 60_000);

  it('gets, patches and deletes with kubectl like with a real cluster', async () => {
    const yaml = await kubectl(
      'get',
      'virtualservice',
      'my-app-vs',
      '-n',
      NS,
      '-o',
      'yaml',
    );
    expect(yaml).toContain('apiVersion: networking.istio.io/v1');
    expect(yaml).toContain('weight: 25');

    await kubectl(
      'patch',
      'deploy',
      'my-app-v1',
      '-n',
      NS,
      '-p',
      '{"spec":{"template":{"spec":{"containers":[{"name":"app","env":[{"name":"SIM_LATENCY_MS","value":"60"}]}]}}}}',
    );
    const image = await kubectl(
      'get',
      'deploy',
      'my-app-v1',
      '-n',
      NS,
      '-o',
      'jsonpath={.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].env[0].value} {.metadata.generation}',
    );
    expect(image).toBe('my-registry/my-app:v1 60 2');

    await kubectl(
      'patch',
      'virtualservice',
      'my-app-vs',
      '-n',
      NS,
      '--type',
      'json',
      '-p',
      '[{"op":"replace","path":"/spec/http/0/route/0/weight","value":50},{"op":"replace","path":"/spec/http/0/route/1/weight","value":50}]',
    );
    const weights = sb
      .writes({
        group: 'networking.istio.io',
        kind: 'VirtualService',
        namespace: NS,
        name: 'my-app-vs',
      })
      .map(w => w.spec.http[0].route.map((r: any) => r.weight));
    expect(weights).toEqual([[100], [95, 5], [75, 25], [50, 50]]);

    expect(
      await kubectlFails(
        'patch',
        'virtualservice',
        'my-app-vs',
        '-n',
        NS,
        '-p',
        '{"spec":{}}',
      ),
    ).toContain('the body of the request was in an unknown format');
    expect(await kubectlFails('get', 'deploy', 'nope', '-n', NS)).toContain(
      'Error from server (NotFound): deployments.apps "nope" not found',
    );
    expect(
      await kubectlFails('get', 'pods', '-n', NS, '-l', 'app in (x'),
    ).toMatch(/unable to parse requirement|BadRequest/);

    // kubectl's typed create subcommands send protobuf; simple kinds work.
    expect(
      await kubectl(
        'create',
        'configmap',
        'settings',
        '-n',
        NS,
        '--from-literal=mode=canary',
      ),
    ).toContain('configmap/settings created');
    expect(
      await kubectl(
        'get',
        'configmap',
        'settings',
        '-n',
        NS,
        '-o',
        'jsonpath={.data.mode}',
      ),
    ).toBe('canary');

    expect(
      await kubectl(
        'delete',
        '-n',
        NS,
        '-f',
        path.join(SEED, 'virtualservice-25.yaml'),
      ),
    ).toContain('virtualservice.networking.istio.io "my-app-vs" deleted');
    expect(await kubectl('get', 'virtualservice', '-n', NS, '-o', 'name')).toBe(
      '',
    );
  }, 60_000);
});
