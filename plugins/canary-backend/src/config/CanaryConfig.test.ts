import { ConfigReader } from '@backstage/config';
import { readCanaryConfig, startupWarnings } from './CanaryConfig';
import { applyOverrides } from './overrides';
import { toPolicy } from './policy';

const kubernetes = {
  clusterLocatorMethods: [
    { type: 'config', clusters: [{ name: 'prod', url: 'https://k8s' }] },
  ],
};

function read(canary: unknown) {
  return readCanaryConfig(new ConfigReader({ kubernetes, canary } as any));
}

describe('readCanaryConfig', () => {
  it('reads policies with every kind of step and Flagger-style weights', () => {
    const c = read({
      prometheus: { url: 'http://prom:9090' },
      clusters: {
        prod: {
          prometheus: {
            url: 'http://prom-prod:9090',
            auth: { bearerToken: 't' },
          },
        },
      },
      loop: { frequency: '2s', concurrency: 2 },
      policies: {
        standard: {
          trafficProvider: 'istio',
          steps: [
            5,
            { weight: 25, pause: '30s' },
            { weight: 50, approval: true },
            100,
          ],
          analysis: { interval: '15s' },
          stickyHeader: 'x-canary-user: true',
          webhooks: [
            { name: 'chat', type: 'event', url: 'https://hooks.example/x' },
          ],
        },
        flagger: { trafficProvider: 'replicas', stepWeight: 10, maxWeight: 50 },
      },
    });
    expect(c.loop).toMatchObject({ frequencyMs: 2000, concurrency: 2 });
    expect(c.policies.standard.steps).toEqual([
      { weight: 5 },
      { weight: 25, pauseSeconds: 30 },
      { weight: 50, approval: true },
      { weight: 100 },
    ]);
    expect(c.policies.standard.analysis.intervalMs).toBe(15_000);
    expect(c.policies.standard.stickyHeader).toEqual({
      name: 'x-canary-user',
      value: 'true',
    });
    expect(c.policies.flagger.steps.map(s => s.weight)).toEqual([
      10, 20, 30, 40, 50,
    ]);
    expect(c.clusters.prod.prometheus?.getString('url')).toBe(
      'http://prom-prod:9090',
    );
    expect(c.kubernetesClusters).toEqual(['prod']);
    // A mesh sizes the canary by the weight unless told otherwise; the
    // replicas provider does so by itself and has no setting.
    expect(c.policies.standard.canaryScale).toBe('weight');
    expect(c.policies.flagger.canaryScale).toBeUndefined();
  });

  it('says canaryScale does not apply to the replicas provider, and what to do', () => {
    expect(() =>
      read({
        policies: {
          ratio: { trafficProvider: 'replicas', canaryScale: 'weight' },
        },
      }),
    ).toThrow(
      'canary.policies.ratio.canaryScale: the replicas provider sizes both Deployments by the weight itself; remove canaryScale or choose a mesh or gateway provider',
    );
    expect(() =>
      read({
        policies: { mesh: { trafficProvider: 'istio', canaryScale: 'half' } },
      }),
    ).toThrow(
      "canary.policies.mesh.canaryScale: Invalid enum value. Expected 'weight' | 'fixed', received 'half'",
    );
    expect(
      read({
        policies: { mesh: { trafficProvider: 'nginx', canaryScale: 'fixed' } },
      }).policies.mesh.canaryScale,
    ).toBe('fixed');
  });

  it('names every wrong key', () => {
    expect(() =>
      read({
        clusters: { staging: {} },
        policies: {
          bad: {
            trafficProvider: 'linkerd',
            steps: [50, 20, 120],
            webhooks: [{ name: 'x', type: 'event', url: 'not a url' }],
          },
          both: { trafficProvider: 'istio', steps: [10], stepWeight: 10 },
          metrics: {
            trafficProvider: 'istio',
            analysis: {
              metrics: [
                {
                  name: 'request-success-rate',
                  thresholdRange: { min: 'high' },
                },
              ],
            },
          },
        },
      }),
    ).toThrow(
      expect.objectContaining({
        message: expect.stringMatching(
          /canary\.policies\.bad\.trafficProvider[\s\S]*canary\.policies\.bad\.steps\[2\][\s\S]*canary\.policies\.bad\.webhooks\[0\]\.url/,
        ),
      }),
    );
    expect(() =>
      read({
        clusters: { staging: {} },
        policies: {
          both: { trafficProvider: 'istio', steps: [10], stepWeight: 10 },
          down: { trafficProvider: 'istio', steps: [50, 20] },
          metrics: {
            trafficProvider: 'istio',
            analysis: {
              metrics: [
                {
                  name: 'request-success-rate',
                  thresholdRange: { min: 'high' },
                },
              ],
            },
          },
        },
      }),
    ).toThrow(
      expect.objectContaining({
        message: expect.stringMatching(
          /canary\.policies\.both: give either steps[\s\S]*canary\.policies\.down\.steps\[1\][\s\S]*canary\.policies\.metrics\.analysis\.metrics\[0\]\.thresholdRange\.min[\s\S]*canary\.clusters\.staging/,
        ),
      }),
    );
  });
});

