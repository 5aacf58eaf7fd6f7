import { createAnalyzer, createTemplateRegistry } from './index';

describe('the example configuration in index.ts', () => {
  it('validates', () => {
    const templates = createTemplateRegistry({
      'database-errors': {
        query:
          'sum(rate(db_query_errors_total{namespace="{{ namespace }}",version="{{ version }}"}[{{ interval }}]))',
        unit: '1/s',
      },
      conversion: {
        query:
          'sum(rate(checkout_completed_total{namespace="{{ namespace }}",version="{{ version }}"}[{{ interval }}]))\n/ sum(rate(checkout_started_total{namespace="{{ namespace }}",version="{{ version }}"}[{{ interval }}])) * 100',
        unit: '%',
      },
    });
    const analyzer = createAnalyzer({
      key: 'canary.policies.default.analysis',
      templates,
      analysis: {
        interval: '10s',
        provider: 'istio',
        failureLimit: 3,
        failureMode: 'total',
        inconclusive: 'hold',
        alpha: 0.01,
        podHealth: { maxRestarts: 1 },
        metrics: [
          { name: 'error-rate', judge: 'sequential' },
          {
            name: 'latency',
            judge: 'sequential',
            errors: 'slow-request-count',
            requests: 'latency-request-count',
            variables: { le: 'auto' },
          },
          {
            name: 'request-error-rate',
            interval: '1m',
            thresholdRange: { max: 0.5 },
          },
          {
            name: 'request-duration',
            interval: '1m',
            relative: { maxRatio: 1.2, minRequests: 1000 },
          },
          { name: 'pod-restarts', thresholdRange: { max: 0 } },
          {
            name: 'database-errors',
            relative: { maxRatio: 1.5, maxIncrease: 0.1 },
          },
          { name: 'conversion', interval: '10m', relative: { minRatio: 0.98 } },
        ],
      },
    });
    expect(analyzer.gates.map(g => g.name)).toEqual([
      'error-rate',
      'latency',
      'request-error-rate',
      'request-duration',
      'pod-restarts',
      'database-errors',
      'conversion',
    ]);
  });
});
