import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSandbox } from './sandbox';
import { keepDemoState } from './demoState';

jest.setTimeout(30_000);

describe('keepDemoState', () => {
  it('brings the demo cluster back as it was after a restart', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-state-'));
    const file = path.join(dir, 'db', 'sandbox-cluster.json');
    const first = await startSandbox({
      prometheus: false,
      readinessDelayMs: 10,
    });
    const firstState = await keepDemoState(first, file);
    try {
      expect(firstState.restored).toBe(false);
      await first.applyDemoWorld();
      // A rollout's writes: a weight on the route, a Deployment scaled.
      const vs = first.writes({
        group: 'networking.istio.io',
        kind: 'VirtualService',
        namespace: 'demo',
        name: 'checkout',
      });
      const changed = JSON.parse(JSON.stringify(vs[vs.length - 1]));
      const route = changed.spec.http[changed.spec.http.length - 1].route;
      route[0].weight = 70;
      route.push({
        destination: { ...route[0].destination, subset: 'v2' },
        weight: 30,
      });
      delete changed.metadata.resourceVersion;
      await first.apply(changed);
      const deployment = JSON.parse(
        JSON.stringify(
          first
            .writes({
              group: 'apps',
              kind: 'Deployment',
              namespace: 'demo',
              name: 'checkout-v1',
            })
            .slice(-1)[0],
        ),
      );
      deployment.spec.replicas = 5;
      delete deployment.metadata.resourceVersion;
      await first.apply(deployment);
      await new Promise(r => setTimeout(r, 800));
    } finally {
      firstState.stop();
      await first.stop();
    }
    const second = await startSandbox({
      prometheus: false,
      readinessDelayMs: 10,
    });
    const secondState = await keepDemoState(second, file);
    try {
      expect(secondState.restored).toBe(true);
      const [vs] = second.writes({
        group: 'networking.istio.io',
        kind: 'VirtualService',
        namespace: 'demo',
        name: 'checkout',
      }) as any[];
      const main = vs.spec.http[vs.spec.http.length - 1];
      expect(main.route.map((r: any) => r.weight)).toEqual([70, 30]);
      const ready = await second.waitForDeployment(
        'demo',
        'checkout-v1',
        10_000,
      );
      expect((ready as any).spec.replicas).toBe(5);
      const [svc] = second.writes({
        kind: 'Service',
        namespace: 'demo',
        name: 'checkout',
      }) as any[];
      expect(svc.metadata.annotations['coalmine.io/entity']).toBe(
        'component:default/checkout',
      );
    } finally {
      secondState.stop();
      await second.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