describe('applyOverrides', () => {
  const base = toPolicy('p', { trafficProvider: 'istio' } as any);

  it('applies steps, interval and Flagger weights', () => {
    const { policy, problems } = applyOverrides(
      base,
      'steps=10,50,100; interval=30s; autoStart=true',
    );
    expect(problems).toEqual([]);
    expect(policy.steps.map(s => s.weight)).toEqual([10, 50, 100]);
    expect(policy.analysis.intervalMs).toBe(30_000);
    expect(policy.analysis.config.interval).toBe('30s');
    expect(policy.autoStart).toBe(true);
    expect(
      applyOverrides(base, 'stepWeight=20;maxWeight=60').policy.steps.map(
        s => s.weight,
      ),
    ).toEqual([20, 40, 60]);
    expect(base.steps.map(s => s.weight)).toEqual([5, 25, 50, 75, 100]);
  });

  it('reports what it cannot use, naming the annotation', () => {
    const { problems } = applyOverrides(
      base,
      'steps=10,x; interval=soon; colour=blue; nonsense',
    );
    expect(problems.map(p => p.key)).toEqual(
      Array(4).fill('coalmine.io/overrides'),
    );
    expect(problems.map(p => p.message).join(' ')).toMatch(
      /steps=10,x.*interval=soon.*colour.*nonsense/,
    );
  });
});

describe('startupWarnings', () => {
  it('names a cluster without Prometheus and each custom count template read as written', () => {
    const count = (sum: string) =>
      `${sum}(increase(http_requests_total{namespace="{{ namespace }}",pod=~"{{ workload }}-.*"}[{{ elapsed }}]))`;
    const config = read({
      templates: {
        // Read from raw samples: a plain sum, one that ends in or vector(0),
        // one by a label its selector fixes with =.
        'plain-count': { kind: 'count', query: count('sum') },
        'zero-count': { kind: 'count', query: `${count('sum')} or vector(0)` },
        'namespace-count': {
          kind: 'count',
          query: count('sum by (namespace)'),
        },
        // Read as written: several groups, arithmetic inside the sum.
        'pod-count': { kind: 'count', query: count('sum by (pod)') },
        'inner-count': {
          kind: 'count',
          canary: 'sum(increase(a{pod=~"{{ workload }}-.*"}[{{ elapsed }}]))',
          stable:
            'sum(increase(a{pod=~"{{ workload }}-.*"}[{{ elapsed }}]) - increase(b{pod=~"{{ workload }}-.*"}[{{ elapsed }}]))',
        },
        // Not a count: never read from raw samples, nothing to say.
        'error-ratio': {
          query:
            'sum(rate(http_requests_total{code=~"5..",pod=~"{{ workload }}-.*"}[{{ interval }}]))',
        },
      },
    });
    const warnings = startupWarnings(config);
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toBe(
      'No Prometheus for cluster prod: rollouts there hold at their first step until canary.prometheus or canary.clusters.prod.prometheus is set',
    );
    expect(warnings.slice(1).map(w => w.split(':')[0])).toEqual([
      'canary.templates.inner-count',
      'canary.templates.pod-count',
    ]);
    // Each says why, and how to write it instead.
    expect(warnings[1]).toMatch(
      /^canary\.templates\.inner-count: this count template is read as written \(its stable query: vectors added or subtracted before they are summed: .* sum each part, sum\(increase\(a\[…\]\)\) - sum\(increase\(b\[…\]\)\)\), through increase\(\)'s extrapolation.*write it as sums of sum\(increase\(selector\[\{\{ elapsed \}\}\]\)\)/,
    );
    expect(warnings[2]).toMatch(
      /^canary\.templates\.pod-count: this count template is read as written \(sum by \(pod\) of a selector that does not fix pod with "=": it may have several groups\), through/,
    );
    expect(
      startupWarnings(read({ prometheus: { url: 'http://prom:9090' } })),
    ).toEqual([]);
    // The built-in count templates are all read from raw samples.
    const builtins = config.templates
      .names()
      .map(name => config.templates.get(name, 'istio'))
      .filter(t => t.kind === 'count');
    expect(builtins.length).toBeGreaterThanOrEqual(4);
    expect(
      builtins.filter(t => t.readAsWrittenBecause).map(t => t.name),
    ).toEqual(['inner-count', 'pod-count']);
  });
});
