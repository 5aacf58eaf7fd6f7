import { MetricTemplate, MetricTemplateSpec, TemplateError } from './templates';

/** Where request metrics come from. @public */
export type MetricsProvider = 'istio' | 'http' | 'nginx' | 'linkerd';

/** @public */
export const METRICS_PROVIDERS: ReadonlyArray<MetricsProvider> = [
  'istio',
  'http',
  'nginx',
  'linkerd',
];

/**
 * For each provider: how to select one arm's series, which label marks a
 * server error, and the latency histogram (with the factor that turns its
 * unit into milliseconds, so `request-duration` is in ms everywhere).
 */
interface ProviderShape {
  requests: string;
  armMatchers: { canary: string; stable: string };
  errorMatcher: string;
  histogram: string;
  histogramArmMatchers: { canary: string; stable: string };
  toMs: number;
}

const POD_OF_WORKLOAD = 'pod=~"{{ workload }}-[a-z0-9]+-[a-z0-9]+"';

const SHAPES: Record<MetricsProvider, ProviderShape> = {
  istio: {
    requests: 'istio_requests_total',
    armMatchers: {
      canary:
        'reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload="{{ workload }}"',
      stable:
        'reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload="{{ workload }}"',
    },
    errorMatcher: 'response_code=~"5.."',
    histogram: 'istio_request_duration_milliseconds',
    histogramArmMatchers: {
      canary:
        'reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload="{{ workload }}"',
      stable:
        'reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload="{{ workload }}"',
    },
    toMs: 1,
  },
  http: {
    requests: 'http_requests_total',
    armMatchers: {
      canary: `namespace="{{ namespace }}",${POD_OF_WORKLOAD}`,
      stable: `namespace="{{ namespace }}",${POD_OF_WORKLOAD}`,
    },
    errorMatcher: 'code=~"5.."',
    histogram: 'http_request_duration_seconds',
    histogramArmMatchers: {
      canary: `namespace="{{ namespace }}",${POD_OF_WORKLOAD}`,
      stable: `namespace="{{ namespace }}",${POD_OF_WORKLOAD}`,
    },
    toMs: 1000,
  },
  nginx: {
    // The controller marks requests served by the canary backend with its
    // service name in `canary`; the stable backend leaves it empty.
    requests: 'nginx_ingress_controller_requests',
    armMatchers: {
      canary:
        'namespace="{{ namespace }}",ingress=~"{{ route }}|{{ route }}-canary",canary!=""',
      stable:
        'namespace="{{ namespace }}",ingress=~"{{ route }}|{{ route }}-canary",canary=""',
    },
    errorMatcher: 'status=~"5.."',
    histogram: 'nginx_ingress_controller_request_duration_seconds',
    histogramArmMatchers: {
      canary: 'namespace="{{ namespace }}",service="{{ armService }}"',
      stable: 'namespace="{{ namespace }}",service="{{ armService }}"',
    },
    toMs: 1000,
  },
  linkerd: {
    requests: 'response_total',
    armMatchers: {
      canary:
        'namespace="{{ namespace }}",deployment="{{ workload }}",direction="inbound"',
      stable:
        'namespace="{{ namespace }}",deployment="{{ workload }}",direction="inbound"',
    },
    errorMatcher: 'classification="failure"',
    histogram: 'response_latency_ms',
    histogramArmMatchers: {
      canary:
        'namespace="{{ namespace }}",deployment="{{ workload }}",direction="inbound"',
      stable:
        'namespace="{{ namespace }}",deployment="{{ workload }}",direction="inbound"',
    },
    toMs: 1,
  },
};

function perArm(build: (arm: 'canary' | 'stable') => string) {
  return { canary: build('canary'), stable: build('stable') };
}

