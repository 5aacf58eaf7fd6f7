import {
  applyHttpRouteSplit,
  finalizeHttpRoute,
  readHttpRouteSplit,
  weightedRuleIndex,
} from './gatewayRoutes';
import { httpRouteBackends } from './GatewayApiTrafficProvider';
import { HTTPRoute } from './objects';
import { parseManifest } from './__fixtures__/seedManifests';

// The shape of the demo's storefront: seed 002's stable/canary split on Gateway API.
const STOREFRONT = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: storefront
  namespace: demo
  resourceVersion: "7"
spec:
  parentRefs:
  - name: demo-gateway
  hostnames: ["storefront.demo.example"]
  rules:
  - matches:
    - path: { type: PathPrefix, value: / }
    backendRefs:
    - name: storefront-stable
      port: 80
      weight: 100
    - name: storefront-canary
      port: 80
      weight: 0
`;
const backends = { stable: 'storefront-stable', canary: 'storefront-canary' };
const header = { name: 'x-canary-user', value: 'true' };

describe('Gateway API HTTPRoute split', () => {
  const route = parseManifest<HTTPRoute>(STOREFRONT);

  it('finds the stable and canary Services of the component', () => {
    expect(httpRouteBackends(route, 'storefront')).toEqual(backends);
    expect(httpRouteBackends(route, 'checkout')).toBeUndefined();
  });

  it.each([5, 25, 50, 75, 100])('writes and reads %i %%', weight => {
    const next = applyHttpRouteSplit(
      route,
      backends,
      { canaryWeight: weight, headerRoute: false },
      header,
    );
    expect(next.spec.rules![0].backendRefs).toEqual([
      { name: 'storefront-stable', port: 80, weight: 100 - weight },
      { name: 'storefront-canary', port: 80, weight },
    ]);
    expect(next.metadata.resourceVersion).toBe('7');
    expect(readHttpRouteSplit(next, backends)).toEqual({
      canaryWeight: weight,
      headerRoute: false,
    });
  });

  it('adds the canary backendRef when the route only knows stable', () => {
    const onlyStable = parseManifest<HTTPRoute>(STOREFRONT);
    onlyStable.spec.rules![0].backendRefs = [
      { name: 'storefront-stable', port: 80 },
    ];
    expect(readHttpRouteSplit(onlyStable, backends).canaryWeight).toBe(0);
    const next = applyHttpRouteSplit(
      onlyStable,
      backends,
      { canaryWeight: 25, headerRoute: false },
      header,
    );
    expect(next.spec.rules![0].backendRefs).toEqual([
      { name: 'storefront-stable', port: 80, weight: 75 },
      { name: 'storefront-canary', port: 80, weight: 25 },
    ]);
  });

  it('adds a header rule with the same path match and removes it on finalize', () => {
    const next = applyHttpRouteSplit(
      route,
      backends,
      { canaryWeight: 50, headerRoute: true },
      header,
    );
    expect(next.spec.rules).toHaveLength(2);
    expect(next.spec.rules![0]).toEqual({
      matches: [
        {
          path: { type: 'PathPrefix', value: '/' },
          headers: [{ type: 'Exact', name: 'x-canary-user', value: 'true' }],
        },
      ],
      backendRefs: [{ name: 'storefront-canary', port: 80, weight: 1 }],
    });
    expect(weightedRuleIndex(next, backends)).toBe(1);
    expect(readHttpRouteSplit(next, backends, header)).toEqual({
      canaryWeight: 50,
      headerRoute: true,
    });
    const again = applyHttpRouteSplit(
      next,
      backends,
      { canaryWeight: 75, headerRoute: true },
      header,
    );
    expect(again.spec.rules).toHaveLength(2);
    const done = finalizeHttpRoute(again, backends);
    expect(done.spec.rules).toHaveLength(1);
    expect(readHttpRouteSplit(done, backends, header)).toEqual({
      canaryWeight: 0,
      headerRoute: false,
    });
  });
});
