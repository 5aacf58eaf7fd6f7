import { ConfigReader } from '@backstage/config';
import { readCanaryConfig } from './CanaryConfig';
import { applyOverrides } from './overrides';
import { imageAllowed, policyConfigSchema, toPolicy } from './policy';
import { toOverrideRules } from './overrideRules';
import { createRedactor } from '../service/redact';

const base = toPolicy(
  'standard',
  policyConfigSchema.parse({
    trafficProvider: 'istio',
    steps: [10, 50, 100],
    progressDeadline: '5m',
    maxCanaryRestarts: 2,
  }),
);

describe('overrides within the platform bounds', () => {
  it('refuses values beyond the bounds, each naming the key, and applies none of them', () => {
    const { policy, problems } = applyOverrides(
      base,
      'steps=100; maxCanaryRestarts=999999; progressDeadline=2h; interval=1ms; stickyHeader=x-a b:1',
    );
    expect(problems.map(p => p.message)).toEqual([
      expect.stringMatching(/^steps=100: keep at least one step below 100 %/),
      expect.stringMatching(
        /^maxCanaryRestarts=999999: at most 2 \(policy standard\)/,
      ),
      expect.stringMatching(
        /^progressDeadline=2h: at most 300s \(policy standard\)/,
      ),
      expect.stringMatching(/^interval=1ms: give a duration from 1s to 600s/),
      expect.stringMatching(
        /^stickyHeader=x-a b:1: the header name may hold only/,
      ),
    ]);
    expect(problems.every(p => p.key === 'coalmine.io/overrides')).toBe(true);
    expect(policy.steps).toEqual(base.steps);
    expect(policy.maxCanaryRestarts).toBe(2);
    expect(policy.stickyHeader).toBeUndefined();
  });

  it('refuses a first step beyond the bound and schedules that skip approval gates', () => {
    expect(applyOverrides(base, 'stepWeight=60').problems[0].message).toMatch(
      /first step may send at most 50 %/,
    );
    const gated = toPolicy(
      'gated',
      policyConfigSchema.parse({
        trafficProvider: 'istio',
        steps: [10, { weight: 50, approval: true }, 100],
      }),
    );
    expect(applyOverrides(gated, 'steps=10,100').problems[0].message).toMatch(
      /policy gated has approval gates/,
    );
  });

  it('allows only the keys the platform lists, and tighter limits within them', () => {
    const rules = toOverrideRules({
      allowedKeys: ['interval', 'maxCanaryRestarts'],
      bounds: { maxCanaryRestarts: { max: 1 }, interval: { min: 10_000 } },
    });
    const { policy, problems } = applyOverrides(
      base,
      'steps=10,20,100; interval=30s; maxCanaryRestarts=1',
      rules,
    );
    expect(problems.map(p => p.message)).toEqual([
      expect.stringMatching(
        /^steps may not be overridden here; the platform allows: interval, maxCanaryRestarts/,
      ),
    ]);
    expect(policy.analysis.intervalMs).toBe(30_000);
    expect(policy.maxCanaryRestarts).toBe(1);
    expect(
      applyOverrides(base, 'interval=5s', rules).problems[0].message,
    ).toMatch(/from 10s/);
  });
});

describe('allowedImages', () => {
  it('matches registry/repository prefixes at a boundary and * patterns', () => {
    const allowed = ['registry.example.com/shop', 'shop/*:v*'];
    expect(
      imageAllowed('registry.example.com/shop/checkout:1.2', allowed),
    ).toBe(true);
    expect(imageAllowed('registry.example.com/shopping/x:1', allowed)).toBe(
      false,
    );
    expect(imageAllowed('shop/checkout:v2', allowed)).toBe(true);
    expect(imageAllowed('shop/checkout:latest', allowed)).toBe(false);
    expect(imageAllowed('evil.example/x:1', allowed)).toBe(false);
    expect(imageAllowed('anything', [])).toBe(true);
  });
});

describe('trust configuration', () => {
  it('reads namespaces per cluster, service principals and override rules; names wrong keys', () => {
    const clusters = {
      kubernetes: {
        clusterLocatorMethods: [
          {
            type: 'config',
            clusters: [
              { name: 'prod', url: 'https://k8s.internal.example:6443' },
            ],
          },
        ],
      },
    };
    const config = readCanaryConfig(
      new ConfigReader({
        ...clusters,
        canary: {
          clusters: {
            prod: {
              namespaces: [
                'shop',
                { name: 'platform', owners: ['platform-team'] },
              ],
            },
          },
          servicePrincipals: { 'ci-pipeline': { entities: ['checkout'] } },
          overrides: { allowedKeys: ['interval'] },
          policies: {
            p: {
              trafficProvider: 'istio',
              allowedImages: ['registry.example.com/'],
            },
          },
        },
      }),
    );
    expect(config.clusters.prod.namespaces).toEqual([
      { name: 'shop' },
      { name: 'platform', owners: ['group:default/platform-team'] },
    ]);
    expect(config.servicePrincipals['ci-pipeline']).toEqual({
      entities: ['component:default/checkout'],
      owners: [],
    });
    expect(config.overrides.allowedKeys).toEqual(['interval']);
    expect(config.policies.p.allowedImages).toEqual(['registry.example.com/']);
    expect(() =>
      readCanaryConfig(
        new ConfigReader({
          ...clusters,
          canary: {
            clusters: { prod: { namespaces: ['Not_A_Namespace'] } },
            overrides: { allowedKeys: ['colour'] },
          },
        }),
      ),
    ).toThrow(
      /canary\.clusters\.prod\.namespaces\[0\][\s\S]*canary\.overrides\.allowedKeys\[0\]/,
    );
  });
});

describe('redaction of internal endpoints', () => {
  it('hides URLs, addresses and configured host names, and keeps image and entity refs', () => {
    const redact = createRedactor([
      'https://k8s.internal.example:6443',
      'http://prometheus.monitoring:9090',
    ]);
    expect(
      redact(
        'connect ECONNREFUSED 10.0.3.7:6443 while reading https://k8s.internal.example:6443/apis/x; ' +
          'prometheus.monitoring:9090 timed out; getaddrinfo ENOTFOUND db.corp; [fd00::1]:80',
      ),
    ).toBe(
      'connect ECONNREFUSED <internal address> while reading <internal URL>; ' +
        '<internal host> timed out; getaddrinfo ENOTFOUND <internal host>; <internal address>',
    );
    const kept =
      'image registry.example.com/shop/checkout:1.5.0 of component:default/checkout';
    expect(redact(kept)).toBe(kept);
  });
});
