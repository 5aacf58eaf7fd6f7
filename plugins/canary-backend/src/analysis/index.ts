/**
 * Metric analysis: Prometheus access, PromQL templates, judges and the
 * per-tick decision.
 *
 * Contract for the engine
 * -----------------------
 * At start-up (throws `AnalysisConfigError` whose `problems[].key` is the full
 * config key, e.g. `canary.policies.default.analysis.metrics[1].thresholdRange.min`):
 *
 *   const templates = readTemplates(config);          // canary.templates
 *   const analyzer = createAnalyzer({
 *     analysis: config.getOptional(`canary.policies.${name}.analysis`),
 *     templates,
 *     key: `canary.policies.${name}.analysis`,
 *   });
 *   const prometheus = PrometheusClient.fromConfig(clusterConfig.getConfig('prometheus'));
 *
 * At every loop tick (every `analyzer.config.interval`, e.g. 30s):
 *
 *   const decision = await analyzer.evaluate({
 *     namespace, service, route,
 *     stable: { name: stableDeployment, version },
 *     canary: { name: canaryDeployment, version },
 *     provider,                 // optional: 'istio' | 'http' | 'nginx' | 'linkerd'
 *     startedAt,                // rollout start; counters are read since then
 *     stepStartedAt,            // when the current weight applied (no slice spans it)
 *     weight,                   // configured canary weight, for the split check
 *     trafficProvider, headerRoute, // split check skipped for replicas / header routes
 *     state: previous?.state,   // what the previous tick returned (JSON)
 *     failedChecks: previous?.failedChecks ?? 0,
 *     podHealth,                // { pods: [{ name, ready, restarts, reasons }] },
 *                               // null if the pods could not be read, undefined to skip
 *     prometheus,
 *   });
 *
 * `decision.action` is `advance` (every check passed: the step may move on
 * when its pause is over), `hold` (stay at this weight and look again next
 * tick) or `rollback`. Store `decision.state` and `decision.failedChecks`
 * with the rollout and hand them back next tick; `decision.checks` and
 * `decision.reason` are what the UI shows. `evaluate` does not throw for
 * Prometheus trouble: that makes checks inconclusive, and the policy's
 * `inconclusive` rule decides (default hold). When the canary weight is
 * reset (a new rollout), start with `state: undefined` and a new `startedAt`.
 *
 * Config, with the seed's tiers (every key optional; no `metrics` gives the
 * default policy: sequential error and latency gates, see DEFAULT_METRIC_GATES):
 *
 *   canary:
 *     templates:                       # custom PromQL, {{ placeholders }} escaped
 *       database-errors:
 *         query: sum(rate(db_query_errors_total{namespace="{{ namespace }}",version="{{ version }}"}[{{ interval }}]))
 *         unit: 1/s
 *       conversion:
 *         query: >-
 *           sum(rate(checkout_completed_total{namespace="{{ namespace }}",version="{{ version }}"}[{{ interval }}]))
 *           / sum(rate(checkout_started_total{namespace="{{ namespace }}",version="{{ version }}"}[{{ interval }}])) * 100
 *         unit: '%'
 *     policies:
 *       default:
 *         analysis:
 *           interval: 10s              # tick; set to the scrape interval for fastest stops
 *           provider: istio            # istio | http | nginx | linkerd
 *           failureLimit: 3            # failed ticks → rollback (Flagger: threshold)
 *           failureMode: total         # or consecutive
 *           inconclusive: hold         # hold | count | { policy: fail, after: 5 }
 *           alpha: 0.01                # false-rollback bound of the sequential gates together
 *           podHealth: { maxRestarts: 1 }
 *           metrics:
 *             - { name: error-rate, judge: sequential }
 *             - { name: latency, judge: sequential, errors: slow-request-count,
 *                 requests: latency-request-count, variables: { le: auto } }
 *             - { name: request-error-rate, interval: 1m, thresholdRange: { max: 0.5 } }   # 5xx < 0.5 %
 *             - { name: request-duration, interval: 1m, relative: { maxRatio: 1.2, minRequests: 1000 } }
 *             - { name: pod-restarts, thresholdRange: { max: 0 } }
 *             - { name: database-errors, relative: { maxRatio: 1.5, maxIncrease: 0.1 } }
 *             - { name: conversion, interval: 10m, relative: { minRatio: 0.98 } }
 *
 * For charts: `analyzer.series(ctx, start, end)` → `MetricSeries[]` (throws
 * `PrometheusUnreachableError` when Prometheus is down).
 *
 * @packageDocumentation
 */

import { TemplateRegistry } from './builtinTemplates';
import { validateAnalysisConfig } from './config';
import { Analyzer } from './Analyzer';

export { Analyzer } from './Analyzer';
export { BatchedPrometheus } from './reading/BatchedPrometheus';
export type { BatchedPrometheusOptions } from './reading/BatchedPrometheus';
export type {
  AnalysisArm,
  AnalysisContext,
  AnalysisDecision,
  PrometheusQuerier,
} from './Analyzer';
export {
  analysisConfigSchema,
  metricGateSchema,
  templatesConfigSchema,
  validateAnalysisConfig,
  readTemplates,
  createTemplateRegistry,
  AnalysisConfigError,
  DEFAULT_METRIC_GATES,
  zodProblems,
} from './config';
export type { AnalysisConfig, MetricGateConfig } from './config';
export {
  PrometheusClient,
  PrometheusError,
  PrometheusUnreachableError,
  PrometheusQueryRejectedError,
  PrometheusNoDataError,
  PrometheusNativeHistogramError,
} from './PrometheusClient';
export type {
  PrometheusAuth,
  PrometheusClientOptions,
  PrometheusSample,
  PrometheusRangeSeries,
  PrometheusHistogramSeries,
  NativeHistogramSample,
} from './PrometheusClient';
export {
  TemplateRegistry,
  METRICS_PROVIDERS,
  builtinTemplateSpecs,
} from './builtinTemplates';
export type { MetricsProvider } from './builtinTemplates';
export { MetricTemplate, TemplateError, templateValues } from './templates';
export type {
  MetricTemplateSpec,
  TemplateValues,
  TemplateTarget,
} from './templates';
export {
  PromQLSyntaxError,
  assertValidPromQL,
  escapePromQLString,
} from './promql';
export { ThresholdRangeJudge } from './judges/ThresholdRangeJudge';
export { RelativeToStableJudge } from './judges/RelativeToStableJudge';
export { SequentialCountJudge } from './judges/SequentialCountJudge';
export type {
  ArmCounts,
  SequentialState,
  SequentialCountOptions,
} from './judges/SequentialCountJudge';
export { PodHealthJudge, DEFAULT_FATAL_REASONS } from './judges/PodHealthJudge';
export type { PodHealthSnapshot } from '../domain/podHealth';

/**
 * Validates a policy's `analysis:` block and builds its analyzer. Throws
 * `AnalysisConfigError` naming the key of every problem.
 *
 * @public
 */
export function createAnalyzer(options: {
  /** The raw `analysis:` block (undefined = all defaults). */
  analysis: unknown;
  /** Compiled templates; built-ins only when omitted. */
  templates?: TemplateRegistry;
  /** Config key of the block, for messages. */
  key?: string;
}): Analyzer {
  const templates = options.templates ?? new TemplateRegistry();
  const config = validateAnalysisConfig(options.analysis, {
    key: options.key ?? 'analysis',
    templates,
  });
  return new Analyzer(config, templates);
}
