import {
  MockFetchApi,
  mockApis,
  registerMswTestHooks,
} from '@backstage/test-utils';
import { ResponseError } from '@backstage/errors';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { details, rollout, series, status } from '../__testUtils__/fixtures';
import { CanaryClient, STATUS_SHARED_MS } from './CanaryClient';

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

  describe('shares status requests', () => {
    const checkout = {
      kind: 'component',
      namespace: 'default',
      name: 'checkout',
    };
    const newClient = () =>
      new CanaryClient({
        discoveryApi: mockApis.discovery({
          baseUrl: 'http://backstage.test',
        }),
        fetchApi: new MockFetchApi(),
      });
    /** Counts the status requests; each answer carries its number as the weight. */
    function countStatusRequests(
      answer: (n: number) => Response | Promise<Response> = n =>
        HttpResponse.json(status({ active: rollout({ weight: n }) })),
    ) {
      const seen = { count: 0 };
      server.use(
        http.get(`${baseUrl}/canary/entities/component/default/*`, () => {
          seen.count += 1;
          return answer(seen.count);
        }),
      );
      return seen;
    }
    afterEach(() => jest.restoreAllMocks());

    it('sends one request for calls made while it is in flight', async () => {
      const seen = countStatusRequests();
      const api = newClient();
      const [card, tab] = await Promise.all([
        api.getEntityStatus(checkout),
        api.getEntityStatus(checkout),
      ]);
      expect(seen.count).toBe(1);
      expect(tab).toBe(card);
      // Another entity is another request.
      await api.getEntityStatus({ ...checkout, name: 'payments' });
      expect(seen.count).toBe(2);
    });

    it('shares an answer for a moment, then asks again', async () => {
      const seen = countStatusRequests();
      const api = newClient();
      const first = await api.getEntityStatus(checkout);
      expect((await api.getEntityStatus(checkout)).active?.weight).toBe(1);
      expect(seen.count).toBe(1);
      const later = Date.now() + STATUS_SHARED_MS;
      jest.spyOn(Date, 'now').mockReturnValue(later);
      const next = await api.getEntityStatus(checkout);
      expect(seen.count).toBe(2);
      expect(next.active?.weight).toBe(2);
      expect(first.active?.weight).toBe(1);
    });

    it('asks anew for an answer newer than a known change', async () => {
      const seen = countStatusRequests();
      const api = newClient();
      await api.getEntityStatus(checkout);
      const changedAt = Date.now() + 1;
      jest.spyOn(Date, 'now').mockReturnValue(changedAt);
      // Two listeners of the same change share the one request after it.
      const [card, tab] = await Promise.all([
        api.getEntityStatus(checkout, { notBefore: changedAt }),
        api.getEntityStatus(checkout, { notBefore: changedAt }),
      ]);
      expect(seen.count).toBe(2);
      expect(card.active?.weight).toBe(2);
      expect(tab).toBe(card);
      // An older change is satisfied by that answer.
      await api.getEntityStatus(checkout, { notBefore: changedAt - 5 });
      expect(seen.count).toBe(2);
    });

    it('forgets shared answers after a control or a start', async () => {
      const seen = countStatusRequests();
      server.use(
        http.post(`${baseUrl}/canary/rollouts/r-2/pause`, () =>
          HttpResponse.json(rollout({ phase: 'Paused' })),
        ),
        http.post(`${baseUrl}/canary/rollouts`, () =>
          HttpResponse.json(rollout({ phase: 'Pending' }), { status: 201 }),
        ),
      );
      const api = newClient();
      await api.getEntityStatus(checkout);
      await api.controlRollout('r-2', 'pause');
      expect((await api.getEntityStatus(checkout)).active?.weight).toBe(2);
      await api.startRollout({ entityRef: 'component:default/checkout' });
      expect((await api.getEntityStatus(checkout)).active?.weight).toBe(3);
      expect(seen.count).toBe(3);
    });

    it('does not share a failure with later calls', async () => {
      const seen = countStatusRequests(n =>
        n === 1
          ? new HttpResponse('Bad Gateway', { status: 502 })
          : HttpResponse.json(status()),
      );
      const api = newClient();
      const both = await Promise.allSettled([
        api.getEntityStatus(checkout),
        api.getEntityStatus(checkout),
      ]);
      expect(both.map(r => r.status)).toEqual(['rejected', 'rejected']);
      expect(seen.count).toBe(1);
      expect((await api.getEntityStatus(checkout)).active?.id).toBe('r-2');
      expect(seen.count).toBe(2);
    });
  });
});
