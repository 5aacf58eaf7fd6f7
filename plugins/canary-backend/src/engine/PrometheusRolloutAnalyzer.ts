import type { JsonObject } from '@backstage/types';
import type { MetricSeries } from '@coalmine/backstage-plugin-canary-common';
import {
  Analyzer,
  PrometheusQuerier,
  TemplateRegistry,
  createAnalyzer,
} from '../analysis';
import type { MetricsProvider } from '../analysis';
import type { PodHealthSnapshot } from '../kubernetes/types';
import type {
  AnalysisDecision,
  AnalysisRequest,
  RolloutAnalyzer,
} from '../domain/ports';

/**
 * Adapts src/analysis to the engine: one Analyzer per distinct analysis block
 * (policies and their per-component overrides), Prometheus per cluster.
 */
export class PrometheusRolloutAnalyzer implements RolloutAnalyzer {
  private readonly analyzers = new Map<string, Analyzer>();

  constructor(
    private readonly templates: TemplateRegistry,
    private readonly prometheusFor: (
      cluster: string,
    ) => PrometheusQuerier | undefined,
  ) {}

  private analyzer(config: Record<string, unknown>): Analyzer {
    const key = JSON.stringify(config);
    let analyzer = this.analyzers.get(key);
    if (!analyzer) {
      analyzer = createAnalyzer({
        analysis: config,
        templates: this.templates,
      });
      this.analyzers.set(key, analyzer);
    }
    return analyzer;
  }

  hasGates(config: Record<string, unknown>): boolean {
    return this.analyzer(config).gates.length > 0;
  }

  private context(
    request: AnalysisRequest & { podHealth?: PodHealthSnapshot },
  ) {
    const prometheus = this.prometheusFor(request.cluster);
    if (!prometheus) {
      throw new Error(
        `No Prometheus for cluster ${request.cluster}: set canary.clusters.${request.cluster}.prometheus or canary.prometheus`,
      );
    }
    const provider: MetricsProvider | undefined =
      request.topology?.target.provider === 'nginx' ? 'nginx' : undefined;
    return {
      namespace: request.namespace,
      service: request.service,
      route: request.topology?.routeObject?.name,
      stable: { name: request.stable.name, version: request.stable.version },
      canary: { name: request.canary.name, version: request.canary.version },
      provider,
      startedAt: new Date(request.startedAt),
      // Slices before the current weight applied do not count for it, and
      // the observed split is checked against the weight.
      stepStartedAt: new Date(request.stepStartedAt ?? request.startedAt),
      weight: request.weight,
      trafficProvider: request.topology?.target.provider,
      headerRoute: request.headerRoute,
      now: new Date(request.now),
      state: request.state as JsonObject | undefined,
      failedChecks: request.failedChecks ?? 0,
      podHealth: request.podHealth,
      listPods: request.listPods,
      prometheus,
    };
  }

  async evaluate(request: AnalysisRequest): Promise<AnalysisDecision> {
    const decision = await this.analyzer(request.analysis).evaluate(
      this.context(request),
    );
    return decision;
  }

  async series(
    request: AnalysisRequest & { from: number; to: number },
  ): Promise<MetricSeries[]> {
    return this.analyzer(request.analysis).series(
      this.context(request),
      new Date(request.from),
      new Date(request.to),
    );
  }
}
