import fs from 'fs';
import os from 'os';
import path from 'path';
import { spawnSync } from 'child_process';
import { parse } from 'yaml';
import { ConfigReader } from '@backstage/config';
import { loadConfigSchema } from '@backstage/config-loader';
import type { JsonObject } from '@backstage/types';
import { readCanaryConfig } from './CanaryConfig';
import { canaryConfigBlock } from '../__testUtils__/readmeBlocks';

jest.setTimeout(120_000);

const repoRoot = path.resolve(__dirname, '../../../..');

/** A configuration with every key the plugin reads, each with a valid value. */
const everyKey: JsonObject = {
  kubernetes: {
    serviceLocatorMethod: { type: 'multiTenant' },
    clusterLocatorMethods: [
      {
        type: 'config',
        clusters: [
          {
            name: 'prod-eu',
            url: 'https://k8s.example.com',
            authProvider: 'serviceAccount',
            serviceAccountToken: 'token',
            caData: 'ca',
            caFile: '/ca.pem',
            skipTLSVerify: false,
            authMetadata: { region: 'eu' },
          },
        ],
      },
    ],
  },
  canary: {
    loop: { frequency: '5s', concurrency: 4, lease: 30 },
    detection: { frequency: '30s' },
    notifications: { enabled: true, frequency: '5s' },
    retention: { maxAge: '90d', frequency: { hours: 1 } },
    servicePrincipals: {
      'ci-pipeline': {
        entities: ['component:default/checkout'],
        owners: ['group:default/shop'],
      },
    },
    overrides: {
      allowedKeys: ['steps', 'interval', 'autoStart'],
      bounds: {
        interval: { min: '1s', max: '10m' },
        progressDeadline: { max: '10m' },
        maxCanaryRestarts: { max: 3 },
        steps: { maxFirstWeight: 50 },
      },
    },
    prometheus: {
      url: 'http://prometheus:9090',
      timeout: '10s',
      auth: { bearerToken: 'secret' },
    },
    clusters: {
      'prod-eu': {
        prometheus: {
          url: 'http://prometheus.prod-eu:9090',
          timeout: '5s',
          auth: { username: 'u', password: 'p' },
        },
      },
    },
    templates: {
      'checkout-conversion': {
        canary:
          'sum(rate(orders_total{namespace="{{ namespace }}",version="{{ canaryVersion }}"}[{{ interval }}]))',
        stable:
          'sum(rate(orders_total{namespace="{{ namespace }}",version="{{ stableVersion }}"}[{{ interval }}]))',
        kind: 'value',
        unit: 'orders/s',
        description: 'orders per second',
      },
    },
    policies: {
      full: {
        trafficProvider: 'istio',
        steps: [
          5,
          { weight: 25, pause: '2m' },
          { weight: 50, approval: true },
          100,
        ],
        analysis: {
          interval: '10s',
          provider: 'istio',
          failureLimit: 3,
          failureMode: 'consecutive',
          inconclusive: { policy: 'fail', after: 5 },
          alpha: 0.01,
          tolerance: 0.1,
          podHealth: { maxRestarts: 1, fatalReasons: ['OOMKilled'] },
          metrics: [
            {
              name: 'error-rate',
              judge: 'sequential',
              errors: 'error-count',
              requests: 'request-count',
              alpha: 0.005,
              tolerance: 0,
              minRequests: 20,
              hardStop: true,
            },
            {
              name: 'request-success-rate',
              interval: '30s',
              thresholdRange: { min: 99, max: 100 },
              unit: '%',
            },
            {
              name: 'request-duration',
              relative: {
                maxRatio: 1.2,
                maxIncrease: 50,
                minRatio: 0.5,
                maxDecrease: 100,
                minRequests: 50,
              },
            },
            {
              name: 'slow-requests',
              template: 'slow-request-count',
              judge: 'sequential',
              requests: 'latency-request-count',
              variables: { le: '0.5' },
            },
            {
              name: 'conversion',
              template: 'checkout-conversion',
              relative: { minRatio: 0.9 },
            },
          ],
        },
        progressDeadline: '5m',
        promotion: { retireStable: 'keep' },
        stickyHeader: { name: 'x-canary-user', value: 'true' },
        autoStart: true,
        maxCanaryRestarts: 2,
        clusterErrorLimit: 5,
        onManualWeightChange: 'pause',
        onTemplateChange: 'abort',
        maxHold: '4h',
        webhooks: [
          {
            name: 'load-test',
            type: 'pre-rollout',
            url: 'https://hooks.example.com/load',
            timeout: '10s',
            retries: 2,
            secret: 'hmac',
            headers: { 'x-team': 'shop' },
            metadata: { suite: 'smoke' },
          },
        ],
      },
      flagger: {
        trafficProvider: 'nginx',
        stepWeight: 10,
        maxWeight: 50,
        stickyHeader: 'x-canary: always',
        analysis: { interval: 30, inconclusive: 'count', podHealth: false },
      },
    },
  },
};

