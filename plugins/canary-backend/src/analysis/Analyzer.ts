import {
  AnalysisCheck,
  CheckBound,
  DecisionAction,
  MetricSeries,
} from '@coalmine/backstage-plugin-canary-common';
import { JsonObject } from '@backstage/types';
import { MetricsProvider, TemplateRegistry } from './builtinTemplates';
import {
  AnalysisConfig,
  DEFAULT_METRIC_GATES,
  gateJudge,
  MetricGateConfig,
} from './config';
import type { AnalysisDecision as EngineAnalysisDecision } from '../domain/ports';
import { podIdentities, PodHealthSnapshot } from '../domain/podHealth';
import { PodHealthJudge } from './judges/PodHealthJudge';
import { RelativeToStableJudge } from './judges/RelativeToStableJudge';
import { ArmCounts, SequentialCountJudge } from './judges/SequentialCountJudge';
import {
  restoreGateState,
  SequentialGateState,
  SequentialGateTick,
  sequentialGateTick,
} from './judges/SequentialGate';
import { trafficSplitCheck } from './judges/TrafficSplitCheck';
import { groupedWindows, StableWindow } from './judges/Dispersion';
import { readCounterTerms, vectorSelectors } from './reading/counterTerms';
import {
  chooseBound,
  classicHistogramBases,
  finiteBounds,
  missingBucketBound,
  sharedBounds,
  spellingOf,
  spellingsOf,
} from './reading/bucketBounds';
import { missingErrorLabels } from './reading/errorLabels';
import { chooseNativeBound, nativeCounters } from './reading/nativeHistograms';
import {
  ArmPods,
  COUNTER_NAMES,
  CounterReaderState,
  CounterName,
  RawCounter,
  readingWindowSeconds,
  MAX_STORE_LAG_SECONDS,
  seriesSource,
  recentReadings,
  storeLagOf,
  HISTORY_BEFORE_START_SECONDS,
} from './reading/CounterReader';
import {
  describeRange,
  ThresholdRangeJudge,
} from './judges/ThresholdRangeJudge';
import {
  PrometheusNativeHistogramError,
  PrometheusHistogramSeries,
  PrometheusNoDataError,
  PrometheusRangeSeries,
  PrometheusSample,
  PrometheusUnreachableError,
} from './PrometheusClient';
import { formatDuration, promQLDurationMs } from './promql';
import { MetricTemplate, templateValues, TemplateTarget } from './templates';

/** What the analyzer needs of Prometheus; {@link PrometheusClient} has it. @public */
export interface PrometheusQuerier {
  query(
    promql: string,
    options?: { time?: Date; signal?: AbortSignal },
  ): Promise<PrometheusSample[]>;
  queryValue(
    promql: string,
    options?: { time?: Date; signal?: AbortSignal },
  ): Promise<number>;
  queryRange(
    promql: string,
    start: Date,
    end: Date,
    stepSeconds: number,
    options?: { signal?: AbortSignal },
  ): Promise<PrometheusRangeSeries[]>;
  /**
   * Raw samples of a selector over the last `windowSeconds` before `time`.
   * With it, count gates read counters as stored (see
   * reading/CounterReader.ts); without it they fall back to `increase()`.
   */
  querySamples?(
    selector: string,
    windowSeconds: number,
    options?: { time?: Date; signal?: AbortSignal },
  ): Promise<PrometheusRangeSeries[]>;
  /**
   * Raw native histogram samples of a selector, as querySamples. With it,
   * the latency gates read a histogram Prometheus keeps as a native one.
   */
  queryHistogramSamples?(
    selector: string,
    windowSeconds: number,
    options?: { time?: Date; signal?: AbortSignal },
  ): Promise<PrometheusHistogramSeries[]>;
}

/** One side of the rollout as the analyzer sees it. @public */
export interface AnalysisArm {
  /** Deployment name. */
  name: string;
  version?: string;
  /** Service routing only to this arm (NGINX latency), when there is one. */
  service?: string;
}

/** Everything one analysis tick needs. @public */
export interface AnalysisContext {
  namespace: string;
  service: string;
  /** VirtualService / Ingress / HTTPRoute name. */
  route?: string;
  stable: AnalysisArm;
  canary: AnalysisArm;
  /** Overrides the policy's provider (e.g. derived from the traffic provider). */
  provider?: MetricsProvider;
  /** When the rollout (or the sequential test) started: counters are read since then. */
  startedAt: Date;
  /** When the current weight was applied; slices before it do not count for it. Defaults to `startedAt`. */
  stepStartedAt?: Date;
  /** The configured canary weight (0–100), for the traffic split check. */
  weight?: number;
  /** The traffic provider; `replicas` splits by pod count, so its share is not checked against the weight. */
  trafficProvider?: string;
  /** A sticky header route also sends requests to the canary, so its share is not checked against the weight either. */
  headerRoute?: boolean;
  /** Evaluation time; defaults to now. Given, it is also sent to Prometheus. */
  now?: Date;
  /** The `state` returned by the previous tick (undefined on the first). */
  state?: JsonObject;
  /** Failed ticks so far (as returned by the previous tick). */
  failedChecks: number;
  /** The canary's pods; undefined = not checked this tick, null = could not be read. */
  podHealth?: PodHealthSnapshot | null;
  /**
   * The names of an arm's pods Kubernetes lists now (not those being
   * deleted), and their IPs (see podIdentities). Asked only when a series
   * has gone quiet: a series whose pod is no longer listed is gone for
   * good, not in a scrape outage (see reading/CounterReader.ts, ArmPods).
   * The canary's come from `podHealth` when it is given.
   */
  listPods?(arm: 'canary' | 'stable'): Promise<string[]>;
  prometheus: PrometheusQuerier;
  signal?: AbortSignal;
}

/** The decision of one tick (the engine's, with the state as JSON: store it and pass it back as `state` next tick). @public */
export type AnalysisDecision = EngineAnalysisDecision & { state: JsonObject };

interface GateState {
  lastAt: number;
  check: AnalysisCheck;
  sequential?: SequentialGateState;
  /** The latency bound chosen for `le: auto`, kept for the whole rollout. */
  le?: string;
  /** How each version spells the latency bound `bound` where it is not written that way (`500.0` for `500`). */
  leSpelled?: LeSpelling;
  /** The latency histogram is read as a native histogram (`le` is then the latency to count above). */
  native?: boolean;
  /** The bucket boundary the native reading counts at (reading/nativeHistograms.ts, chooseNativeBound). */
  nativeBound?: number;
  /** Counts added up from fixed windows (count templates Prometheus computes itself): up to `at` (unix s). */
  counted?: { at: number; counts: ArmCounts };
  /** For those windows: how far the store's newest sample lagged the reading's time, at each reading of the last STORE_LAG_WINDOW_SECONDS ([unix s, s]). */
  storeLags?: Array<[number, number]>;
}

interface AnalyzerState {
  version: 1;
  gates: Record<string, GateState>;
  consecutiveFailures: number;
  consecutiveInconclusive: number;
}

const DEFAULT_WINDOW = '1m';
/**
 * A store lag a count template read as written says with its check: a
 * store whose newest sample stayed at least this old for five minutes is
 * behind (remote write), beyond any usual scrape interval.
 */
const REPORTED_STORE_LAG_SECONDS = 30;
const SERIES_POINTS = 120;

/** The bucket label each version exports for the bound `bound` (bucketBounds.ts, sameBound). */
type LeSpelling = { bound: string } & Partial<
  Record<'canary' | 'stable', string>
>;

/** The gate as one arm's queries are rendered: with its own spelling of the latency bound. */
function armGate(
  gate: MetricGateConfig,
  spelled: LeSpelling | undefined,
  arm: 'canary' | 'stable',
): MetricGateConfig {
  const le = gate.variables?.le;
  const own =
    le !== undefined && spelled?.bound === le ? spelled[arm] : undefined;
  return own === undefined
    ? gate
    : { ...gate, variables: { ...gate.variables, le: own } };
}

/** A bucket boundary as the evidence shows it: 256, 279.2. */
function shortBound(bound: number): string {
  return String(Number(bound.toPrecision(4)));
}

/** A histogram a gate reads through classic series that Prometheus keeps as a native one. */
type NativeFound = { metric: string; base: string };

