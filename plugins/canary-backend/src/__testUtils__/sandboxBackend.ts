import { coreServices } from '@backstage/backend-plugin-api';
import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { startSandbox } from '@coalmine/sandbox';
import type { Sandbox } from '@coalmine/sandbox';
import request from 'supertest';
import { schedulerServiceFactory } from '@backstage/backend-defaults/scheduler';
import { canaryPlugin } from '../plugin';
import { testDatabaseServiceFactory } from './testDatabase';
import { backstageKubernetesConfig } from '@coalmine/sandbox';

/** A catalog component of the demo world. */
export function component(
  name: string,
  policy: string,
  extra: Record<string, string> = {},
) {
  return {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: {
      name,
      namespace: 'default',
      annotations: {
        'coalmine.io/policy': policy,
        'backstage.io/kubernetes-id': name,
        'backstage.io/kubernetes-namespace': 'demo',
        ...extra,
      },
    },
    spec: { type: 'service', lifecycle: 'production', owner: 'team-shop' },
  };
}

/**
 * Fast analysis for tests of the engine and the cluster: the sequential
 * error test after a few requests, at a false-rollback bound of 1 in 10,000.
 * At the default bound (alpha 0.01) the test may roll back up to 1 in 100
 * healthy canaries by design — the sandbox's canaries fail 0.2 % of requests
 * like its stable, at random — and these tests assert that healthy canaries
 * are promoted: one did roll back in CI (stop 38), once in about 400 such
 * rollouts. The analysis's own tests judge at the default bound.
 */
export const fastAnalysis = {
  interval: '1s',
  alpha: 1e-4,
  metrics: [{ name: 'error-rate', judge: 'sequential', minRequests: 5 }],
};

/**
 * How a finished rollout ended, for `toMatchObject`: a rollout that ended
 * otherwise than expected shows its message (why) in the failure.
 */
export function outcome(details: {
  rollout: { phase: string; message?: string };
}) {
  return { phase: details.rollout.phase, message: details.rollout.message };
}

/** Config for a backend whose only cluster is the sandbox. */
export function sandboxConfig(
  sb: Sandbox,
  policies: Record<string, unknown>,
  loop = '300ms',
) {
  return {
    kubernetes: backstageKubernetesConfig([
      { url: sb.apiUrl, token: sb.token },
    ]),
    canary: {
      loop: { frequency: loop },
      detection: { frequency: '1s' },
      ...(sb.prometheusUrl ? { prometheus: { url: sb.prometheusUrl } } : {}),
      policies,
    },
  };
}

/** The canary plugin on a test backend (real scheduler), against the sandbox. */
export async function startCanaryBackend(
  config: Record<string, unknown>,
  entities: unknown[],
  extra: {
    features?: any[];
    permission?: AuthorizeResult.ALLOW | AuthorizeResult.DENY;
  } = {},
) {
  const backend = await startTestBackend({
    features: [
      canaryPlugin,
      mockServices.rootConfig.factory({ data: config as any }),
      ...(extra.features ?? [
        mockServices.permissions.factory({
          result: extra.permission ?? AuthorizeResult.ALLOW,
        }),
      ]),
      catalogServiceMock.factory({ entities: entities as any }),
      // The real scheduler: the loop runs as it does in a deployed backend.
      schedulerServiceFactory,
      // In-memory SQLite closed with the backend, unless a test brings its own.
      ...((extra.features ?? []).some(
        f => f?.service?.id === coreServices.database.id,
      )
        ? []
        : [testDatabaseServiceFactory]),
    ],
  });
  return backend;
}

/** Polls `GET /rollouts/:id` until `done` holds; generous deadline for a loaded machine. */
export async function waitForRollout(
  server: any,
  id: string,
  done: (r: any) => boolean,
  timeoutMs = 90_000,
) {
  const deadline = Date.now() + timeoutMs;
  let last: any;
  while (Date.now() < deadline) {
    const res = await request(server).get(`/api/canary/rollouts/${id}`);
    last = res.body;
    if (res.status === 200 && done(res.body.rollout)) return res.body;
    await new Promise(r => setTimeout(r, 200));
  }
  throw new Error(
    `rollout ${id} did not get there in time; last: ${JSON.stringify(
      {
        phase: last?.rollout?.phase,
        message: last?.rollout?.message,
        events: last?.events?.map((e: any) => e.message),
      },
      null,
      1,
    )}`,
  );
}

/** Canary weights of a VirtualService's default route, one per stored version (deduplicated runs not merged). */
export function virtualServiceWeights(
  objects: any[],
  canarySubset: string,
): number[] {
  return objects.map(vs => {
    const routes: any[] = vs.spec?.http ?? [];
    const main = routes.find(r => !r.match) ?? routes[routes.length - 1];
    const dest = (main?.route ?? []).find(
      (d: any) => d.destination?.subset === canarySubset,
    );
    return dest ? dest.weight ?? (main.route.length === 1 ? 100 : 0) : 0;
  });
}

/** Drops consecutive duplicates (a write that did not change the weight). */
export function changes(values: number[]): number[] {
  return values.filter((v, i) => i === 0 || v !== values[i - 1]);
}

/**
 * A backend whose rollouts of `checkout` wait at 10 % for ten minutes, on a
 * slow loop (2 s): what a test then sees comes from the controls, not the
 * loop. For the live-update tests.
 */
export function startHeldCheckoutBackend(sb: Sandbox, features: any[] = []) {
  return startCanaryBackend(
    sandboxConfig(
      sb,
      {
        held: {
          trafficProvider: 'istio',
          steps: [{ weight: 10, pause: '10m' }, 100],
          analysis: { interval: '1s', metrics: [] },
        },
      },
      '2s',
    ),
    [component('checkout', 'held')],
    { features },
  );
}

/**
 * The demo world on a sandbox whose real Prometheus scrapes every 15 s, with
 * traffic on the given services and the canary plugin on a test backend
 * where each service is a component of the given policy.
 */
export async function startDemoAt15sScrapes(options: {
  seed: number;
  policies: Record<string, unknown>;
  services: string[];
  policy: string;
}): Promise<{ sb: Sandbox; server: any; stop(): Promise<void> }> {
  const sb = await startSandbox({
    prometheus: true,
    scrapeIntervalSeconds: 15,
    readinessDelayMs: 400,
    seed: options.seed,
  });
  try {
    await sb.applyDemoWorld();
    for (const service of options.services)
      sb.traffic.start({ service, namespace: 'demo', rps: 100 });
    const backend = await startCanaryBackend(
      sandboxConfig(sb, options.policies),
      options.services.map(service => component(service, options.policy)),
    );
    return {
      sb,
      server: backend.server,
      stop: async () => {
        await backend.stop();
        await sb.stop();
      },
    };
  } catch (error) {
    await sb.stop();
    throw error;
  }
}

/** Sets a Deployment's replicas through the sandbox's API, as `kubectl scale` would. */
export async function scaleDeployment(
  sb: Sandbox,
  namespace: string,
  name: string,
  replicas: number,
) {
  const res = await fetch(
    `${sb.apiUrl}/apis/apps/v1/namespaces/${namespace}/deployments/${name}/scale`,
    {
      method: 'PATCH',
      headers: {
        authorization: `Bearer ${sb.token}`,
        'content-type': 'application/merge-patch+json',
      },
      body: JSON.stringify({ spec: { replicas } }),
    },
  );
  if (res.status !== 200) {
    throw new Error(`scaling ${namespace}/${name} answered ${res.status}`);
  }
}