/** What every backend's schema requires besides ours. */
const base: JsonObject = {
  app: { baseUrl: 'http://localhost:3000' },
  backend: {
    baseUrl: 'http://localhost:7007',
    listen: { port: 7007 },
    database: { client: 'better-sqlite3', connection: ':memory:' },
  },
};

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v));

function runtimeAccepts(data: JsonObject): boolean {
  try {
    readCanaryConfig(new ConfigReader(data));
    return true;
  } catch {
    return false;
  }
}

/** Every object (not array) and every leaf under `canary`, as paths. */
function nodes(
  value: unknown,
  at: Array<string | number>,
  out: Array<{ path: Array<string | number>; leaf: boolean }>,
) {
  if (Array.isArray(value)) {
    value.forEach((v, i) => nodes(v, [...at, i], out));
  } else if (value && typeof value === 'object') {
    out.push({ path: at, leaf: false });
    for (const [k, v] of Object.entries(value)) nodes(v, [...at, k], out);
  } else {
    out.push({ path: at, leaf: true });
  }
  return out;
}

function setAt(data: any, p: Array<string | number>, fn: (v: any) => any) {
  const parent = p.slice(0, -1).reduce((acc, k) => acc[k], data);
  const last = p[p.length - 1];
  parent[last] = fn(parent[last]);
}

describe('config.d.ts and the runtime validation', () => {
  let schemaErrors: (data: JsonObject) => string | undefined;
  const schemaAccepts = (data: JsonObject) => !schemaErrors(data);

  beforeAll(async () => {
    const schema = await loadConfigSchema({
      dependencies: ['@coalmine/backstage-plugin-canary-backend'],
      noUndeclaredProperties: true,
    });
    schemaErrors = data => {
      try {
        schema.process(
          [
            { data: base, context: 'base' },
            { data, context: 'test' },
          ],
          {
            visibility: ['frontend', 'backend', 'secret'],
          },
        );
        return undefined;
      } catch (e) {
        return String(e);
      }
    };
  });

  it('both accept a configuration with every key', () => {
    expect(runtimeAccepts(everyKey)).toBe(true);
    expect(schemaErrors(everyKey)).toBeUndefined();
  });

  it('both refuse an unknown key anywhere under canary', () => {
    const disagreements: string[] = [];
    for (const node of nodes(everyKey.canary, ['canary'], [])) {
      if (node.leaf) continue;
      // Names chosen by the user (policies, clusters, templates, variables, headers) take any key.
      const last = node.path[node.path.length - 1];
      if (
        [
          'policies',
          'servicePrincipals',
          'clusters',
          'templates',
          'variables',
          'headers',
          'metadata',
        ].includes(String(last))
      ) {
        continue;
      }
      const data = clone(everyKey);
      setAt(data, node.path, v => ({ ...v, colour: 'blue' }));
      const runtime = runtimeAccepts(data);
      const schema = schemaAccepts(data);
      if (runtime || schema) {
        disagreements.push(
          `${node.path.join('.')}.colour: runtime ${
            runtime ? 'accepts' : 'refuses'
          }, config.d.ts ${schema ? 'accepts' : 'refuses'}`,
        );
      }
    }
    expect(disagreements).toEqual([]);
  });

  it('both refuse a value of the wrong type for every key under canary', () => {
    const disagreements: string[] = [];
    for (const node of nodes(everyKey.canary, ['canary'], [])) {
      if (!node.leaf) continue;
      const data = clone(everyKey);
      let wrong: unknown;
      setAt(data, node.path, v => {
        wrong = typeof v === 'boolean' ? 'yes' : { nested: true };
        return wrong;
      });
      const runtime = runtimeAccepts(data);
      const schema = schemaAccepts(data);
      if (runtime || schema) {
        disagreements.push(
          `${node.path.join('.')} = ${JSON.stringify(wrong)}: runtime ${
            runtime ? 'accepts' : 'refuses'
          }, config.d.ts ${schema ? 'accepts' : 'refuses'}`,
        );
      }
    }
    expect(disagreements).toEqual([]);
  });

  it.each([
    ['the repository README', path.join(repoRoot, 'README.md')],
    ["the backend plugin's README", path.join(__dirname, '../../README.md')],
  ])(
    'backstage-cli config:check --strict passes with the example in %s',
    (_, readmeFile) => {
      const block = canaryConfigBlock(readmeFile);
      expect(parse(block).kubernetes.serviceLocatorMethod).toEqual({
        type: 'multiTenant',
      });
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'canary-config-'));
      const file = path.join(dir, 'readme.yaml');
      fs.writeFileSync(file, block);
      const res = spawnSync(
        process.execPath,
        [
          require.resolve('@backstage/cli/bin/backstage-cli'),
          'config:check',
          '--strict',
          '--lax',
          '--config',
          path.join(repoRoot, 'app-config.yaml'),
          '--config',
          file,
        ],
        { cwd: repoRoot, encoding: 'utf8' },
      );
      expect(`${res.stdout}${res.stderr}`).not.toMatch(/must|error/i);
      expect(res.status).toBe(0);
    },
  );
});
