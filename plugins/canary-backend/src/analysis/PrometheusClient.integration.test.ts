import {
  PrometheusClient,
  PrometheusNoDataError,
  PrometheusQueryRejectedError,
  PrometheusUnreachableError,
} from './PrometheusClient';
import {
  freePort,
  pollUntil,
  RunningPrometheus,
  startMetricsServer,
  startPrometheus,
} from './__testUtils__/startPrometheus';

jest.setTimeout(120_000);

describe('PrometheusClient against a real Prometheus', () => {
  let requests = 0;
  let target: Awaited<ReturnType<typeof startMetricsServer>>;
  let prometheus: RunningPrometheus;
  let timer: NodeJS.Timeout;

  beforeAll(async () => {
    timer = setInterval(() => {
      requests += 7;
    }, 100);
    target = await startMetricsServer(() =>
      [
        '# TYPE demo_requests_total counter',
        `demo_requests_total{arm="canary"} ${requests}`,
        `demo_requests_total{arm="stable"} ${requests * 9}`,
        '',
      ].join('\n'),
    );
    prometheus = await startPrometheus([`127.0.0.1:${target.port}`]);
  });

  afterAll(async () => {
    clearInterval(timer);
    await prometheus?.stop();
    await target?.close();
  });

  it('answers instant and range queries once data arrives', async () => {
    const client = new PrometheusClient({ url: prometheus.url });
    const value = await pollUntil(
      async () => {
        const v = await client.queryValue(
          'sum(increase(demo_requests_total{arm="canary"}[1m]))',
        );
        return v > 0 ? v : undefined;
      },
      90_000,
      'two scrapes of the target',
    );
    expect(value).toBeGreaterThan(0);

    const samples = await client.query('demo_requests_total');
    expect(samples.map(s => s.labels.arm).sort()).toEqual(['canary', 'stable']);

    const end = new Date();
    const start = new Date(end.getTime() - 60_000);
    const series = await client.queryRange(
      'sum(demo_requests_total)',
      start,
      end,
      1,
    );
    expect(series).toHaveLength(1);
    expect(series[0].points.length).toBeGreaterThan(1);
    const [t0, v0] = series[0].points[0];
    expect(t0).toBeGreaterThanOrEqual(Math.floor(start.getTime() / 1000));
    expect(v0).toBeGreaterThanOrEqual(0);
  });

  it('returns the raw samples of a selector with their scrape times', async () => {
    const client = new PrometheusClient({ url: prometheus.url });
    const series = await pollUntil(
      async () => {
        const s = await client.querySamples(
          'demo_requests_total{arm="stable"}',
          60,
        );
        return s[0]?.points.length >= 2 ? s : undefined;
      },
      90_000,
      'two scrapes of the target',
    );
    expect(series).toHaveLength(1);
    expect(series[0].labels).toMatchObject({ arm: 'stable' });
    const points = series[0].points;
    // Raw counter values: whole numbers, never decreasing, at distinct times.
    for (let i = 1; i < points.length; i++) {
      expect(points[i][0]).toBeGreaterThan(points[i - 1][0]);
      expect(points[i][1]).toBeGreaterThanOrEqual(points[i - 1][1]);
    }
    expect(points.every(([, v]) => Number.isInteger(v / 9))).toBe(true);
  });

  it('reports an empty result as no data', async () => {
    const client = new PrometheusClient({ url: prometheus.url });
    await expect(
      client.queryValue('sum(demo_requests_total{arm="nobody"})'),
    ).rejects.toBeInstanceOf(PrometheusNoDataError);
  });

  it('reports the error text of a query Prometheus rejects', async () => {
    const client = new PrometheusClient({ url: prometheus.url });
    // Parses as PromQL, but Prometheus refuses a range vector in a binary expression.
    const error = await client
      .query('demo_requests_total[1m] + 1')
      .catch(e => e);
    expect(error).toBeInstanceOf(PrometheusQueryRejectedError);
    expect(error.status).toBe(400);
    expect(error.prometheusError).toMatch(
      /binary expression must contain only scalar and instant vector/,
    );
  });

  it('reports a port nobody listens on as unreachable', async () => {
    const port = await freePort();
    const client = new PrometheusClient({ url: `http://127.0.0.1:${port}` });
    const error = await client.query('up').catch(e => e);
    expect(error).toBeInstanceOf(PrometheusUnreachableError);
    expect(error.message).toContain('ECONNREFUSED');
  });
});
