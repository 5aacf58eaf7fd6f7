import {
  applyIstioSplit,
  finalizeIstioRoute,
  headerRouteIndex,
  hostMatchesService,
  IstioArms,
  primaryRouteIndex,
  readIstioSplit,
  STICKY_ROUTE_NAME,
  withSubset,
} from './istioRoutes';
import { DestinationRule, VirtualService } from './objects';
import {
  parseManifest,
  parseManifests,
  SEED_000_DESTINATION_RULE,
  SEED_000_VS_75_25,
  SEED_000_VS_95_5,
  SEED_000_VS_ALL_V1,
  SEED_001_VS_90_10,
  SEED_002_ISTIO,
} from './__fixtures__/seedManifests';

const versioned: IstioArms = {
  service: 'my-app-service',
  namespace: 'default',
  stableSubset: 'v1',
  canarySubset: 'v2',
};
const fixed: IstioArms = {
  service: 'api-service',
  namespace: 'default',
  stableSubset: 'stable',
  canarySubset: 'canary',
};
const header = { name: 'x-canary-user', value: 'true' };

describe('hostMatchesService', () => {
  it('accepts the short and the qualified names of the Service only', () => {
    expect(hostMatchesService('web', 'web', 'demo')).toBe(true);
    expect(hostMatchesService('web.demo', 'web', 'demo')).toBe(true);
    expect(
      hostMatchesService('web.demo.svc.cluster.local', 'web', 'demo'),
    ).toBe(true);
    expect(
      hostMatchesService('web.other.svc.cluster.local', 'web', 'demo'),
    ).toBe(false);
    expect(hostMatchesService('webshop', 'web', 'demo')).toBe(false);
  });
});

describe('versioned subsets (seed 000)', () => {
  const allV1 = parseManifest<VirtualService>(SEED_000_VS_ALL_V1);

  it('reads 0 % from the initial VirtualService', () => {
    expect(readIstioSplit(allV1, versioned)).toEqual({
      canaryWeight: 0,
      headerRoute: false,
    });
  });

  it('produces the seed 95/5 and 75/25 objects', () => {
    const five = applyIstioSplit(allV1, versioned, {
      canaryWeight: 5,
      headerRoute: false,
    });
    expect(five.spec).toEqual(
      parseManifest<VirtualService>(SEED_000_VS_95_5).spec,
    );
    const twentyFive = applyIstioSplit(five, versioned, {
      canaryWeight: 25,
      headerRoute: false,
    });
    expect(twentyFive.spec).toEqual(
      parseManifest<VirtualService>(SEED_000_VS_75_25).spec,
    );
    expect(readIstioSplit(twentyFive, versioned).canaryWeight).toBe(25);
    // the input is not modified
    expect(allV1.spec.http![0].route).toHaveLength(1);
  });

  it.each([5, 25, 50, 75, 100, 0])('round-trips %i %%', weight => {
    const next = applyIstioSplit(allV1, versioned, {
      canaryWeight: weight,
      headerRoute: false,
    });
    expect(readIstioSplit(next, versioned).canaryWeight).toBe(weight);
    const weights = next.spec.http![0].route!.map(d => d.weight);
    expect(weights).toEqual([100 - weight, weight]);
  });

  it('reads seed 001 (no hosts) as 10 %', () => {
    const vs = parseManifest<VirtualService>(SEED_001_VS_90_10);
    expect(
      readIstioSplit(vs, { ...versioned, service: 'myapp' }).canaryWeight,
    ).toBe(10);
  });

  it('adds the sticky header route before the weighted one and removes it again', () => {
    const withHeader = applyIstioSplit(
      allV1,
      versioned,
      { canaryWeight: 5, headerRoute: true },
      header,
    );
    expect(withHeader.spec.http).toHaveLength(2);
    expect(withHeader.spec.http![0]).toEqual({
      name: STICKY_ROUTE_NAME,
      match: [{ headers: { 'x-canary-user': { exact: 'true' } } }],
      route: [
        { destination: { host: 'my-app-service', subset: 'v2' }, weight: 100 },
      ],
    });
    expect(readIstioSplit(withHeader, versioned, header)).toEqual({
      canaryWeight: 5,
      headerRoute: true,
    });
    // setting it again does not add a second one
    const again = applyIstioSplit(
      withHeader,
      versioned,
      { canaryWeight: 50, headerRoute: true },
      header,
    );
    expect(again.spec.http).toHaveLength(2);
    const removed = applyIstioSplit(
      again,
      versioned,
      { canaryWeight: 50, headerRoute: false },
      header,
    );
    expect(removed.spec.http).toHaveLength(1);
    expect(readIstioSplit(removed, versioned, header)).toEqual({
      canaryWeight: 50,
      headerRoute: false,
    });
  });

  it('finalizes to the canary subset alone', () => {
    const mid = applyIstioSplit(
      allV1,
      versioned,
      { canaryWeight: 75, headerRoute: true },
      header,
    );
    const done = finalizeIstioRoute(mid, versioned, 'v2');
    expect(done.spec.http).toEqual([
      {
        route: [
          {
            destination: { host: 'my-app-service', subset: 'v2' },
            weight: 100,
          },
        ],
      },
    ]);
  });

  it('adds the canary subset to the DestinationRule with the version label', () => {
    const dr = parseManifest<DestinationRule>(SEED_000_DESTINATION_RULE);
    expect(withSubset(dr, 'v2', 'v1')).toBeUndefined();
    const onlyV1 = {
      ...dr,
      spec: { ...dr.spec, subsets: [dr.spec.subsets![0]] },
    };
    const next = withSubset(onlyV1, 'v2', 'v1')!;
    expect(next.spec.subsets).toEqual(dr.spec.subsets);
    const v3 = withSubset(dr, 'v3', 'v2')!;
    expect(v3.spec.subsets![2]).toEqual({
      name: 'v3',
      labels: { version: 'v3' },
    });
  });
});

