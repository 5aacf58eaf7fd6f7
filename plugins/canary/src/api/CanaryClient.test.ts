import {
  MockFetchApi,
  mockApis,
  registerMswTestHooks,
} from '@backstage/test-utils';
import { ResponseError } from '@backstage/errors';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { details, rollout, series, status } from '../__testUtils__/fixtures';
import { CanaryClient } from './CanaryClient';

const baseUrl = 'http://backstage.test/api';

describe('CanaryClient', () => {
  const server = setupServer();
  registerMswTestHooks(server);

  const client = new CanaryClient({
    discoveryApi: mockApis.discovery({ baseUrl: 'http://backstage.test' }),
    fetchApi: new MockFetchApi(),
  });

  it('reads the status of an entity by kind, namespace and name', async () => {
    let seenPath = '';
    server.use(
      http.get(`${baseUrl}/canary/entities/*`, ({ request }) => {
        seenPath = new URL(request.url).pathname;
        return HttpResponse.json(status());
      }),
    );
    const result = await client.getEntityStatus({
      kind: 'component',
      namespace: 'default',
      name: 'checkout/v2',
    });
    expect(seenPath).toBe(
      '/api/canary/entities/component/default/checkout%2Fv2',
    );
    expect(result.active?.id).toBe('r-2');
  });

  it('lists rollouts with only the filters that are set', async () => {
    let seenQuery: URLSearchParams | undefined;
    server.use(
      http.get(`${baseUrl}/canary/rollouts`, ({ request }) => {
        seenQuery = new URL(request.url).searchParams;
        return HttpResponse.json({ items: [rollout()] });
      }),
    );
    const items = await client.listRollouts({
      phase: 'Progressing',
      active: true,
      limit: 50,
      cluster: undefined,
    });
    expect(items.map(item => item.id)).toEqual(['r-2']);
    expect(Object.fromEntries(seenQuery!)).toEqual({
      phase: 'Progressing',
      active: 'true',
      limit: '50',
    });
  });

  it('reads details and series of a rollout', async () => {
    server.use(
      http.get(`${baseUrl}/canary/rollouts/r-2`, () =>
        HttpResponse.json(details()),
      ),
      http.get(`${baseUrl}/canary/rollouts/r-2/series`, () =>
        HttpResponse.json({ series }),
      ),
    );
    expect((await client.getRollout('r-2')).events).toHaveLength(3);
    expect((await client.getRolloutSeries('r-2'))[0].metric).toBe('error-rate');
  });

  it('starts a rollout with a JSON body', async () => {
    let body: unknown;
    let contentType: string | null = null;
    server.use(
      http.post(`${baseUrl}/canary/rollouts`, async ({ request }) => {
        body = await request.json();
        contentType = request.headers.get('content-type');
        return HttpResponse.json(rollout({ phase: 'Pending' }), {
          status: 201,
        });
      }),
    );
    const started = await client.startRollout({
      entityRef: 'component:default/checkout',
      image: 'shop/checkout:1.5.0',
    });
    expect(started.phase).toBe('Pending');
    expect(contentType).toBe('application/json');
    expect(body).toEqual({
      entityRef: 'component:default/checkout',
      image: 'shop/checkout:1.5.0',
    });
  });

  it('sends a control with its reason', async () => {
    let body: unknown;
    server.use(
      http.post(`${baseUrl}/canary/rollouts/r-2/abort`, async ({ request }) => {
        body = await request.json();
        return HttpResponse.json(rollout({ phase: 'Aborted' }));
      }),
    );
    const result = await client.controlRollout('r-2', 'abort', {
      reason: 'error budget',
    });
    expect(result.phase).toBe('Aborted');
    expect(body).toEqual({ reason: 'error budget' });
  });

  it('turns a Backstage error body into a ResponseError with the reason', async () => {
    server.use(
      http.post(`${baseUrl}/canary/rollouts/r-2/resume`, () =>
        HttpResponse.json(
          {
            error: {
              name: 'ConflictError',
              message:
                'Rollout r-2 is Progressing; only a paused rollout can resume',
            },
            response: { statusCode: 409 },
          },
          { status: 409, statusText: 'Conflict' },
        ),
      ),
    );
    const error = await client.controlRollout('r-2', 'resume').then(
      () => undefined,
      e => e,
    );
    expect(error).toBeInstanceOf(ResponseError);
    expect(error.statusCode).toBe(409);
    expect(error.cause.name).toBe('ConflictError');
    expect(error.cause.message).toMatch(/only a paused rollout can resume/);
  });

  it('fails with the status when the backend is not there', async () => {
    server.use(
      http.get(
        `${baseUrl}/canary/rollouts`,
        () =>
          new HttpResponse('Bad Gateway', {
            status: 502,
            statusText: 'Bad Gateway',
          }),
      ),
    );
    await expect(client.listRollouts()).rejects.toThrow(/502/);
  });
});
