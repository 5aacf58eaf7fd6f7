import type { DiscoveryApi, FetchApi } from '@backstage/core-plugin-api';
import { ResponseError } from '@backstage/errors';
import type {
  AnalysisResult,
  EntityCanaryStatus,
  ExternalRolloutControl,
  MetricSeries,
  Rollout,
  RolloutControlRequest,
  RolloutDetails,
  RolloutEvent,
  RolloutHistoryPage,
  StartRolloutRequest,
} from '@coalmine/backstage-plugin-canary-common';
import type {
  CanaryApi,
  EntityStatusOptions,
  ListRolloutsQuery,
} from './CanaryApi';

/**
 * How long an answered status request is shared with later calls: the card
 * and the tab of one page load share one answer, and polls (every 2 s
 * while a rollout runs, by default) each ask anew.
 */
export const STATUS_SHARED_MS = 1000;

interface StatusCall {
  startedAt: number;
  answeredAt?: number;
  promise: Promise<EntityCanaryStatus>;
}

/**
 * {@link CanaryApi} over the backend's REST API, authenticated by the
 * app's fetchApi.
 * @public
 */
export class CanaryClient implements CanaryApi {
  private readonly discoveryApi: DiscoveryApi;
  private readonly fetchApi: FetchApi;
  /** The latest status request per entity, in flight or recently answered. */
  private readonly statusCalls = new Map<string, StatusCall>();

  constructor(options: { discoveryApi: DiscoveryApi; fetchApi: FetchApi }) {
    this.discoveryApi = options.discoveryApi;
    this.fetchApi = options.fetchApi;
  }

  /**
   * The overview card and the tab (and anything else on the page) ask for
   * the same entity's status: a call shares the request in flight, or one
   * answered less than {@link STATUS_SHARED_MS} ago, instead of sending
   * another. `notBefore` (after a change the caller knows of: a pushed
   * signal, a refresh) shares only a request started at or after it; a
   * control or a start sent through this client forgets every shared
   * answer.
   */
  async getEntityStatus(
    entityRef: {
      kind: string;
      namespace: string;
      name: string;
    },
    options: EntityStatusOptions = {},
  ): Promise<EntityCanaryStatus> {
    const path = [entityRef.kind, entityRef.namespace, entityRef.name]
      .map(part => encodeURIComponent(part))
      .join('/');
    const now = Date.now();
    const shared = this.statusCalls.get(path);
    if (
      shared &&
      shared.startedAt >= (options.notBefore ?? -Infinity) &&
      (shared.answeredAt === undefined ||
        now - shared.answeredAt < STATUS_SHARED_MS)
    ) {
      return shared.promise;
    }
    const call: StatusCall = {
      startedAt: now,
      promise: this.request<EntityCanaryStatus>(`/entities/${path}`),
    };
    this.statusCalls.set(path, call);
    call.promise.then(
      () => {
        call.answeredAt = Date.now();
      },
      () => {
        // A failure is not shared with later calls: they ask again.
        if (this.statusCalls.get(path) === call) this.statusCalls.delete(path);
      },
    );
    return call.promise;
  }

  async listRollouts(query: ListRolloutsQuery = {}): Promise<Rollout[]> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== '') {
        params.set(key, String(value));
      }
    }
    const search = params.toString();
    const body = await this.request<{ items: Rollout[] }>(
      `/rollouts${search ? `?${search}` : ''}`,
    );
    return body.items;
  }

  async getRollout(id: string): Promise<RolloutDetails> {
    return this.request<RolloutDetails>(`/rollouts/${encodeURIComponent(id)}`);
  }

  async getRolloutEvents(
    id: string,
    page: { before: string; limit?: number },
  ): Promise<RolloutHistoryPage<RolloutEvent>> {
    return this.request<RolloutHistoryPage<RolloutEvent>>(
      `/rollouts/${encodeURIComponent(id)}/events?${pageQuery(page)}`,
    );
  }

  async getRolloutAnalysis(
    id: string,
    page: { before: string; limit?: number },
  ): Promise<RolloutHistoryPage<AnalysisResult>> {
    return this.request<RolloutHistoryPage<AnalysisResult>>(
      `/rollouts/${encodeURIComponent(id)}/analysis?${pageQuery(page)}`,
    );
  }

  async getRolloutSeries(id: string): Promise<MetricSeries[]> {
    const body = await this.request<{ series: MetricSeries[] }>(
      `/rollouts/${encodeURIComponent(id)}/series`,
    );
    return body.series;
  }

  async startRollout(request: StartRolloutRequest): Promise<Rollout> {
    try {
      return await this.request<Rollout>('/rollouts', {
        method: 'POST',
        body: request,
      });
    } finally {
      this.statusCalls.clear();
    }
  }

  async controlRollout(
    id: string,
    control: ExternalRolloutControl,
    request: RolloutControlRequest = {},
  ): Promise<Rollout> {
    try {
      return await this.request<Rollout>(
        `/rollouts/${encodeURIComponent(id)}/${encodeURIComponent(control)}`,
        { method: 'POST', body: request },
      );
    } finally {
      // Whatever the answer, the rollout may have changed: no status
      // answered before now is shared any more.
      this.statusCalls.clear();
    }
  }

  private async request<T>(
    path: string,
    options: { method?: string; body?: unknown } = {},
  ): Promise<T> {
    const baseUrl = await this.discoveryApi.getBaseUrl('canary');
    const response = await this.fetchApi.fetch(`${baseUrl}${path}`, {
      method: options.method ?? 'GET',
      headers:
        options.body === undefined
          ? undefined
          : { 'Content-Type': 'application/json' },
      body:
        options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    if (!response.ok) {
      throw await ResponseError.fromResponse(response);
    }
    return (await response.json()) as T;
  }
}

function pageQuery(page: { before: string; limit?: number }): string {
  const params = new URLSearchParams({ before: page.before });
  if (page.limit !== undefined) params.set('limit', String(page.limit));
  return params.toString();
}
