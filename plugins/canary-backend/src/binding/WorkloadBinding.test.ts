import type { TrafficTopology } from '../kubernetes/types';
import {
  BindingObjectReader,
  WorkloadBinding,
  boundEntities,
} from './WorkloadBinding';

/** Services and Deployments of one namespace, as the binding check reads them. */
function cluster(objects: {
  services: Record<
    string,
    { annotations?: Record<string, string>; selector: Record<string, string> }
  >;
  deployments: Record<
    string,
    { annotations?: Record<string, string>; podLabels: Record<string, string> }
  >;
}): BindingObjectReader {
  return {
    service: async (_c, _ns, name) =>
      objects.services[name]
        ? { annotations: {}, ...objects.services[name] }
        : undefined,
    deployment: async (_c, _ns, name) =>
      objects.deployments[name]
        ? { annotations: {}, ...objects.deployments[name] }
        : undefined,
  };
}

const topology = (extra: Partial<TrafficTopology> = {}): TrafficTopology => ({
  target: {
    cluster: 'prod',
    namespace: 'shop',
    service: 'checkout',
    provider: 'istio',
  },
  shape: 'versioned-subsets',
  stable: { name: 'checkout-v1', replicas: 3 },
  canary: { name: 'checkout-v2', replicas: 0 },
  ...extra,
});

const request = (
  entityRef: string,
  owners: string[] = ['group:default/shop'],
  t = topology(),
) => ({
  entityRef,
  owners,
  cluster: 'prod',
  namespace: 'shop',
  service: 'checkout',
  topology: t,
});

const world = cluster({
  services: {
    checkout: {
      annotations: {
        'coalmine.io/entity':
          'component:default/checkout, Component:default/checkout-drill',
      },
      selector: { app: 'checkout' },
    },
    unbound: { selector: { app: 'unbound' } },
  },
  deployments: {
    'checkout-v1': { podLabels: { app: 'checkout', version: 'v1' } },
    'checkout-v2': { podLabels: { app: 'checkout', version: 'v2' } },
    'payments-v1': { podLabels: { app: 'payments' } },
  },
});

describe('WorkloadBinding', () => {
  it('binds the entities the Service names, and no other', async () => {
    const binding = new WorkloadBinding({}, world);
    expect(await binding.check(request('component:default/checkout'))).toEqual({
      bound: true,
      via: 'service-annotation',
    });
    expect(
      (await binding.check(request('component:default/checkout-drill'))).bound,
    ).toBe(true);
    const intruder = await binding.check(
      request('component:default/storefront'),
    );
    expect(intruder).toEqual({
      bound: false,
      problem: {
        key: 'coalmine.io/entity',
        message: expect.stringContaining(
          'add the annotation coalmine.io/entity: component:default/storefront to the Service',
        ),
      },
    });
    await expect(
      binding.require(request('component:default/storefront')),
    ).rejects.toMatchObject({
      name: 'NotAllowedError',
    });
  });

  it('refuses Deployments the bound Service does not select', async () => {
    const binding = new WorkloadBinding({}, world);
    const verdict = await binding.check(
      request(
        'component:default/checkout',
        [],
        topology({ canary: { name: 'payments-v1', replicas: 1 } }),
      ),
    );
    expect(verdict.bound).toBe(false);
    expect(!verdict.bound && verdict.problem.message).toMatch(
      /Deployment shop\/payments-v1 does not run the pods of Service shop\/checkout/,
    );
  });

  it('checks both backend Services of a route (Gateway API, SMI, NGINX)', async () => {
    const backends = cluster({
      services: {
        'web-stable': {
          annotations: { 'coalmine.io/entity': 'component:default/web' },
          selector: { app: 'web', track: 'stable' },
        },
        'web-canary': { selector: { app: 'web', track: 'canary' } },
      },
      deployments: {
        'web-stable': { podLabels: { app: 'web', track: 'stable' } },
      },
    });
    const t = topology({
      stable: { name: 'web-stable', replicas: 3 },
      canary: { name: 'web-canary', replicas: 0 },
      backends: { stable: 'web-stable', canary: 'web-canary' },
    });
    const verdict = await new WorkloadBinding({}, backends).check(
      request('component:default/web', [], t),
    );
    expect(!verdict.bound && verdict.problem.message).toMatch(
      /Service shop\/web-canary/,
    );
  });

  it('lets the platform limit namespaces and bind them to owners', async () => {
    const binding = new WorkloadBinding(
      {
        prod: {
          namespaces: [
            { name: 'shop', owners: ['group:default/platform'] },
            { name: 'other' },
          ],
        },
      },
      world,
    );
    // The platform binds its owners' components to any Service in shop.
    expect(
      await binding.check(
        request('component:default/anything', ['group:default/platform']),
      ),
    ).toEqual({ bound: true, via: 'platform-owner' });
    // Others still need the Service's annotation.
    expect(
      (
        await binding.check(
          request('component:default/anything', ['group:default/x']),
        )
      ).bound,
    ).toBe(false);
    expect(
      (
        await binding.check(
          request('component:default/checkout', ['group:default/x']),
        )
      ).bound,
    ).toBe(true);
    // A namespace the platform does not list is refused even when annotated.
    const outside = await new WorkloadBinding(
      { prod: { namespaces: [{ name: 'other' }] } },
      world,
    ).check(request('component:default/checkout'));
    expect(outside).toEqual({
      bound: false,
      problem: {
        key: 'canary.clusters.prod.namespaces',
        message: expect.stringMatching(
          /may not act in namespace shop of cluster prod/,
        ),
      },
    });
  });

  it('reads entity refs in the annotation leniently but never guesses', () => {
    expect(boundEntities(' checkout , group:x/y, not a ref::')).toEqual([
      'component:default/checkout',
      'group:x/y',
    ]);
    expect(boundEntities(undefined)).toEqual([]);
  });
});