function providerTemplates(
  shape: ProviderShape,
): Record<string, MetricTemplateSpec> {
  const all = (arm: 'canary' | 'stable') => shape.armMatchers[arm];
  const errors = (arm: 'canary' | 'stable') =>
    `${shape.armMatchers[arm]},${shape.errorMatcher}`;
  const okRate = (arm: 'canary' | 'stable') =>
    `sum(rate(${shape.requests}{${all(arm)}}[{{ interval }}])) - sum(rate(${
      shape.requests
    }{${errors(arm)}}[{{ interval }}]) or vector(0))`;
  const hist = (arm: 'canary' | 'stable') => shape.histogramArmMatchers[arm];
  const scale = shape.toMs === 1 ? '' : ` * ${shape.toMs}`;
  const nativeP99 = (arm: 'canary' | 'stable') =>
    `histogram_quantile(0.99, sum(rate(${shape.histogram}{${hist(
      arm,
    )}}[{{ interval }}])))`;
  return {
    'request-success-rate': {
      ...perArm(
        arm =>
          `(${okRate(arm)}) / sum(rate(${shape.requests}{${all(
            arm,
          )}}[{{ interval }}])) * 100`,
      ),
      unit: '%',
      description: 'share of requests that did not fail with a server error',
    },
    'request-error-rate': {
      ...perArm(
        arm =>
          `(sum(rate(${shape.requests}{${errors(
            arm,
          )}}[{{ interval }}])) or vector(0)) / sum(rate(${
            shape.requests
          }{${all(arm)}}[{{ interval }}])) * 100`,
      ),
      unit: '%',
      description: 'share of requests that failed with a server error',
    },
    'request-duration': {
      ...perArm(
        arm =>
          `histogram_quantile(0.99, sum by (le) (rate(${
            shape.histogram
          }_bucket{${hist(arm)}}[{{ interval }}])))${scale}`,
      ),
      unit: 'ms',
      description: '99th percentile request duration',
    },
    'request-count': {
      ...perArm(
        arm => `sum(increase(${shape.requests}{${all(arm)}}[{{ elapsed }}]))`,
      ),
      kind: 'count',
      unit: 'requests',
      description: 'requests since the rollout started',
    },
    'error-count': {
      ...perArm(
        arm =>
          `sum(increase(${shape.requests}{${errors(arm)}}[{{ elapsed }}]))`,
      ),
      kind: 'count',
      unit: 'requests',
      description: 'server errors since the rollout started',
    },
    'latency-p99-raw': {
      // In the histogram's own unit, to pick a bucket bound (`le: auto`).
      ...perArm(
        arm =>
          `histogram_quantile(0.99, sum by (le) (rate(${
            shape.histogram
          }_bucket{${hist(arm)}}[{{ interval }}])))`,
      ),
      unit: shape.toMs === 1 ? 'ms' : 's',
      description: '99th percentile in the histogram unit',
    },
    'latency-p99-raw-native': {
      // The same from a native histogram (`le: auto` on one).
      ...perArm(nativeP99),
      unit: shape.toMs === 1 ? 'ms' : 's',
      description: '99th percentile in the histogram unit, native histogram',
    },
    'request-duration-native': {
      ...perArm(arm => `${nativeP99(arm)}${scale}`),
      unit: 'ms',
      description: '99th percentile request duration, native histogram',
    },
    'latency-histogram': {
      // Read raw when Prometheus keeps it as a native histogram.
      ...perArm(arm => `${shape.histogram}{${hist(arm)}}`),
      description: 'the latency histogram under its own name',
    },
    'latency-buckets': {
      ...perArm(
        arm => `count by (le) (${shape.histogram}_bucket{${hist(arm)}})`,
      ),
      description: 'the bucket bounds (le) of the latency histogram',
    },
    'latency-request-count': {
      ...perArm(
        arm =>
          `sum(increase(${shape.histogram}_count{${hist(
            arm,
          )}}[{{ elapsed }}]))`,
      ),
      kind: 'count',
      unit: 'requests',
      description:
        'requests in the latency histogram since the rollout started',
    },
    'slow-request-count': {
      // `le` is a bucket bound of the histogram, in the histogram's own unit.
      ...perArm(
        arm =>
          `sum(increase(${shape.histogram}_count{${hist(
            arm,
          )}}[{{ elapsed }}])) - sum(increase(${shape.histogram}_bucket{${hist(
            arm,
          )},le="{{ le }}"}[{{ elapsed }}]))`,
      ),
      kind: 'count',
      unit: 'requests',
      description:
        'requests slower than the bucket bound `le` since the rollout started',
    },
  };
}