/** What a gate that reads classic series of a native-only histogram says: what to change. */
function nativeHistogramAdvice({ metric, base }: NativeFound): string {
  return (
    `Prometheus stores ${metric} as a native histogram, without the ${metric}_bucket and ${metric}_count series this gate reads — ` +
    'have it keep the classic buckets as well (scrape config always_scrape_classic_histograms: true in Prometheus 3, ' +
    `scrape_classic_histograms: true from 2.45), or give the gate queries that read the native histogram itself (such as histogram_quantile(0.99, sum(rate(${base}[1m]))))`
  );
}

/** Why a query had no number, in words for the evidence. */
function noDataReason(error: unknown): string {
  if (error instanceof PrometheusNoDataError)
    return 'Prometheus returned no data';
  if (error instanceof PrometheusUnreachableError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

/** How long the analysis waits for an arm's pod list before reading without it. */
export const LIST_PODS_TIMEOUT_MS = 3000;

/**
 * The pods of each arm whose series the reader tracks but Prometheus has no
 * recent sample of (20 s: less than any series takes to go stale; behind a
 * store that lags, see storeLagOf, 20 s before what it has), from
 * Kubernetes; undefined for an arm whose series are all fresh, or when the
 * pods cannot be read (the reader then holds as it does without them).
 */
async function armPods(
  ctx: AnalysisContext,
  reader: CounterReaderState | undefined,
  raw: Record<CounterName, RawCounter>,
  nowSec: number,
): Promise<ArmPods | undefined> {
  if (!reader) return undefined;
  const out: ArmPods = {};
  // (Measured from the time the store is behind by, as staleness is.)
  const freshSince = nowSec - 20 - storeLagOf(reader);
  for (const arm of ['canary', 'stable'] as const) {
    const names = COUNTER_NAMES.filter(n => n.startsWith(arm));
    const fresh = new Set<string>();
    for (const name of names)
      for (const term of raw[name])
        for (const series of term.series)
          if (series.points.some(([t]) => t >= freshSince))
            fresh.add(seriesSource(series.labels));
    const quiet = names.some(name =>
      Object.values(reader.series[name]).some(s => !fresh.has(s.src)),
    );
    if (!quiet) continue;
    try {
      if (arm === 'canary' && ctx.podHealth)
        out.canary = podIdentities(ctx.podHealth);
      else if (ctx.listPods) {
        // An API server that hangs must not stall the analysis: past
        // LIST_PODS_TIMEOUT_MS the pods are unknown for this reading.
        let timer: ReturnType<typeof setTimeout> | undefined;
        const listed = await Promise.race([
          ctx.listPods(arm),
          new Promise<undefined>(resolve => {
            timer = setTimeout(() => resolve(undefined), LIST_PODS_TIMEOUT_MS);
          }),
        ]).finally(() => clearTimeout(timer));
        if (listed) out[arm] = listed;
      }
    } catch {
      // Unknown (refused, 500): the reader holds as it does without pods.
    }
  }
  return out.canary || out.stable ? out : undefined;
}

/**
 * Judges a canary at every loop tick and decides: advance, hold or roll back.
 *
 * @public
 */
export class Analyzer {
  readonly config: AnalysisConfig;
  readonly gates: MetricGateConfig[];
  readonly #templates: TemplateRegistry;
  readonly #podHealth?: PodHealthJudge;

  /** `config` must have passed {@link validateAnalysisConfig} with the same registry. */
  constructor(config: AnalysisConfig, templates: TemplateRegistry) {
    this.config = config;
    this.gates = config.metrics ?? DEFAULT_METRIC_GATES;
    this.#templates = templates;
    if (config.podHealth !== false) {
      this.#podHealth = new PodHealthJudge(config.podHealth);
    }
  }

  /** One tick: query, judge, decide. Never throws for Prometheus trouble (that is inconclusive). */
  async evaluate(ctx: AnalysisContext): Promise<AnalysisDecision> {
    const now = ctx.now ?? new Date();
    const state = this.#restore(ctx.state);
    const tickMs = promQLDurationMs(this.config.interval);
    const fresh: Array<{ check: AnalysisCheck; hardStop: boolean }> = [];
    const reused: AnalysisCheck[] = [];
    const dryRun: AnalysisCheck[] = [];
    const nextGates: Record<string, GateState> = {};

    await Promise.all(
      this.gates.map(async gate => {
        const previous = state.gates[gate.name];
        const judge = gateJudge(gate);
        const windowMs = promQLDurationMs(gate.interval ?? DEFAULT_WINDOW);
        const due =
          judge === 'sequential' ||
          !previous ||
          now.getTime() - previous.lastAt >= windowMs - tickMs / 2;
        if (!due) {
          nextGates[gate.name] = previous;
          (gate.dryRun ? dryRun : reused).push({
            ...previous.check,
            details: { ...previous.check.details, reused: true },
          });
          return;
        }
        const result = await this.#evaluateGate(gate, ctx, now, previous);
        nextGates[gate.name] = {
          lastAt: now.getTime(),
          check: result.check,
          sequential: result.sequential,
          le: result.le,
          ...(result.leSpelled ? { leSpelled: result.leSpelled } : {}),
          ...(result.native ? { native: true } : {}),
          ...(result.nativeBound !== undefined
            ? { nativeBound: result.nativeBound }
            : {}),
          ...(result.counted ? { counted: result.counted } : {}),
          ...(result.storeLags ? { storeLags: result.storeLags } : {}),
        };
        if (gate.dryRun) {
          // Recorded and shown, never acted on.
          dryRun.push({
            ...result.check,
            evidence: `[dry run] ${result.check.evidence}`,
            details: { ...result.check.details, dryRun: true },
          });
          return;
        }
        fresh.push({
          check: result.check,
          hardStop: gate.hardStop ?? judge === 'sequential',
        });
      }),
    );

    if (this.#podHealth && ctx.podHealth !== undefined) {
      fresh.push({
        check: this.#podHealth.judge(ctx.podHealth),
        hardStop: true,
      });
    }

    // Keep the policy's order in what the UI shows and in the reason.
    const order = new Map(this.gates.map((g, i) => [g.name, i]));
    const byOrder = (a: AnalysisCheck, b: AnalysisCheck) =>
      (order.get(a.metric) ?? 1e9) - (order.get(b.metric) ?? 1e9);
    fresh.sort((a, b) => byOrder(a.check, b.check));
    const split = this.#splitCheck(ctx, nextGates);
    const checks = [
      ...fresh.map(f => f.check),
      ...reused,
      ...dryRun,
      ...(split ? [split] : []),
    ].sort(byOrder);

    return this.#decide(ctx, state, nextGates, fresh, reused, checks, split);
  }

  /**
   * The observed canary share at this weight against the configured weight
   * (see judges/TrafficSplitCheck.ts), from the request counts of the first
   * sequential gate that is acted on.
   */
  #splitCheck(
    ctx: AnalysisContext,
    gates: Record<string, GateState>,
  ): AnalysisCheck | undefined {
    const options = this.config.trafficSplit;
    if (options === false || ctx.weight === undefined) return undefined;
    if (ctx.trafficProvider === 'replicas' || ctx.headerRoute) return undefined;
    const gate = this.gates.find(
      g => gateJudge(g) === 'sequential' && !g.dryRun,
    );
    const step = gate ? gates[gate.name]?.sequential?.step : undefined;
    if (!step) return undefined;
    return trafficSplitCheck({
      canaryRequests: step.canaryRequests,
      stableRequests: step.stableRequests,
      weight: ctx.weight,
      ...options,
    });
  }

  #decide(
    ctx: AnalysisContext,
    state: AnalyzerState,
    gates: Record<string, GateState>,
    fresh: Array<{ check: AnalysisCheck; hardStop: boolean }>,
    reused: AnalysisCheck[],
    checks: AnalysisCheck[],
    split?: AnalysisCheck,
  ): AnalysisDecision {
    const limit = this.config.failureLimit;
    const total = this.config.failureMode === 'total';
    const next: AnalyzerState = {
      version: 1,
      gates,
      consecutiveFailures: state.consecutiveFailures,
      consecutiveInconclusive: state.consecutiveInconclusive,
    };
    const done = (
      action: DecisionAction,
      reason: string,
      failedChecks: number,
    ): AnalysisDecision => ({
      action,
      reason,
      checks,
      failedChecks,
      state: next as unknown as JsonObject,
    });
    const say = (c: AnalysisCheck) => `${c.metric}: ${c.evidence}`;

    const hardStops = fresh.filter(
      f => f.hardStop && f.check.verdict === 'fail',
    );
    if (hardStops.length > 0) {
      next.consecutiveFailures = state.consecutiveFailures + 1;
      return done(
        'rollback',
        `hard stop — ${hardStops.map(f => say(f.check)).join('; ')}`,
        total ? ctx.failedChecks + 1 : next.consecutiveFailures,
      );
    }

    if (split?.verdict === 'fail') {
      // The data does not come from the split we set: trust none of it.
      return done(
        'hold',
        `traffic split mismatch — ${split.evidence}`,
        total ? ctx.failedChecks : state.consecutiveFailures,
      );
    }

    const failed = fresh
      .filter(f => f.check.verdict === 'fail')
      .map(f => f.check);
    const inconclusive = fresh
      .filter(f => f.check.verdict === 'inconclusive')
      .map(f => f.check);
    const policy =
      typeof this.config.inconclusive === 'string'
        ? { policy: this.config.inconclusive, after: undefined }
        : this.config.inconclusive;
    const countsAsFailure =
      failed.length > 0 ||
      (inconclusive.length > 0 && policy.policy === 'count');

    if (countsAsFailure) {
      next.consecutiveFailures = state.consecutiveFailures + 1;
      next.consecutiveInconclusive =
        failed.length > 0 ? 0 : state.consecutiveInconclusive + 1;
      const failedChecks = total
        ? ctx.failedChecks + 1
        : next.consecutiveFailures;
      const what = failed.length > 0 ? failed : inconclusive;
      const label =
        failed.length > 0 ? 'failed' : 'inconclusive (counted as failed)';
      if (failedChecks >= limit) {
        return done(
          'rollback',
          `${failedChecks} of ${limit} allowed failed ticks reached — ${what
            .map(say)
            .join('; ')}`,
          failedChecks,
        );
      }
      return done(
        'hold',
        `${label} (${failedChecks} of ${limit} failed ticks) — ${what
          .map(say)
          .join('; ')}`,
        failedChecks,
      );
    }

    next.consecutiveFailures = 0;
    const failedChecks = total ? ctx.failedChecks : 0;
    if (inconclusive.length > 0) {
      next.consecutiveInconclusive = state.consecutiveInconclusive + 1;
      const after = policy.after ?? 5;
      if (policy.policy === 'fail' && next.consecutiveInconclusive >= after) {
        return done(
          'rollback',
          `inconclusive for ${
            next.consecutiveInconclusive
          } ticks in a row — ${inconclusive.map(say).join('; ')}`,
          failedChecks,
        );
      }
      return done(
        'hold',
        `inconclusive — ${inconclusive.map(say).join('; ')}`,
        failedChecks,
      );
    }
    next.consecutiveInconclusive = 0;

    const staleFailures = reused.filter(c => c.verdict !== 'pass');
    if (staleFailures.length > 0) {
      return done(
        'hold',
        `waiting for the next evaluation of ${staleFailures
          .map(c => c.metric)
          .join(', ')}`,
        failedChecks,
      );
    }
    const sequential = fresh.filter(f => f.check.judge === 'sequential');
    if (
      this.config.earlyAdvance &&
      sequential.length > 0 &&
      sequential.every(f => f.check.details?.earlyAdvance === true)
    ) {
      const decision = done(
        'advance',
        `all ${
          checks.length
        } checks passed; early advance: at this weight the canary is no worse than ${
          1 + this.config.earlyAdvance.margin
        } × stable`,
        failedChecks,
      );
      return { ...decision, earlyAdvance: true };
    }
    return done('advance', `all ${checks.length} checks passed`, failedChecks);
  }

  #restore(raw: JsonObject | undefined): AnalyzerState {
    const s = raw as unknown as AnalyzerState | undefined;
    if (
      !s ||
      s.version !== 1 ||
      typeof s.gates !== 'object' ||
      s.gates === null
    ) {
      return {
        version: 1,
        gates: {},
        consecutiveFailures: 0,
        consecutiveInconclusive: 0,
      };
    }
    return s;
  }

  #provider(ctx: AnalysisContext): MetricsProvider {
    return (
      ctx.provider ??
      (this.config.provider as MetricsProvider | undefined) ??
      'istio'
    );
  }

  #target(ctx: AnalysisContext): TemplateTarget {
    return {
      namespace: ctx.namespace,
      service: ctx.service,
      route: ctx.route,
      canary: ctx.canary,
      stable: ctx.stable,
    };
  }

  #template(
    gate: MetricGateConfig,
    ctx: AnalysisContext,
    name?: string,
  ): MetricTemplate {
    if (gate.query && !name) {
      return new MetricTemplate(gate.name, {
        query: gate.query,
        unit: gate.unit,
      });
    }
    return this.#templates.get(
      name ?? gate.template ?? gate.name,
      this.#provider(ctx),
    );
  }

  #render(
    template: MetricTemplate,
    arm: 'canary' | 'stable',
    ctx: AnalysisContext,
    gate: MetricGateConfig,
    durations: { interval: string; elapsed?: string },
  ): string {
    return template.render(
      arm,
      templateValues(this.#target(ctx), arm, durations, gate.variables),
    );
  }

  async #value(
    ctx: AnalysisContext,
    query: string,
    now: Date,
  ): Promise<number> {
    return ctx.prometheus.queryValue(query, {
      time: ctx.now ? now : undefined,
      signal: ctx.signal,
    });
  }

  /** A count: no series yet means nothing counted yet. */
  async #count(
    ctx: AnalysisContext,
    query: string,
    now: Date,
  ): Promise<number> {
    try {
      return await this.#value(ctx, query, now);
    } catch (error) {
      if (error instanceof PrometheusNoDataError) return 0;
      throw error;
    }
  }

  async #evaluateGate(
    gate: MetricGateConfig,
    ctx: AnalysisContext,
    now: Date,
    previous: GateState | undefined,
  ): Promise<{
    check: AnalysisCheck;
    sequential?: SequentialGateState;
    le?: string;
    leSpelled?: LeSpelling;
    native?: boolean;
    nativeBound?: number;
    counted?: GateState['counted'];
    storeLags?: GateState['storeLags'];
  }> {
    const judge = gateJudge(gate);
    if (judge === 'sequential') {
      return this.#evaluateSequential(gate, ctx, now, previous);
    }
    const nativeGate = this.#nativeDurationGate(gate, ctx);
    if (previous?.native && nativeGate) {
      const result = await this.#evaluateGate(nativeGate, ctx, now, undefined);
      return { ...result, native: true };
    }
    const template = this.#template(gate, ctx);
    const unit = gate.unit ?? template.unit;
    const interval = gate.interval ?? DEFAULT_WINDOW;
    const canaryQuery = this.#render(template, 'canary', ctx, gate, {
      interval,
    });
    const stableQuery = this.#render(template, 'stable', ctx, gate, {
      interval,
    });
    const query = `canary: ${canaryQuery}\nstable: ${stableQuery}`;
    const [canary, stable] = await Promise.allSettled([
      this.#value(ctx, canaryQuery, now),
      this.#value(ctx, stableQuery, now),
    ]);
    const canaryValue = canary.status === 'fulfilled' ? canary.value : null;
    const stableValue = stable.status === 'fulfilled' ? stable.value : null;
    const rejected = [canary, stable].filter(
      (r): r is PromiseRejectedResult => r.status === 'rejected',
    );
    const native = rejected.some(r => r.reason instanceof PrometheusNoDataError)
      ? await this.#nativeHistogramReason([canaryQuery, stableQuery], ctx, now)
      : undefined;
    if (native && nativeGate) {
      // The built-in p99 on a native histogram: read it so from now on.
      const result = await this.#evaluateGate(nativeGate, ctx, now, undefined);
      return { ...result, native: true };
    }
    const reasonOf = (error: unknown) =>
      native && error instanceof PrometheusNoDataError
        ? native
        : noDataReason(error);
    const reasons = rejected.map(r => reasonOf(r.reason));
    const reason = reasons.length
      ? [...new Set(reasons)].join('; ')
      : undefined;

    if (judge === 'threshold') {
      const check = new ThresholdRangeJudge(gate.thresholdRange!).judge({
        metric: gate.name,
        query,
        unit,
        canaryValue,
        stableValue,
        noDataReason:
          canary.status === 'rejected' ? reasonOf(canary.reason) : undefined,
      });
      return { check };
    }

    const relative = new RelativeToStableJudge(gate.relative!);
    let canaryRequests: number | null | undefined;
    let stableRequests: number | null | undefined;
    if (
      (gate.relative!.minRequests ?? 0) > 0 &&
      canaryValue !== null &&
      stableValue !== null
    ) {
      const counter = this.#templates.get('request-count', this.#provider(ctx));
      const counts = await Promise.allSettled(
        (['canary', 'stable'] as const).map(arm =>
          this.#count(
            ctx,
            this.#render(counter, arm, ctx, gate, {
              interval,
              elapsed: interval,
            }),
            now,
          ),
        ),
      );
      canaryRequests =
        counts[0].status === 'fulfilled' ? counts[0].value : null;
      stableRequests =
        counts[1].status === 'fulfilled' ? counts[1].value : null;
    }
    const check = relative.judge({
      metric: gate.name,
      query,
      unit,
      canaryValue,
      stableValue,
      canaryRequests,
      stableRequests,
      noDataReason: reason,
    });
    if (gate.thresholdRange && check.verdict === 'pass') {
      // Both bounds given: the absolute one must hold as well.
      const absolute = new ThresholdRangeJudge(gate.thresholdRange).judge({
        metric: gate.name,
        query,
        unit,
        canaryValue,
        stableValue,
      });
      if (absolute.verdict !== 'pass')
        return { check: { ...absolute, judge: 'relative' } };
    }
    return { check };
  }

  /**
   * The policy's α bounds the chance that any sequential gate rolls back a
   * healthy canary: gates without their own α share it evenly (a union
   * bound), so two default gates test at α/2 each.
   */
  #sequentialJudge(gate: MetricGateConfig): SequentialCountJudge {
    const sequential = this.gates.filter(g => gateJudge(g) === 'sequential');
    const ownAlpha = sequential.reduce((sum, g) => sum + (g.alpha ?? 0), 0);
    const shared = sequential.filter(g => g.alpha === undefined).length;
    const alpha =
      gate.alpha ??
      Math.max(1e-6, this.config.alpha - ownAlpha) / Math.max(1, shared);
    return new SequentialCountJudge({
      alpha,
      tolerance: gate.tolerance ?? this.config.tolerance,
      minCanaryRequests: gate.minRequests,
    });
  }

  async #evaluateSequential(
    gate: MetricGateConfig,
    ctx: AnalysisContext,
    now: Date,
    previous: GateState | undefined,
  ): Promise<{
    check: AnalysisCheck;
    sequential: SequentialGateState;
    le?: string;
    leSpelled?: LeSpelling;
    native?: boolean;
    nativeBound?: number;
    counted?: GateState['counted'];
    storeLags?: GateState['storeLags'];
  }> {
    const judge = this.#sequentialJudge(gate);
    let state = restoreGateState(previous?.sequential, judge);
    const builtinLatency = this.#readsBuiltinLatency(gate, ctx);
    let native = builtinLatency && previous?.native === true;
    const nowSec = now.getTime() / 1000;
    const startSec = ctx.startedAt.getTime() / 1000;
    const tickBase = {
      nowSec,
      startSec,
      stepStartSec: (ctx.stepStartedAt ?? ctx.startedAt).getTime() / 1000,
      weight: ctx.weight,
    };
    const minStepRequests = gate.minStepRequests ?? this.config.minStepRequests;
    let le: string | undefined;
    let chosenSpelling: LeSpelling | undefined;
    let gateWithLe = gate;
    if (gate.variables?.le === 'auto') {
      le = previous?.le;
      let why: string | undefined;
      if (!le) {
        try {
          const chosen = await this.#autoLe(gate, ctx, now);
          le = chosen?.le;
          chosenSpelling = chosen?.spelled;
          native = chosen?.native === true;
        } catch (error) {
          why = noDataReason(error);
        }
      }
      if (!le) {
        const waiting = sequentialGateTick(
          judge,
          state,
          {
            ...tickBase,
            counts: null,
            noDataReason:
              why ?? 'no stable latency histogram yet to choose a bound from',
          },
          { metric: gate.name, what: 'slow-request rate', minStepRequests },
        );
        return { check: waiting.check, sequential: waiting.state };
      }
      gateWithLe = { ...gate, variables: { ...gate.variables, le } };
    }
    const bound = gateWithLe.variables?.le;
    const spelled =
      bound !== undefined && previous?.leSpelled?.bound === bound
        ? previous.leSpelled
        : chosenSpelling;
    const errors = this.#template(
      gateWithLe,
      ctx,
      gate.errors ?? 'error-count',
    );
    const requests = this.#template(
      gate,
      ctx,
      gate.requests ?? 'request-count',
    );
    // Counts Prometheus computes itself (the fallback below) are read over
    // fixed windows that tile time — (the last reading, this one] — and
    // added up here, so no window grows with the rollout's age and one
    // window's extrapolation is not carried into every later reading. A
    // window is at least the gate's interval (1m by default: two samples of
    // every series at scrapes of up to 30 s).
    const counted = previous?.counted;
    const windowFromSec = counted?.at ?? startSec;
    const minWindowSec =
      promQLDurationMs(gate.interval ?? DEFAULT_WINDOW) / 1000;
    // A gate reading a native histogram reads none of the classic series:
    // their queries are not rendered (nor parsed) at every tick.
    const render = (windowSec: number): Record<CounterName, string> => {
      if (native)
        return {
          canaryErrors: '',
          canaryRequests: '',
          stableErrors: '',
          stableRequests: '',
        };
      const durations = {
        interval: gate.interval ?? DEFAULT_WINDOW,
        elapsed: formatDuration(Math.max(1, windowSec) * 1000),
      };
      return {
        canaryErrors: this.#render(
          errors,
          'canary',
          ctx,
          armGate(gateWithLe, spelled, 'canary'),
          durations,
        ),
        canaryRequests: this.#render(
          requests,
          'canary',
          ctx,
          gateWithLe,
          durations,
        ),
        stableErrors: this.#render(
          errors,
          'stable',
          ctx,
          armGate(gateWithLe, spelled, 'stable'),
          durations,
        ),
        stableRequests: this.#render(
          requests,
          'stable',
          ctx,
          gateWithLe,
          durations,
        ),
      };
    };
    let queries = render(Math.floor(nowSec - windowFromSec));
    const reads = native
      ? []
      : COUNTER_NAMES.map(name => readCounterTerms(queries[name]));
    const terms = reads.map(read => ('terms' in read ? read.terms : undefined));
    const raw =
      !native &&
      ctx.prometheus.querySamples &&
      terms.every(t => t !== undefined);
    // Why the counts are read as written (shown with the check).
    const asWrittenBecause = native
      ? undefined
      : reads.flatMap(read => ('why' in read ? [read.why] : []))[0] ??
        (raw ? undefined : 'this Prometheus client cannot read raw samples');
    // Behind a store that shows samples late (remote write), a window
    // ending at the reading's time would lack its last seconds for good:
    // the next window starts there. So a window ends at the newest sample
    // the store has of the template's series (of each arm's, the earlier
    // arm's; at most MAX_STORE_LAG_SECONDS back, and never before what was
    // judged already), and the next one goes on from there; the counts
    // are as of that time at every tick. Asked only when a window may be
    // due (none is before a minimum window has passed since the last one
    // ended).
    let windowEndSec = nowSec;
    let storeLags = previous?.storeLags;
    if (!native && !raw && nowSec - windowFromSec >= minWindowSec) {
      const newest = await this.#newestSample(queries, ctx, now);
      if (newest !== undefined) {
        const lag = Math.max(0, nowSec - newest);
        storeLags = recentReadings(storeLags, nowSec, [nowSec, lag]);
        if (lag > 0 && lag <= MAX_STORE_LAG_SECONDS) {
          windowEndSec = Math.max(
            nowSec - lag,
            state.lastAt ?? -Infinity,
            windowFromSec,
          );
          queries = render(Math.floor(windowEndSec - windowFromSec));
        }
      }
    }
    const windowSec = Math.floor(windowEndSec - windowFromSec);
    // Said with the check when the store stays this far behind.
    const floorLag = storeLags
      ? Math.min(...storeLags.map(([, lag]) => lag))
      : 0;
    const storeLag =
      floorLag >= REPORTED_STORE_LAG_SECONDS &&
      floorLag <= MAX_STORE_LAG_SECONDS
        ? floorLag
        : undefined;
    let tick: SequentialGateTick;
    let query: string;
    let nextCounted = counted;
    // A latency gate finding a native histogram where it read classic
    // series: read it as one from now on (the test starts over).
    let turnNative = false;
    if (native) {
      // Read below, as a native histogram.
      query = '';
      tick = { ...tickBase, counts: null };
    } else if (raw) {
      // Counters as Prometheus stored them (reading/CounterReader.ts).
      const window = readingWindowSeconds(state.reader, nowSec, startSec);
      query = COUNTER_NAMES.map(
        (name, i) =>
          `${name}: ${terms[i]!.map(
            t =>
              `${t.sign < 0 ? '- ' : ''}${t.selector}[${Math.ceil(window)}s]`,
          ).join(' ')}`,
      ).join('\n');
      try {
        const read = await Promise.all(
          COUNTER_NAMES.map(
            async (_name, i): Promise<RawCounter> =>
              Promise.all(
                terms[i]!.map(async t => ({
                  sign: t.sign,
                  series: await ctx.prometheus.querySamples!(
                    t.selector,
                    window,
                    {
                      time: ctx.now ? now : undefined,
                      signal: ctx.signal,
                    },
                  ),
                })),
              ),
          ),
        );
        const gap = COUNTER_NAMES.map((name, i) => ({
          arm: name.startsWith('canary')
            ? ('canary' as const)
            : ('stable' as const),
          missing: missingBucketBound(
            read[i],
            terms[i]!.map(t => t.selector),
          ),
        })).find(g => g.missing);
        if (gap?.missing) {
          return this.#bucketMismatch(gate, ctx, now, judge, state, tickBase, {
            arm: gap.arm,
            ...gap.missing,
            bound: bound!,
            spelled,
            minStepRequests,
          });
        }
        const rawRead = Object.fromEntries(
          COUNTER_NAMES.map((name, i) => [name, read[i]]),
        ) as Record<CounterName, RawCounter>;
        const empty = read.every(counter =>
          counter.every(term => term.series.length === 0),
        );
        const found = empty
          ? await this.#nativeHistogramIn(Object.values(queries), ctx, now)
          : undefined;
        // The built-in templates have native forms; a custom one is told
        // what to change.
        turnNative =
          found !== undefined &&
          builtinLatency &&
          ctx.prometheus.queryHistogramSamples !== undefined;
        const nativeReason =
          found && !turnNative ? nativeHistogramAdvice(found) : undefined;
        const unlabelled = (['canary', 'stable'] as const)
          .map(arm => ({
            arm,
            missing: missingErrorLabels(
              {
                selectors: terms[COUNTER_NAMES.indexOf(`${arm}Errors`)]!.map(
                  t => t.selector,
                ),
              },
              {
                selectors: terms[COUNTER_NAMES.indexOf(`${arm}Requests`)]!.map(
                  t => t.selector,
                ),
                raw: rawRead[`${arm}Requests`],
              },
            ),
          }))
          .find(x => x.missing);
        if (turnNative) {
          // Read below, as a native histogram.
          tick = { ...tickBase, counts: null };
        } else if (nativeReason) {
          tick = { ...tickBase, counts: null, noDataReason: nativeReason };
        } else if (unlabelled?.missing) {
          // Its errors cannot be counted: reading them as none would pass
          // a failing canary.
          const { arm, missing } = unlabelled;
          tick = {
            ...tickBase,
            counts: null,
            noDataReason: `the ${arm}'s ${
              missing.metric
            } series carry no ${missing.labels
              .map(l => `"${l}"`)
              .join(', ')} label, so its errors (${missing.matchers.join(
              ', ',
            )}) cannot be counted — the ${arm} version exports its requests with other labels; give them the label, or set the gate's errors template to match them`,
          };
        } else {
          const pods = await armPods(ctx, state.reader, rawRead, nowSec);
          tick = { ...tickBase, raw: rawRead, ...(pods ? { pods } : {}) };
        }
      } catch (error) {
        tick = { ...tickBase, counts: null, noDataReason: noDataReason(error) };
      }
    } else if (windowSec < minWindowSec) {
      // The window is not long enough yet: nothing new to judge.
      query = Object.entries(queries)
        .map(([k, q]) => `${k}: ${q}`)
        .join('\n');
      // Between windows the counts stand at the last window's end: that is
      // their time (passed as the reading's, a window straddling a weight
      // change would look as if it began after the change, and be judged).
      tick = counted
        ? {
            ...tickBase,
            nowSec: counted.at,
            counts: counted.counts,
            ...(storeLag ? { storeLag } : {}),
          }
        : {
            ...tickBase,
            counts: null,
            noDataReason: `the first ${
              gate.interval ?? DEFAULT_WINDOW
            } window since the start has not passed yet`,
          };
    } else {
      // A custom count template that is not a sum of increase() of
      // counters (or a Prometheus without raw-sample reads): read as
      // written, over the window since the last reading, at its end.
      query = Object.entries(queries)
        .map(([k, q]) => `${k}: ${q}`)
        .join('\n');
      const windowEnd = new Date((windowFromSec + windowSec) * 1000);
      const seen = counted?.counts;
      try {
        const values = await Promise.all(
          COUNTER_NAMES.map(async name => {
            try {
              return await ctx.prometheus.queryValue(queries[name], {
                time: windowEnd,
                signal: ctx.signal,
              });
            } catch (error) {
              if (!(error instanceof PrometheusNoDataError)) throw error;
              // No series: nothing counted in the window — unless the arm
              // had requests before, then its data is missing, not zero
              // (the window then grows until the data is back).
              const hadRequests = name.startsWith('canary')
                ? (seen?.canaryRequests ?? 0) > 0
                : (seen?.stableRequests ?? 0) > 0;
              if (hadRequests && name.endsWith('Requests')) throw error;
              return 0;
            }
          }),
        );
        const base = seen ?? {
          canaryErrors: 0,
          canaryRequests: 0,
          stableErrors: 0,
          stableRequests: 0,
        };
        const counts: ArmCounts = {
          canaryErrors: base.canaryErrors + Math.max(0, values[0]),
          canaryRequests: base.canaryRequests + Math.max(0, values[1]),
          stableErrors: base.stableErrors + Math.max(0, values[2]),
          stableRequests: base.stableRequests + Math.max(0, values[3]),
        };
        nextCounted = { at: windowFromSec + windowSec, counts };
        // The stable arm's window, and before the first its history, give
        // the clump index (see groupedWindows): each window's increase() is
        // extrapolated from the samples inside it, so at 30 s scrapes and
        // 1m windows every request seen counts about twice and the others
        // not at all — clumps of two the test must know of, as it must of
        // real ones.
        const history = seen
          ? { windows: [] }
          : await this.#stableWindowHistory(
              render(minWindowSec),
              minWindowSec,
              startSec,
              ctx,
            );
        const stableIncrements = groupedWindows(
          [
            ...history.windows,
            {
              end: nextCounted.at,
              errors: Math.max(0, values[2]),
              requests: Math.max(0, values[3]),
            },
          ],
          minWindowSec,
        );
        tick = {
          ...tickBase,
          nowSec: nextCounted.at,
          counts,
          stableIncrements,
          ...(history.problem ? { stableHistoryProblem: history.problem } : {}),
          ...(storeLag ? { storeLag } : {}),
        };
      } catch (error) {
        tick = {
          ...tickBase,
          counts: null,
          noDataReason:
            error instanceof PrometheusNoDataError
              ? 'Prometheus returned no data after earlier data (series gone?)'
              : noDataReason(error),
        };
      }
    }
    let what: string | undefined;
    let nativeAt: number | undefined;
    if (turnNative) {
      native = true;
      state = restoreGateState(undefined, judge);
    }
    if (native) {
      // The latency to count above: the stable's p99 (`le: auto`) or the
      // policy's `le`; counted at a bucket boundary of both versions.
      const target = Number(bound);
      if (!(Number.isFinite(target) && target > 0)) {
        query = '';
        tick = {
          ...tickBase,
          counts: null,
          noDataReason: `the latency bound ${bound} is not a number above 0 — set variables.le to one, or to auto`,
        };
      } else {
        const read = await this.#nativeLatencyTick(
          gate,
          ctx,
          now,
          target,
          turnNative ? undefined : previous?.nativeBound,
          state,
          tickBase,
        );
        if (read.restart) state = restoreGateState(undefined, judge);
        ({ tick, query } = read);
        nativeAt = read.bound;
        const unit = this.#template(gate, ctx, 'latency-p99-raw').unit;
        const at = nativeAt ?? target;
        what = `share of requests slower than ${shortBound(at)} ${unit}${
          gate.variables?.le !== 'auto' && at !== target
            ? ` (the native histogram's bucket boundary at or above ${bound})`
            : ''
        }`;
      }
    }
    const isLatency = (gate.errors ?? '').includes('slow');
    const latencyUnit = isLatency
      ? this.#template(gateWithLe, ctx, 'latency-p99-raw').unit
      : undefined;
    const early = this.config.earlyAdvance;
    const result = sequentialGateTick(judge, state, tick, {
      earlyAdvance: early
        ? { margin: early.margin, alpha: early.alpha ?? this.config.alpha }
        : undefined,
      metric: gate.name,
      query,
      what:
        what ??
        (isLatency
          ? `share of requests slower than ${gateWithLe.variables?.le} ${latencyUnit}`
          : 'error rate'),
      minStepRequests,
    });
    return {
      check:
        asWrittenBecause && !native
          ? {
              ...result.check,
              details: {
                ...result.check.details,
                readAsWritten: asWrittenBecause,
              },
            }
          : result.check,
      sequential: result.state,
      le,
      ...(spelled && !native ? { leSpelled: spelled } : {}),
      ...(native ? { native: true } : {}),
      ...(nativeAt !== undefined ? { nativeBound: nativeAt } : {}),
      counted: nextCounted,
      ...(storeLags ? { storeLags } : {}),
    };
  }

  /**
   * The stable arm's count templates, read as written over windows of the
   * gate's interval for up to three hours before the start (one range
   * query each): the history the clump index starts from, as the raw
   * reader's. None when Prometheus cannot give it, and then why.
   */
  async #stableWindowHistory(
    queries: Record<CounterName, string>,
    windowSec: number,
    startSec: number,
    ctx: AnalysisContext,
  ): Promise<{ windows: StableWindow[]; problem?: string }> {
    const step = Math.max(1, Math.round(windowSec));
    const end = Math.floor(startSec / step) * step;
    const from = end - Math.floor(HISTORY_BEFORE_START_SECONDS / step) * step;
    if (end - from < step) return { windows: [] };
    const read = async (promql: string) => {
      const byTime = new Map<number, number>();
      const series = await ctx.prometheus.queryRange(
        promql,
        new Date((from + step) * 1000),
        new Date(end * 1000),
        step,
        { signal: ctx.signal },
      );
      for (const s of series)
        for (const [t, v] of s.points)
          if (Number.isFinite(v))
            byTime.set(t, (byTime.get(t) ?? 0) + Math.max(0, v));
      return byTime;
    };
    try {
      const [errors, requests] = await Promise.all([
        read(queries.stableErrors),
        read(queries.stableRequests),
      ]);
      return {
        windows: [...requests].map(([at, n]) => ({
          end: at,
          errors: errors.get(at) ?? 0,
          requests: n,
        })),
      };
    } catch (error) {
      if (ctx.signal?.aborted) throw error;
      return { windows: [], problem: noDataReason(error) };
    }
  }

  /**
   * Where a window read as written can end behind a store that lags (unix
   * s): the newest sample the store has of each arm's series, the earlier of
   * the two arms, so that neither arm's last samples fall after the window's
   * end (where the next window, starting there, could not count them
   * either). An arm's series come from the same scrapes; the arms may not
   * (a canary behind the stable's remote-write queue: at 30 s scrapes and
   * windows ending at the stable's newest sample, a canary 10–25 s behind
   * could have one sample in each window and none of its requests counted
   * — 2 of 200 healthy rollouts never promoted in `./dev bench analysis
   * --as-written`, none since). Undefined when it cannot tell for either
   * arm (no selector, no series, an error: the queries themselves then say
   * what is wrong).
   */
  async #newestSample(
    queries: Record<CounterName, string>,
    ctx: AnalysisContext,
    now: Date,
  ): Promise<number | undefined> {
    const arms = await Promise.all(
      (['canary', 'stable'] as const).map(async arm => {
        const selectors = [
          ...new Set(
            COUNTER_NAMES.filter(name => name.startsWith(arm)).flatMap(name =>
              vectorSelectors(queries[name]),
            ),
          ),
        ];
        if (selectors.length === 0) return undefined;
        try {
          const newest = await ctx.prometheus.queryValue(
            `max(${selectors.map(x => `timestamp(${x})`).join(' or ')})`,
            { time: ctx.now ? now : undefined, signal: ctx.signal },
          );
          return Number.isFinite(newest) ? newest : undefined;
        } catch {
          return undefined;
        }
      }),
    );
    const known = arms.filter((t): t is number => t !== undefined);
    return known.length ? Math.min(...known) : undefined;
  }

  /** Whether a sequential gate counts latency with the provider's built-in histogram templates (which have native forms). */
  #readsBuiltinLatency(gate: MetricGateConfig, ctx: AnalysisContext): boolean {
    const provider = this.#provider(ctx);
    const name = (template: string) =>
      this.#templates.find(template, provider)?.name;
    return (
      !gate.query &&
      gate.errors !== undefined &&
      gate.requests !== undefined &&
      name(gate.errors) === `${provider}/slow-request-count` &&
      name(gate.requests) === `${provider}/latency-request-count`
    );
  }

  /** The built-in p99 gate as it reads a native histogram; undefined for any other gate. */
  #nativeDurationGate(
    gate: MetricGateConfig,
    ctx: AnalysisContext,
  ): MetricGateConfig | undefined {
    const provider = this.#provider(ctx);
    if (gate.query) return undefined;
    const name = this.#templates.find(
      gate.template ?? gate.name,
      provider,
    )?.name;
    return name === `${provider}/request-duration`
      ? { ...gate, template: `${provider}/request-duration-native` }
      : undefined;
  }

  /**
   * One reading of a latency gate on a native histogram: each arm's raw
   * histogram samples, turned into the requests and the requests slower
   * than the bound per series (reading/nativeHistograms.ts), read by the
   * count test as it reads `_count` and `_count − _bucket{le}`. The bound
   * is chosen at the first reading with a stable histogram (the smallest
   * boundary at or above `target` inside no bucket of either version), and
   * again when a version shows a bucket across it (a canary with another
   * resolution): the test then starts over (`restart`), as with classic
   * buckets.
   */
  async #nativeLatencyTick(
    gate: MetricGateConfig,
    ctx: AnalysisContext,
    now: Date,
    target: number,
    chosen: number | undefined,
    state: SequentialGateState,
    tickBase: Omit<SequentialGateTick, 'counts' | 'raw' | 'noDataReason'>,
  ): Promise<{
    tick: SequentialGateTick;
    query: string;
    bound?: number;
    restart?: boolean;
  }> {
    const histogram = this.#template(gate, ctx, 'latency-histogram');
    const nowSec = now.getTime() / 1000;
    const window = readingWindowSeconds(
      state.reader,
      nowSec,
      tickBase.startSec,
    );
    const selectors = {
      canary: this.#render(histogram, 'canary', ctx, gate, {
        interval: DEFAULT_WINDOW,
      }),
      stable: this.#render(histogram, 'stable', ctx, gate, {
        interval: DEFAULT_WINDOW,
      }),
    };
    const queryAt = (bound: number | undefined) =>
      (['canary', 'stable'] as const)
        .map(
          arm =>
            `${arm}: ${selectors[arm]}[${Math.ceil(
              window,
            )}s] (native histogram: its count, and its buckets above ${
              bound ?? `a boundary at or above ${target}`
            })`,
        )
        .join('\n');
    const waiting = (reason: string, bound = chosen) => ({
      query: queryAt(bound),
      tick: { ...tickBase, counts: null, noDataReason: reason },
      ...(bound !== undefined ? { bound } : {}),
    });
    const read = ctx.prometheus.queryHistogramSamples;
    if (!read)
      return waiting('this Prometheus client cannot read native histograms');
    let series: Record<'canary' | 'stable', PrometheusHistogramSeries[]>;
    try {
      const [canary, stable] = await Promise.all(
        (['canary', 'stable'] as const).map(arm =>
          read.call(ctx.prometheus, selectors[arm], window, {
            time: ctx.now ? now : undefined,
            signal: ctx.signal,
          }),
        ),
      );
      series = { canary, stable };
    } catch (error) {
      return waiting(noDataReason(error));
    }
    const both = [...series.stable, ...series.canary];
    let bound = chosen;
    if (bound === undefined) {
      if (series.stable.length === 0)
        return waiting('no stable native latency histogram yet');
      bound = chooseNativeBound(target, both);
      if (bound === undefined)
        return waiting(
          `no bucket boundary at or above ${target} falls inside no bucket of the native latency histograms — set variables.le to a bound both versions' buckets share`,
        );
    }
    const counted = {
      canary: nativeCounters(series.canary, bound),
      stable: nativeCounters(series.stable, bound),
    };
    const arm = counted.canary.split ? 'canary' : 'stable';
    const split = counted[arm].split;
    if (split) {
      const across = `the ${arm}'s native latency histogram has a bucket (${
        split.lower
      }, ${split.upper}] across the bound ${shortBound(bound)} (${seriesSource(
        split.labels,
      )})`;
      const again = chooseNativeBound(target, both);
      if (again === undefined || again === bound)
        return waiting(
          `${across}, so its slower requests cannot be counted, and no boundary at or above ${target} is one of both versions — set variables.le to a bound both versions' buckets share`,
        );
      return {
        ...waiting(
          `${across} — counting above ${shortBound(
            again,
          )} from now on, a boundary of both versions (the test starts over)`,
          again,
        ),
        restart: true,
      };
    }
    const rawRead: Record<CounterName, RawCounter> = {
      canaryErrors: [{ sign: 1, series: counted.canary.slow }],
      canaryRequests: [{ sign: 1, series: counted.canary.requests }],
      stableErrors: [{ sign: 1, series: counted.stable.slow }],
      stableRequests: [{ sign: 1, series: counted.stable.requests }],
    };
    const pods = await armPods(ctx, state.reader, rawRead, nowSec);
    return {
      query: queryAt(bound),
      tick: { ...tickBase, raw: rawRead, ...(pods ? { pods } : {}) },
      bound,
    };
  }

  /**
   * Why queries that read a classic histogram (`x_bucket`, `x_count`,
   * `x_sum`) found nothing, when the reason is that Prometheus keeps the
   * histogram as a native histogram only: then it stores none of those
   * series, and the gate would wait on "no data" for ever. Asks for the
   * histogram under its own name with the same matchers (only when a gate
   * has no data); undefined when that is not the reason or it cannot tell.
   */
  async #nativeHistogramIn(
    queries: string[],
    ctx: AnalysisContext,
    now: Date,
  ): Promise<NativeFound | undefined> {
    const bases = [...new Set(queries.flatMap(classicHistogramBases))];
    for (const base of bases) {
      try {
        await ctx.prometheus.query(base, {
          time: ctx.now ? now : undefined,
          signal: ctx.signal,
        });
      } catch (error) {
        if (!(error instanceof PrometheusNativeHistogramError)) continue;
        return { metric: error.metrics[0] ?? base.replace(/\{.*$/, ''), base };
      }
    }
    return undefined;
  }

  /** The same, as the advice a check shows (see nativeHistogramAdvice). */
  async #nativeHistogramReason(
    queries: string[],
    ctx: AnalysisContext,
    now: Date,
  ): Promise<string | undefined> {
    const found = await this.#nativeHistogramIn(queries, ctx, now);
    return found && nativeHistogramAdvice(found);
  }

  /**
   * An arm's latency histogram has no bucket at the bound the test counts
   * with (the new version changed its buckets): its slow requests cannot be
   * read, and reading the missing bucket as zero would call every request
   * slow. Inconclusive, saying what to fix; with `le: auto` the bound is
   * chosen again from the bounds both versions have, and the test starts
   * over (what it read with the old bound is not comparable).
   */
  async #bucketMismatch(
    gate: MetricGateConfig,
    ctx: AnalysisContext,
    now: Date,
    judge: SequentialCountJudge,
    state: SequentialGateState,
    tickBase: Omit<SequentialGateTick, 'counts' | 'raw' | 'noDataReason'>,
    gap: {
      arm: 'canary' | 'stable';
      /** The bucket label the arm's query asked for. */
      le: string;
      pods: string[];
      /** The bound the test uses (as written, or as `le: auto` chose it). */
      bound: string;
      spelled: LeSpelling | undefined;
      minStepRequests: number;
    },
  ): Promise<{
    check: AnalysisCheck;
    sequential: SequentialGateState;
    le?: string;
    leSpelled?: LeSpelling;
  }> {
    const auto = gate.variables?.le === 'auto';
    const other = gap.arm === 'canary' ? 'stable' : 'canary';
    const [ownLabels, theirLabels] = await Promise.all(
      [gap.arm, other].map(arm =>
        this.#bucketLabels(gate, ctx, now, arm as 'canary' | 'stable').catch(
          () => [] as string[],
        ),
      ),
    );
    const own = finiteBounds(ownLabels);
    const theirs = finiteBounds(theirLabels);
    const shared = sharedBounds(own, theirs);
    const wait = (reason: string, fresh: boolean) =>
      sequentialGateTick(
        judge,
        fresh ? restoreGateState(undefined, judge) : state,
        { ...tickBase, counts: null, noDataReason: reason },
        {
          metric: gate.name,
          what: 'slow-request rate',
          minStepRequests: gap.minStepRequests,
        },
      );
    // The same bound under another spelling (`500.0` for `500`): read that
    // bucket. Only when every pod of the arm spells it one way — pods that
    // disagree would trade places at every reading.
    const spellings = spellingsOf(gap.le, ownLabels);
    if (spellings.length === 1 && spellings[0] !== gap.le) {
      const leSpelled: LeSpelling = {
        ...(gap.spelled ?? {}),
        bound: gap.bound,
        [gap.arm]: spellings[0],
      };
      const theirSpelling = spellingOf(gap.bound, theirLabels);
      if (theirSpelling !== undefined && leSpelled[other] === undefined)
        leSpelled[other] = theirSpelling;
      const waiting = wait(
        `the ${gap.arm}'s latency histogram writes the bound ${gap.bound} as le="${spellings[0]}" ` +
          `(bucket labels are text, and Prometheus 3 and some client libraries write 500 as 500.0) — ` +
          'reading that bucket from now on; the test starts over',
        true,
      );
      return {
        check: waiting.check,
        sequential: waiting.state,
        ...(auto ? { le: gap.bound } : {}),
        leSpelled,
      };
    }
    let advice = auto
      ? 'choosing the bound again from the shared ones; the test starts over'
      : 'set variables.le to a bound both versions have, or to auto';
    if (spellings.length > 1)
      advice =
        'its pods must write a bound one way to be read as one histogram (pods built with different client libraries?): ' +
        'roll them out from one build, or rewrite le to one spelling in the scrape config (metric_relabel_configs); waiting';
    const reason =
      `the ${gap.arm}'s latency histogram has no bucket le="${gap.le}" ` +
      `(${gap.pods.length === 1 ? 'pod' : 'pods'} ${gap.pods.join(', ')}; ` +
      `its bounds: ${own.join(', ') || 'none'}; ` +
      `bounds both versions have: ${shared.join(', ') || 'none'}` +
      `${
        spellings.length > 1
          ? `; its pods write this bound as ${spellings
              .map(x => `le="${x}"`)
              .join(' and ')}`
          : ''
      }) — ${advice}`;
    const waiting = wait(reason, auto);
    return { check: waiting.check, sequential: waiting.state };
  }

  /**
   * `le: auto`: the smallest bucket bound at or above the stable's p99 over
   * the 30 minutes before the rollout started. It is chosen from data the
   * test never sees (before its start), so the test stays valid; a service
   * without that history uses its first window instead. With it, how each
   * arm's pods write it when that is not as chosen (`500.0` for `500`), so
   * the first reading asks each arm for its own bucket.
   */
  async #autoLe(
    gate: MetricGateConfig,
    ctx: AnalysisContext,
    now: Date,
  ): Promise<
    { le: string; spelled?: LeSpelling; native?: boolean } | undefined
  > {
    const quantile = this.#template(gate, ctx, 'latency-p99-raw');
    let p99: number | undefined;
    const attempts: Array<[Date, string]> = [
      [ctx.startedAt, '30m'],
      [now, gate.interval ?? DEFAULT_WINDOW],
    ];
    for (const [at, interval] of attempts) {
      try {
        p99 = await ctx.prometheus.queryValue(
          this.#render(quantile, 'stable', ctx, gate, { interval }),
          { time: at, signal: ctx.signal },
        );
        if (Number.isFinite(p99)) break;
      } catch (error) {
        if (!(error instanceof PrometheusNoDataError)) throw error;
      }
    }
    if (p99 === undefined || !Number.isFinite(p99)) {
      if (
        this.#readsBuiltinLatency(gate, ctx) &&
        ctx.prometheus.queryHistogramSamples
      ) {
        // Kept as a native histogram: its p99, the latency to count above
        // (at a bucket boundary of both versions: #nativeLatencyTick).
        const nativeQuantile = this.#template(
          gate,
          ctx,
          'latency-p99-raw-native',
        );
        for (const [at, interval] of attempts) {
          try {
            const value = await ctx.prometheus.queryValue(
              this.#render(nativeQuantile, 'stable', ctx, gate, { interval }),
              { time: at, signal: ctx.signal },
            );
            if (Number.isFinite(value) && value > 0)
              return { le: String(value), native: true };
          } catch (error) {
            if (!(error instanceof PrometheusNoDataError)) throw error;
          }
        }
        // No p99 of either kind yet: wait for one.
        return undefined;
      }
      const native = await this.#nativeHistogramReason(
        [this.#render(quantile, 'stable', ctx, gate, { interval: '1m' })],
        ctx,
        now,
      );
      if (native) throw new Error(native);
      return undefined;
    }
    const [stableLabels, canaryLabels] = await Promise.all(
      (['stable', 'canary'] as const).map(arm =>
        this.#bucketLabels(gate, ctx, now, arm),
      ),
    );
    const stable = finiteBounds(stableLabels);
    const canary = finiteBounds(canaryLabels);
    const le = chooseBound(p99, stable, canary.length > 0 ? canary : undefined);
    if (!le && stable.length > 0) {
      throw new Error(
        `the stable's and the canary's latency histograms share no bucket bound (stable: ${stable.join(
          ', ',
        )}; canary: ${canary.join(
          ', ',
        )}) — give both versions a common bucket, or set variables.le on the gate and its bucket in both`,
      );
    }
    if (!le) return undefined;
    // Only an arm whose pods all write the bound one other way (pods that
    // disagree are told so by #bucketMismatch).
    const own = (labels: string[]) => {
      const spellings = spellingsOf(le, labels);
      return spellings.length === 1 && spellings[0] !== le
        ? spellings[0]
        : undefined;
    };
    const spelled: LeSpelling = { bound: le };
    const canarySpelling = own(canaryLabels);
    const stableSpelling = own(stableLabels);
    if (canarySpelling) spelled.canary = canarySpelling;
    if (stableSpelling) spelled.stable = stableSpelling;
    return canarySpelling || stableSpelling ? { le, spelled } : { le };
  }

  /** The `le` labels one arm's latency histogram exports now, every spelling. */
  async #bucketLabels(
    gate: MetricGateConfig,
    ctx: AnalysisContext,
    now: Date,
    arm: 'canary' | 'stable',
  ): Promise<string[]> {
    const buckets = this.#template(gate, ctx, 'latency-buckets');
    try {
      const samples = await ctx.prometheus.query(
        this.#render(buckets, arm, ctx, gate, { interval: DEFAULT_WINDOW }),
        { time: ctx.now ? now : undefined, signal: ctx.signal },
      );
      return [
        ...new Set(
          samples
            .map(s => s.labels.le)
            .filter((le): le is string => le !== undefined),
        ),
      ];
    } catch (error) {
      if (error instanceof PrometheusNoDataError) return [];
      throw error;
    }
  }

  /**
   * Canary and stable over time for every gated metric, for the charts:
   * range queries with a step that gives about 120 points. Sequential gates
   * are drawn as the rate of bad requests over a sliding window.
   */
  async series(
    ctx: AnalysisContext,
    start: Date,
    end: Date,
  ): Promise<MetricSeries[]> {
    const seconds = Math.max(1, (end.getTime() - start.getTime()) / 1000);
    const step = Math.max(1, Math.ceil(seconds / SERIES_POINTS));
    const state = this.#restore(ctx.state);
    return Promise.all(
      this.gates.map(async configured => {
        const judge = gateJudge(configured);
        const native = state.gates[configured.name]?.native === true;
        let gate =
          (native && judge !== 'sequential'
            ? this.#nativeDurationGate(configured, ctx)
            : undefined) ?? configured;
        if (judge === 'sequential' && gate.variables?.le === 'auto') {
          // Draw the same latency bound the test uses.
          const le =
            state.gates[gate.name]?.le ??
            (await this.#autoLe(gate, ctx, end).catch(() => undefined))?.le;
          gate = {
            ...gate,
            variables: { ...gate.variables, le: le ?? '+Inf' },
          };
        }
        const nativeAt = state.gates[configured.name]?.nativeBound;
        if (native && judge === 'sequential' && nativeAt !== undefined) {
          // At the bucket boundary the test counts at.
          gate = {
            ...gate,
            variables: { ...gate.variables, le: String(nativeAt) },
          };
        }
        let unit: string | undefined;
        let bound: CheckBound | undefined;
        let render: (arm: 'canary' | 'stable') => string;
        if (judge === 'sequential') {
          const errors = this.#template(
            gate,
            ctx,
            gate.errors ?? 'error-count',
          );
          const requests = this.#template(
            gate,
            ctx,
            gate.requests ?? 'request-count',
          );
          const window = formatDuration(Math.max(60_000, step * 4000));
          const durations = { interval: window, elapsed: window };
          unit = '%';
          const s = this.#sequentialJudge(gate);
          const what = gate.variables?.le
            ? `share slower than ${
                nativeAt !== undefined && native
                  ? shortBound(nativeAt)
                  : gate.variables.le
              } ${this.#template(gate, ctx, 'latency-p99-raw').unit}`
            : 'error rate';
          bound = {
            text: `sequential test: canary ${what} ≤ ${
              s.tolerance > 0 ? `${1 + s.tolerance} × stable` : 'stable'
            } (α = ${s.alpha})`,
          };
          const spelled = state.gates[configured.name]?.leSpelled;
          const histogram =
            native && nativeAt !== undefined
              ? this.#template(gate, ctx, 'latency-histogram')
              : undefined;
          render = arm =>
            histogram
              ? // The share above the bound, from the native histogram.
                `100 * histogram_fraction(${
                  gate.variables?.le
                }, Inf, sum(rate(${this.#render(
                  histogram,
                  arm,
                  ctx,
                  gate,
                  durations,
                )}[${window}])))`
              : `100 * (${this.#render(
                  errors,
                  arm,
                  ctx,
                  armGate(gate, spelled, arm),
                  durations,
                )}) / (${this.#render(requests, arm, ctx, gate, durations)})`;
        } else {
          const template = this.#template(gate, ctx);
          unit = gate.unit ?? template.unit;
          const interval = gate.interval ?? DEFAULT_WINDOW;
          render = arm => this.#render(template, arm, ctx, gate, { interval });
          if (judge === 'threshold' && gate.thresholdRange) {
            bound = {
              ...gate.thresholdRange,
              text: describeRange(gate.thresholdRange, unit),
            };
          } else if (gate.relative) {
            bound = {
              text: new RelativeToStableJudge(gate.relative).describe(unit),
            };
          }
        }
        const [canary, stable] = await Promise.all(
          (['canary', 'stable'] as const).map(async arm => {
            try {
              const result = await ctx.prometheus.queryRange(
                render(arm),
                start,
                end,
                step,
                {
                  signal: ctx.signal,
                },
              );
              return (result[0]?.points ?? []).filter(([, v]) =>
                Number.isFinite(v),
              );
            } catch (error) {
              if (error instanceof PrometheusUnreachableError) throw error;
              return [];
            }
          }),
        );
        return { metric: gate.name, unit, bound, canary, stable };
      }),
    );
  }
}
