import { AnalysisDecision, Analyzer, PrometheusQuerier } from '../Analyzer';
import { createTemplateRegistry } from '../config';
import { createAnalyzer } from '../index';

/**
 * An analysis of `http_requests_total{namespace,pod,code}` (the pods of
 * startPrometheus.ts) whose error-rate gate counts with custom templates,
 * every `interval`: the workload's pods summed by namespace. With the
 * namespace matched by `=~` (the default) the grouping label is not fixed,
 * so the templates are read as written — as Prometheus computes them, over
 * windows that tile time; with `=` the sum has one group and is read from
 * raw samples like `sum(increase(…))`.
 */
export function shopCountAnalyzer(
  interval: string,
  namespaceMatch: '=~' | '=' = '=~',
): Analyzer {
  const count = (errors: boolean) =>
    `sum by (namespace) (increase(http_requests_total{namespace${namespaceMatch}"{{ namespace }}",pod=~"{{ workload }}-[a-z0-9]+-[a-z0-9]+"${
      errors ? ',code=~"5.."' : ''
    }}[{{ elapsed }}]))`;
  return createAnalyzer({
    templates: createTemplateRegistry({
      'shop-errors': { query: count(true), kind: 'count' },
      'shop-requests': { query: count(false), kind: 'count' },
    }),
    analysis: {
      interval,
      trafficSplit: false,
      metrics: [
        {
          name: 'error-rate',
          judge: 'sequential',
          errors: 'shop-errors',
          requests: 'shop-requests',
        },
      ],
    },
  });
}

/** The decisions of each service of HEALTHY_AND_FAILING (startPrometheus.ts), in order. */
export type History = Record<'app' | 'bad', AnalysisDecision[]>;

/**
 * Evaluates `app` (healthy) and `bad` (failing) every 2 s, `aheadMs` ahead
 * of the real time (a store that is behind, as the analysis counts time),
 * until `app` has advanced and `bad` is rolled back and at least `minMs`
 * have passed, and at most `moreMs` beyond that. `onReading` runs before
 * each reading.
 */
export async function readUntilDecided(
  analyzer: Analyzer,
  prometheus: PrometheusQuerier,
  {
    startedAt,
    aheadMs = 0,
    minMs = 0,
    moreMs = 150_000,
    onReading,
  }: {
    startedAt: Date;
    aheadMs?: number;
    minMs?: number;
    moreMs?: number;
    onReading?: () => Promise<void>;
  },
): Promise<History> {
  const history: History = { app: [], bad: [] };
  const until = Date.now() + minMs;
  const deadline = until + moreMs;
  const done = () =>
    history.app.some(d => d.action === 'advance') &&
    history.bad.some(d => d.action === 'rollback');
  while ((!done() || Date.now() < until) && Date.now() < deadline) {
    await onReading?.();
    for (const service of ['app', 'bad'] as const) {
      const previous = history[service][history[service].length - 1];
      history[service].push(
        await analyzer.evaluate({
          namespace: 'shop',
          service,
          stable: { name: `${service}-v1`, version: 'v1' },
          canary: { name: `${service}-v2`, version: 'v2' },
          startedAt,
          now: new Date(Date.now() + aheadMs),
          state: previous?.state,
          failedChecks: previous?.failedChecks ?? 0,
          prometheus,
        }),
      );
    }
    await new Promise(r => setTimeout(r, 2000));
  }
  return history;
}

/** `action` if a decision of `service` took it, else what its last checks said (shown when a test fails). */
export function outcome(
  history: History,
  service: 'app' | 'bad',
  action: string,
): string {
  return history[service].some(d => d.action === action)
    ? action
    : history[service]
        .slice(-3)
        .map(d => d.checks[0]?.evidence ?? '')
        .join(' | ');
}
