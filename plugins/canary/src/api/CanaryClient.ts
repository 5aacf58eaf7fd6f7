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
import type { CanaryApi, ListRolloutsQuery } from './CanaryApi';

/**
 * {@link CanaryApi} over the backend's REST API, authenticated by the
 * app's fetchApi.
 * @public
 */
export class CanaryClient implements CanaryApi {
  private readonly discoveryApi: DiscoveryApi;
  private readonly fetchApi: FetchApi;

  constructor(options: { discoveryApi: DiscoveryApi; fetchApi: FetchApi }) {
    this.discoveryApi = options.discoveryApi;
    this.fetchApi = options.fetchApi;
  }

  async getEntityStatus(entityRef: {
    kind: string;
    namespace: string;
    name: string;
  }): Promise<EntityCanaryStatus> {
    const path = [entityRef.kind, entityRef.namespace, entityRef.name]
      .map(part => encodeURIComponent(part))
      .join('/');
    return this.request<EntityCanaryStatus>(`/entities/${path}`);
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
    return this.request<Rollout>('/rollouts', {
      method: 'POST',
      body: request,
    });
  }

  async controlRollout(
    id: string,
    control: ExternalRolloutControl,
    request: RolloutControlRequest = {},
  ): Promise<Rollout> {
    return this.request<Rollout>(
      `/rollouts/${encodeURIComponent(id)}/${encodeURIComponent(control)}`,
      { method: 'POST', body: request },
    );
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
