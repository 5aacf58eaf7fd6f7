import { ConfigReader } from '@backstage/config';
import { http, HttpResponse, delay } from 'msw';
import { setupServer } from 'msw/node';
import {
  PrometheusClient,
  PrometheusNativeHistogramError,
  PrometheusNoDataError,
  PrometheusQueryRejectedError,
  PrometheusUnreachableError,
} from './PrometheusClient';
import { PromQLSyntaxError } from './promql';

const BASE = 'http://prometheus.test:9090';
const server = setupServer();

beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

function vector(...values: Array<[Record<string, string>, string]>) {
  return {
    status: 'success',
    data: {
      resultType: 'vector',
      result: values.map(([metric, value]) => ({
        metric,
        value: [1700000000, value],
      })),
    },
  };
}

describe('PrometheusClient', () => {
  it('sends the query with bearer auth and reads a vector', async () => {
    let seen: { auth: string | null; query: string | null } | undefined;
    server.use(
      http.post(`${BASE}/api/v1/query`, async ({ request }) => {
        const form = new URLSearchParams(await request.text());
        seen = {
          auth: request.headers.get('authorization'),
          query: form.get('query'),
        };
        return HttpResponse.json(vector([{ pod: 'a' }, '1.5']));
      }),
    );
    const client = new PrometheusClient({
      url: BASE,
      auth: { type: 'bearer', token: 's3cret-token' },
    });
    const samples = await client.query('sum(up)');
    expect(samples).toEqual([
      { labels: { pod: 'a' }, time: 1700000000, value: 1.5 },
    ]);
    expect(seen).toEqual({ auth: 'Bearer s3cret-token', query: 'sum(up)' });
  });

  it('uses basic auth from config and keeps a path prefix', async () => {
    let auth: string | null = null;
    server.use(
      http.post(`${BASE}/prom/api/v1/query`, ({ request }) => {
        auth = request.headers.get('authorization');
        return HttpResponse.json(vector([{}, '2']));
      }),
    );
    const client = PrometheusClient.fromConfig(
      new ConfigReader({
        url: `${BASE}/prom`,
        timeout: '5s',
        auth: { username: 'alice', password: 'pa55' },
      }),
    );
    await expect(client.queryValue('sum(up)')).resolves.toBe(2);
    expect(auth).toBe(`Basic ${Buffer.from('alice:pa55').toString('base64')}`);
  });

  it('reads range queries', async () => {
    server.use(
      http.post(`${BASE}/api/v1/query_range`, async ({ request }) => {
        const form = new URLSearchParams(await request.text());
        expect(form.get('step')).toBe('15');
        expect(form.get('start')).toBe('1700000000');
        return HttpResponse.json({
          status: 'success',
          data: {
            resultType: 'matrix',
            result: [
              {
                metric: {},
                values: [
                  [1700000000, '1'],
                  [1700000015, '2'],
                ],
              },
            ],
          },
        });
      }),
    );
    const client = new PrometheusClient({ url: BASE });
    const series = await client.queryRange(
      'sum(up)',
      new Date(1700000000_000),
      new Date(1700000030_000),
      15,
    );
    expect(series[0].points).toEqual([
      [1700000000, 1],
      [1700000015, 2],
    ]);
  });

  it('sorts a 400 into a rejected query with Prometheus error text', async () => {
    server.use(
      http.post(`${BASE}/api/v1/query`, () =>
        HttpResponse.json(
          {
            status: 'error',
            errorType: 'bad_data',
            error: 'parse error: unexpected end of input',
          },
          { status: 400 },
        ),
      ),
    );
    const client = new PrometheusClient({ url: BASE });
    const error = await client.query('rate(x[1m])').catch(e => e);
    expect(error).toBeInstanceOf(PrometheusQueryRejectedError);
    expect(error.status).toBe(400);
    expect(error.prometheusError).toBe('parse error: unexpected end of input');
    expect(error.message).toContain('parse error: unexpected end of input');
  });

  it('sorts a 422 into a rejected query', async () => {
    server.use(
      http.post(`${BASE}/api/v1/query`, () =>
        HttpResponse.json(
          { status: 'error', errorType: 'execution', error: 'query timed out' },
          { status: 422 },
        ),
      ),
    );
    const error = await new PrometheusClient({ url: BASE })
      .query('up')
      .catch(e => e);
    expect(error).toBeInstanceOf(PrometheusQueryRejectedError);
    expect(error.errorType).toBe('execution');
  });

  it('sorts 5xx, refused credentials, network errors and timeouts into unreachable', async () => {
    const client = new PrometheusClient({
      url: BASE,
      auth: { type: 'bearer', token: 'tok-123' },
      timeoutMs: 200,
    });
    server.use(
      http.post(
        `${BASE}/api/v1/query`,
        () => new HttpResponse('oops', { status: 503 }),
      ),
    );
    await expect(client.query('up')).rejects.toBeInstanceOf(
      PrometheusUnreachableError,
    );

    server.use(
      http.post(
        `${BASE}/api/v1/query`,
        () => new HttpResponse('no', { status: 401 }),
      ),
    );
    const refused = await client.query('up').catch(e => e);
    expect(refused).toBeInstanceOf(PrometheusUnreachableError);
    expect(refused.message).toContain('refused the credentials');

    server.use(http.post(`${BASE}/api/v1/query`, () => HttpResponse.error()));
    await expect(client.query('up')).rejects.toBeInstanceOf(
      PrometheusUnreachableError,
    );

    server.use(
      http.post(`${BASE}/api/v1/query`, async () => {
        await delay(2000);
        return HttpResponse.json(vector([{}, '1']));
      }),
    );
    const timedOut = await client.query('up').catch(e => e);
    expect(timedOut).toBeInstanceOf(PrometheusUnreachableError);
    expect(timedOut.message).toContain('did not answer within 200 ms');
  });

  it('reports no data for an empty vector or NaN', async () => {
    server.use(
      http.post(`${BASE}/api/v1/query`, () => HttpResponse.json(vector())),
    );
    const client = new PrometheusClient({ url: BASE });
    await expect(client.queryValue('sum(up)')).rejects.toBeInstanceOf(
      PrometheusNoDataError,
    );
    server.use(
      http.post(`${BASE}/api/v1/query`, () =>
        HttpResponse.json(vector([{}, 'NaN'])),
      ),
    );
    await expect(client.queryValue('sum(up)')).rejects.toBeInstanceOf(
      PrometheusNoDataError,
    );
  });

  it('refuses to send a query that does not parse', async () => {
    const client = new PrometheusClient({ url: BASE });
    await expect(client.query('sum(rate(x[5m])')).rejects.toBeInstanceOf(
      PromQLSyntaxError,
    );
  });

  it('never shows credentials in errors, toString or JSON', async () => {
    server.use(
      http.post(
        'http://secret.test:9090/api/v1/query',
        () => new HttpResponse('x', { status: 500 }),
      ),
    );
    const fromUrl = new PrometheusClient({
      url: 'http://bob:hunter2@secret.test:9090',
    });
    const withToken = new PrometheusClient({
      url: 'http://secret.test:9090',
      auth: { type: 'bearer', token: 'tok-SECRET' },
    });
    for (const client of [fromUrl, withToken]) {
      const error = await client.query('up').catch(e => e);
      const shown = [
        String(client),
        JSON.stringify(client),
        error.message,
        String(error),
        JSON.stringify(error),
        error.stack,
      ].join('\n');
      expect(shown).not.toMatch(/hunter2|tok-SECRET|bob/);
      expect(shown).toContain('secret.test:9090');
    }
  });

  it('refuses native histogram samples with an error that names them, in every kind of answer', async () => {
    const histogram = {
      count: '12',
      sum: '730.5',
      buckets: [[0, '45.25', '49.35', '3']],
    };
    const metric = { __name__: 'latency_ms', pod: 'a' };
    server.use(
      http.post(`${BASE}/api/v1/query`, async ({ request }) => {
        const query = new URLSearchParams(await request.text()).get('query');
        return HttpResponse.json({
          status: 'success',
          data: query?.endsWith('s]')
            ? {
                resultType: 'matrix',
                result: [{ metric, histograms: [[1700000000, histogram]] }],
              }
            : {
                resultType: 'vector',
                result: [
                  { metric: { pod: 'b' }, value: [1700000000, '1'] },
                  { metric, histogram: [1700000000, histogram] },
                ],
              },
        });
      }),
      http.post(`${BASE}/api/v1/query_range`, () =>
        HttpResponse.json({
          status: 'success',
          data: {
            resultType: 'matrix',
            result: [
              {
                metric: {},
                values: [[1700000000, '1']],
                histograms: [[1700000015, histogram]],
              },
            ],
          },
        }),
      ),
    );
    const client = new PrometheusClient({ url: BASE });
    const instant = client.query('latency_ms');
    await expect(instant).rejects.toBeInstanceOf(
      PrometheusNativeHistogramError,
    );
    await expect(instant).rejects.toMatchObject({
      metrics: ['latency_ms'],
      query: 'latency_ms',
      message:
        'the query returned native histogram samples (latency_ms), which are not numbers — read them through histogram_count(), histogram_sum() or histogram_quantile()',
    });
    await expect(client.querySamples('latency_ms', 30)).rejects.toMatchObject({
      metrics: ['latency_ms'],
      query: 'latency_ms[30s]',
    });
    // A series with float and histogram samples (no name after a function).
    await expect(
      client.queryRange(
        'rate(latency_ms[1m])',
        new Date(0),
        new Date(60_000),
        15,
      ),
    ).rejects.toMatchObject({
      metrics: [],
      message: expect.stringContaining('native histogram samples (a series)'),
    });
  });

  it('reads native histogram samples raw, with their buckets, leaving series of numbers out', async () => {
    let asked: string | null = null;
    server.use(
      http.post(`${BASE}/api/v1/query`, async ({ request }) => {
        asked = new URLSearchParams(await request.text()).get('query');
        return HttpResponse.json({
          status: 'success',
          data: {
            resultType: 'matrix',
            result: [
              { metric: { pod: 'b' }, values: [[1700000000, '3']] },
              {
                metric: { pod: 'a' },
                histograms: [
                  [
                    1700000000,
                    {
                      count: '5',
                      sum: '900',
                      buckets: [
                        [3, '-0.001', '0.001', '1'],
                        [0, '256', '512', '4'],
                      ],
                    },
                  ],
                  [1700000015, { count: '0', sum: '0' }],
                ],
              },
            ],
          },
        });
      }),
    );
    const client = new PrometheusClient({ url: BASE });
    const series = await client.queryHistogramSamples(
      'latency_ms{pod="a"}',
      29.5,
    );
    expect(asked).toBe('latency_ms{pod="a"}[30s]');
    expect(series).toEqual([
      {
        labels: { pod: 'a' },
        points: [
          [
            1700000000,
            {
              count: 5,
              buckets: [
                [-0.001, 0.001, 1],
                [256, 512, 4],
              ],
            },
          ],
          [1700000015, { count: 0, buckets: [] }],
        ],
      },
    ]);
  });
});