describe('fixed subsets with a sticky header route (seed 002)', () => {
  const [vs] = parseManifests<VirtualService>(SEED_002_ISTIO);

  it('finds the weighted route after the header route', () => {
    expect(primaryRouteIndex(vs, 'api-service', 'default')).toBe(1);
    expect(headerRouteIndex(vs, fixed, header)).toBe(0);
    expect(headerRouteIndex(vs, fixed)).toBe(0);
    expect(
      headerRouteIndex(vs, fixed, { name: 'x-canary-user', value: 'false' }),
    ).toBe(-1);
  });

  it('reads 5 % with the header route', () => {
    expect(readIstioSplit(vs, fixed, header)).toEqual({
      canaryWeight: 5,
      headerRoute: true,
    });
  });

  it('keeps the header route while the weight moves', () => {
    for (const weight of [25, 50, 75, 100]) {
      const next = applyIstioSplit(
        vs,
        fixed,
        { canaryWeight: weight, headerRoute: true },
        header,
      );
      expect(next.spec.http![0]).toEqual(vs.spec.http![0]);
      expect(
        next.spec.http![1].route!.map(d => [d.destination.subset, d.weight]),
      ).toEqual([
        ['stable', 100 - weight],
        ['canary', weight],
      ]);
    }
  });

  it('finalizes to stable alone and drops the header route', () => {
    const done = finalizeIstioRoute(vs, fixed, 'stable');
    expect(done.spec.http).toEqual([
      {
        route: [
          {
            destination: { host: 'api-service', subset: 'stable' },
            weight: 100,
          },
        ],
      },
    ]);
    expect(readIstioSplit(done, fixed, header)).toEqual({
      canaryWeight: 0,
      headerRoute: false,
    });
  });

  it('leaves routes to other services alone', () => {
    const other = {
      route: [{ destination: { host: 'reviews', subset: 'v1' }, weight: 100 }],
    };
    const mixed: VirtualService = {
      ...vs,
      spec: { ...vs.spec, http: [other, ...vs.spec.http!] },
    };
    const next = applyIstioSplit(
      mixed,
      fixed,
      { canaryWeight: 50, headerRoute: false },
      header,
    );
    expect(next.spec.http![0]).toEqual(other);
    expect(next.spec.http).toHaveLength(2);
    expect(readIstioSplit(next, fixed, header).canaryWeight).toBe(50);
  });
});
