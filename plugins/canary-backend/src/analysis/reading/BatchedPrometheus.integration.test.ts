import { PrometheusClient } from '../PrometheusClient';
import {
  pollUntil,
  RunningPrometheus,
  startMetricsServer,
  startPrometheus,
} from '../__testUtils__/startPrometheus';
import { escapePromQLString } from '../promql';
import { BatchedPrometheus } from './BatchedPrometheus';

jest.setTimeout(120_000);

/** Workload names that an unescaped alternation would get wrong (or reject). */
const WORKLOADS = [
  'checkout-v1',
  'checkout-v2',
  'a.b',
  'axb',
  'pay(ments',
  'quote"d',
  'back\\slash',
  'x|y',
];
const NAMESPACES = ['shop', 'other'];

describe('BatchedPrometheus against a real Prometheus', () => {
  let target: Awaited<ReturnType<typeof startMetricsServer>>;
  let prometheus: RunningPrometheus;
  let timer: NodeJS.Timeout;
  let tick = 0;

  beforeAll(async () => {
    timer = setInterval(() => {
      tick++;
    }, 100);
    const label = (v: string) => `"${escapePromQLString(v)}"`;
    target = await startMetricsServer(() => {
      const lines = ['# TYPE demo_requests_total counter'];
      NAMESPACES.forEach((ns, n) =>
        WORKLOADS.forEach((w, i) => {
          for (const code of ['200', '500']) {
            // Each series its own pace; 5xx series appear later, as labelled counters do.
            if (code === '500' && tick < 20 * (i + 1)) continue;
            const value = Math.floor(
              (tick * (i + 1 + n)) / (code === '500' ? 7 : 1),
            );
            lines.push(
              `demo_requests_total{namespace=${label(ns)},workload=${label(
                w,
              )},code="${code}"} ${value}`,
            );
          }
        }),
      );
      return `${lines.join('\n')}\n`;
    });
    prometheus = await startPrometheus([`127.0.0.1:${target.port}`]);
    const client = new PrometheusClient({ url: prometheus.url });
    // Wait for some seconds of scrapes, and for 5xx series to exist.
    await pollUntil(
      async () => {
        const s = await client.querySamples(
          'demo_requests_total{code="500"}',
          60,
        );
        // Enough history that every reader's window holds several samples.
        return s.length >= 8 && s.some(x => x.points.length >= 12)
          ? s
          : undefined;
      },
      60_000,
      'scraped 5xx series',
    );
  });

  afterAll(async () => {
    clearInterval(timer);
    await prometheus?.stop();
    await target?.close();
  });

  it('gives every reader exactly what its own query returns, in one query per metric and time', async () => {
    const sent: string[] = [];
    const plain = new PrometheusClient({ url: prometheus.url });
    const counted = new PrometheusClient({
      url: prometheus.url,
      fetch: (input, init) => {
        sent.push(new URLSearchParams(String(init?.body)).get('query')!);
        return fetch(input, init);
      },
    });
    const batched = new BatchedPrometheus(counted, { collectMs: 50 });
    const time = new Date(Date.now() - 500);
    const reads: Array<{ selector: string; window: number }> = [];
    NAMESPACES.forEach(ns =>
      WORKLOADS.forEach((w, i) => {
        const arm = `namespace="${escapePromQLString(
          ns,
        )}",workload="${escapePromQLString(w)}"`;
        // Windows differ per reader; the shared query uses the largest.
        reads.push({ selector: `demo_requests_total{${arm}}`, window: 3 + i });
        reads.push({
          selector: `demo_requests_total{${arm},code=~"5.."}`,
          window: 2.5 + 2 * i,
        });
      }),
    );
    reads.push({
      selector: 'demo_requests_total{namespace="shop",workload="missing"}',
      window: 10,
    });
    // A first reading looks back far: read in a query of its own.
    reads.push({
      selector: `demo_requests_total{namespace="${escapePromQLString(
        NAMESPACES[0],
      )}",workload="${escapePromQLString(WORKLOADS[0])}"}`,
      window: 1900,
    });

    const own = await Promise.all(
      reads.map(r => plain.querySamples(r.selector, r.window, { time })),
    );
    const shared = await Promise.all(
      reads.map(r => batched.querySamples(r.selector, r.window, { time })),
    );

    const sortSeries = (series: (typeof own)[number]) =>
      [...series].sort((a, b) =>
        JSON.stringify(a.labels).localeCompare(JSON.stringify(b.labels)),
      );
    expect(shared.map(sortSeries)).toEqual(own.map(sortSeries));
    // Real data on both sides, not two empty answers.
    expect(own.filter(s => s.length > 0).length).toBeGreaterThan(
      reads.length / 2,
    );
    expect(own.some(s => s.some(x => x.labels.code === '500'))).toBe(true);
    // One query for the request counters, one for the 5xx ones, and the
    // long window's of its own.
    expect(sent).toHaveLength(3);
    expect(sent.filter(q => q.includes('workload=~'))).toHaveLength(2);
    expect(sent.filter(q => q.includes('[1980s]'))).toHaveLength(1);
  });
});