const POD_MATCHERS = `namespace="{{ namespace }}",${POD_OF_WORKLOAD}`;

/** Templates that do not depend on the mesh (kube-state-metrics). */
const COMMON_TEMPLATES: Record<string, MetricTemplateSpec> = {
  'pod-restarts': {
    query: `sum(kube_pod_container_status_restarts_total{${POD_MATCHERS}}) or vector(0)`,
    unit: 'restarts',
    description: 'container restarts of the arm’s pods',
  },
  'oom-killed': {
    query: `sum(kube_pod_container_status_last_terminated_reason{${POD_MATCHERS},reason="OOMKilled"}) or vector(0)`,
    unit: 'containers',
    description: 'containers whose last termination was an OOM kill',
  },
  'crash-looping': {
    query: `sum(kube_pod_container_status_waiting_reason{${POD_MATCHERS},reason="CrashLoopBackOff"}) or vector(0)`,
    unit: 'containers',
    description: 'containers waiting in CrashLoopBackOff',
  },
};

/** Every built-in template spec, by `provider/name` or plain `name` for the common ones. @public */
export function builtinTemplateSpecs(): Record<string, MetricTemplateSpec> {
  const specs: Record<string, MetricTemplateSpec> = { ...COMMON_TEMPLATES };
  for (const provider of METRICS_PROVIDERS) {
    for (const [name, spec] of Object.entries(
      providerTemplates(SHAPES[provider]),
    )) {
      specs[`${provider}/${name}`] = spec;
    }
  }
  return specs;
}

/**
 * The built-in templates and the ones from config, compiled once at start-up
 * (so a broken template stops the backend with its position, not a rollout).
 *
 * @public
 */
export class TemplateRegistry {
  readonly #templates = new Map<string, MetricTemplate>();
  readonly #custom = new Set<string>();

  /** Throws {@link TemplateError} for the first custom template that does not compile. */
  constructor(custom: Record<string, MetricTemplateSpec> = {}) {
    for (const [name, spec] of Object.entries(builtinTemplateSpecs())) {
      this.#templates.set(name, new MetricTemplate(name, spec));
    }
    for (const [name, spec] of Object.entries(custom)) {
      if (name.includes('/')) {
        throw new TemplateError(
          name,
          'custom template names may not contain "/"',
        );
      }
      this.#templates.set(name, new MetricTemplate(name, spec));
      this.#custom.add(name);
    }
  }

  /**
   * Finds a template: a custom one by name, else the provider's built-in
   * (`request-success-rate` → `istio/request-success-rate`), else a common
   * built-in, else an explicit `provider/name`.
   */
  find(name: string, provider: MetricsProvider): MetricTemplate | undefined {
    return (
      (name.includes('/') ? undefined : this.#templates.get(name)) ??
      this.#templates.get(`${provider}/${name}`) ??
      this.#templates.get(name)
    );
  }

  get(name: string, provider: MetricsProvider): MetricTemplate {
    const template = this.find(name, provider);
    if (!template) {
      throw new Error(
        `unknown metric template "${name}" for provider ${provider}`,
      );
    }
    return template;
  }

  names(): string[] {
    return [...this.#templates.keys()].sort();
  }

  /** The count templates of `canary.templates` the analysis reads as written, not from raw samples, and why (see MetricTemplate.readAsWrittenBecause). */
  countsReadAsWritten(): Array<{ name: string; why: string }> {
    return [...this.#custom].sort().flatMap(name => {
      const template = this.#templates.get(name)!;
      const why =
        template.kind === 'count' ? template.readAsWrittenBecause : undefined;
      return why ? [{ name, why }] : [];
    });
  }
}
