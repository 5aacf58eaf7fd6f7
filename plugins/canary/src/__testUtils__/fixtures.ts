import type { Entity } from '@backstage/catalog-model';
import { ResponseError } from '@backstage/errors';
import type {
  AnalysisResult,
  CanaryTarget,
  EntityCanaryStatus,
  MetricSeries,
  Rollout,
  RolloutDetails,
  RolloutEvent,
} from '@coalmine/backstage-plugin-canary-common';

/** Test data: a component with Coalmine's annotation and its rollouts. */

export const annotatedEntity: Entity = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: {
    name: 'checkout',
    namespace: 'default',
    annotations: {
      'coalmine.io/policy': 'standard',
      'backstage.io/kubernetes-id': 'checkout',
    },
  },
  spec: {
    type: 'service',
    owner: 'group:default/payments',
    lifecycle: 'production',
  },
};

export const bareEntity: Entity = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: { name: 'plain', namespace: 'default' },
  spec: {
    type: 'service',
    owner: 'group:default/payments',
    lifecycle: 'production',
  },
};

export const target: CanaryTarget = {
  entityRef: 'component:default/checkout',
  policy: 'standard',
  clusters: ['sandbox'],
  namespace: 'shop',
  workload: 'checkout',
  route: 'checkout',
  trafficProvider: 'istio',
  steps: [
    { weight: 5 },
    { weight: 25 },
    { weight: 50, approval: true },
    { weight: 100 },
  ],
};

const started = '2026-11-22T10:00:00.000Z';

export function analysisResult(
  overrides: Partial<AnalysisResult> = {},
): AnalysisResult {
  return {
    id: 7,
    rolloutId: 'r-2',
    time: '2026-11-22T10:03:00.000Z',
    stepIndex: 1,
    weight: 25,
    action: 'rollback',
    reason: 'error-rate failed twice',
    failedChecks: 2,
    checks: [
      {
        metric: 'error-rate',
        judge: 'relative',
        query: 'sum(rate(http_requests_total{code=~"5.."}[1m]))',
        canaryValue: 4.1,
        stableValue: 0.3,
        unit: '%',
        bound: { max: 1, text: '≤ 1 %' },
        verdict: 'fail',
        evidence: 'canary error rate 4.1 % vs stable 0.3 %',
      },
      {
        metric: 'latency-p99',
        judge: 'relative',
        canaryValue: 180,
        stableValue: 170,
        unit: 'ms',
        bound: { max: 204, text: '≤ 1.2 × stable' },
        verdict: 'pass',
        evidence: 'canary p99 180 ms vs stable 170 ms',
      },
    ],
    ...overrides,
  };
}

export function rollout(overrides: Partial<Rollout> = {}): Rollout {
  return {
    id: 'r-2',
    entityRef: 'component:default/checkout',
    cluster: 'sandbox',
    namespace: 'shop',
    policy: 'standard',
    trafficProvider: 'istio',
    route: 'checkout',
    phase: 'Progressing',
    stepIndex: 1,
    steps: target.steps,
    weight: 25,
    actualWeight: 24.6,
    stable: {
      name: 'checkout',
      version: 'v1.3.0',
      image: 'shop/checkout:1.3.0',
      pods: { desired: 8, available: 8 },
    },
    canary: {
      name: 'checkout-canary',
      version: 'v1.4.0',
      image: 'shop/checkout:1.4.0',
      pods: { desired: 2, available: 1 },
    },
    message: 'Step 2 of 4: holding at 25 % while the analysis runs',
    createdAt: started,
    updatedAt: '2026-11-22T10:03:00.000Z',
    finishedAt: null,
    nextStepAt: '2099-01-01T00:00:00.000Z',
    startedBy: 'user:default/alice',
    lastAnalysis: analysisResult({ action: 'advance', failedChecks: 0 }),
    ...overrides,
  };
}

export function finishedRollout(overrides: Partial<Rollout> = {}): Rollout {
  return rollout({
    id: 'r-1',
    phase: 'Succeeded',
    stepIndex: 3,
    weight: 100,
    actualWeight: 100,
    stable: {
      name: 'checkout',
      version: 'v1.2.0',
      image: 'shop/checkout:1.2.0',
    },
    canary: {
      name: 'checkout-canary',
      version: 'v1.3.0',
      image: 'shop/checkout:1.3.0',
    },
    message: 'Promoted after every step passed',
    createdAt: '2026-11-21T09:00:00.000Z',
    updatedAt: '2026-11-21T09:12:30.000Z',
    finishedAt: '2026-11-21T09:12:30.000Z',
    nextStepAt: null,
    ...overrides,
  });
}

export function status(
  overrides: Partial<EntityCanaryStatus> = {},
): EntityCanaryStatus {
  const active = rollout();
  return {
    entityRef: 'component:default/checkout',
    target,
    problems: [],
    active,
    history: [active, finishedRollout()],
    ...overrides,
  };
}

export const events: RolloutEvent[] = [
  {
    id: 1,
    rolloutId: 'r-2',
    time: '2026-11-22T10:00:00.000Z',
    type: 'phase',
    message: 'Rollout started',
    actor: 'user:default/alice',
  },
  {
    id: 2,
    rolloutId: 'r-2',
    time: '2026-11-22T10:01:00.000Z',
    type: 'step',
    message: 'Canary weight set to 25 %',
    actor: 'coalmine',
  },
  {
    id: 3,
    rolloutId: 'r-2',
    time: '2026-11-22T10:02:00.000Z',
    type: 'webhook',
    message: 'Webhook load-test answered 200',
    actor: 'coalmine',
  },
];

export function details(
  overrides: Partial<RolloutDetails> = {},
): RolloutDetails {
  return {
    rollout: rollout(),
    events,
    analysis: [
      analysisResult({
        id: 6,
        time: '2026-11-22T10:02:00.000Z',
        action: 'advance',
        failedChecks: 0,
        checks: analysisResult().checks.map(check => ({
          ...check,
          verdict: 'pass',
        })),
      }),
      analysisResult(),
    ],
    ...overrides,
  };
}

export const series: MetricSeries[] = [
  {
    metric: 'error-rate',
    unit: '%',
    bound: { max: 1, text: '≤ 1 %' },
    canary: [
      [1795000000, 0.2],
      [1795000010, 4.1],
    ],
    stable: [
      [1795000000, 0.3],
      [1795000010, 0.3],
    ],
  },
];

/** A ResponseError as the client throws it for a Backstage error body. */
export async function responseError(
  statusCode: number,
  statusText: string,
  name: string,
  message: string,
): Promise<ResponseError> {
  return ResponseError.fromResponse(
    new Response(
      JSON.stringify({ error: { name, message }, response: { statusCode } }),
      {
        status: statusCode,
        statusText,
        headers: { 'Content-Type': 'application/json' },
      },
    ),
  );
}
