import * as k8s from '@kubernetes/client-node';
import { Sandbox, startSandbox } from '../sandbox';
import { behaviourOf } from './behaviour';
import { findResourceTypeByKind } from '../api/resourceTypes';

// Real servers and timers on a shared, loaded machine: generous deadlines.
jest.setTimeout(60_000);

const POD = findResourceTypeByKind('Pod')!;
const DEPLOYMENT = findResourceTypeByKind('Deployment')!;

const NS = 'wl';

function deployment(
  name: string,
  image: string,
  replicas: number,
  env: Array<{ name: string; value: string }> = [],
) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name, version: 'v1' } },
        spec: { containers: [{ name: 'app', image, env }] },
      },
    },
  };
}

async function until<T>(
  what: string,
  f: () => T | undefined | false,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise(r => setTimeout(r, 25));
  }
}

describe('pod behaviour from the template', () => {
  it('reads image tags and lets env vars override them', () => {
    expect(
      behaviourOf({ containers: [{ image: 'shop/checkout:v1' }] }),
    ).toEqual({
      errorRate: 0.002,
      latencyMedianMs: 40,
      latencyP99Ms: 120,
      crashLoop: false,
      oom: false,
    });
    expect(
      behaviourOf({ containers: [{ image: 'shop/checkout:v3-errors10' }] })
        .errorRate,
    ).toBeCloseTo(0.1);
    expect(
      behaviourOf({
        containers: [{ image: 'registry:5000/shop/checkout:v3-slow100' }],
      }).latencyP99Ms,
    ).toBeCloseTo(240);
    expect(
      behaviourOf({ containers: [{ image: 'shop/checkout:v3-crash' }] })
        .crashLoop,
    ).toBe(true);
    expect(
      behaviourOf({ containers: [{ image: 'shop/checkout:v3-oom' }] }).oom,
    ).toBe(true);
    const overridden = behaviourOf({
      containers: [
        {
          image: 'shop/checkout:v3-errors10-crash',
          env: [
            { name: 'SIM_ERROR_RATE', value: '0.25' },
            { name: 'SIM_CRASH_LOOP', value: 'false' },
            { name: 'SIM_LATENCY_MS', value: '80' },
            { name: 'SIM_LATENCY_P99_MS', value: '400' },
          ],
        },
      ],
    });
    expect(overridden).toMatchObject({
      errorRate: 0.25,
      crashLoop: false,
      latencyMedianMs: 80,
      latencyP99Ms: 400,
    });
  });
});

describe('simulated workloads', () => {
  let sb: Sandbox;
  let apps: k8s.AppsV1Api;
  let core: k8s.CoreV1Api;

  beforeAll(async () => {
    sb = await startSandbox({
      readinessDelayMs: 100,
      crashLoopRestartMs: 300,
      oomAfterMs: 300,
    });
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(sb.kubeconfigPath);
    apps = kc.makeApiClient(k8s.AppsV1Api);
    core = kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: NS } } });
  });

  afterAll(async () => {
    await sb?.stop();
  });

  it('brings pods up with real-looking names and follows with the Deployment status', async () => {
    await apps.createNamespacedDeployment({
      namespace: NS,
      body: deployment('web', 'shop/web:v1', 3),
    });
    const ready = await sb.waitForDeployment(NS, 'web');
    expect(ready.status).toMatchObject({
      replicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
      updatedReplicas: 3,
      observedGeneration: 1,
    });
    const pods = (
      await core.listNamespacedPod({ namespace: NS, labelSelector: 'app=web' })
    ).items;
    expect(pods).toHaveLength(3);
    for (const p of pods) {
      expect(p.metadata?.name).toMatch(/^web-[a-z0-9]{10}-[a-z0-9]{5}$/);
      expect(p.status?.conditions?.find(c => c.type === 'Ready')?.status).toBe(
        'True',
      );
      expect(p.status?.containerStatuses?.[0]).toMatchObject({
        ready: true,
        restartCount: 0,
      });
    }
    await apps.patchNamespacedDeploymentScale(
      { name: 'web', namespace: NS, body: { spec: { replicas: 1 } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await until(
      'scale down',
      () =>
        sb.store.list(POD, NS).filter(p => p.metadata.labels.app === 'web')
          .length === 1,
    );
    const d = await sb.waitForDeployment(NS, 'web');
    expect(d.status.observedGeneration).toBe(2);
  });

  it('replaces pods when the template changes', async () => {
    await apps.createNamespacedDeployment({
      namespace: NS,
      body: deployment('roll', 'shop/roll:v1', 2),
    });
    await sb.waitForDeployment(NS, 'roll');
    const before = (
      await core.listNamespacedPod({ namespace: NS, labelSelector: 'app=roll' })
    ).items.map(p => p.metadata?.name);
    await apps.patchNamespacedDeployment(
      {
        name: 'roll',
        namespace: NS,
        body: {
          spec: {
            template: {
              spec: { containers: [{ name: 'app', image: 'shop/roll:v2' }] },
            },
          },
        },
      },
      k8s.setHeaderOptions(
        'Content-Type',
        k8s.PatchStrategy.StrategicMergePatch,
      ),
    );
    await until('new pods only', () => {
      const d = sb.store.get(DEPLOYMENT, NS, 'roll');
      return (
        d?.status?.observedGeneration === 2 &&
        d.status.updatedReplicas === 2 &&
        d.status.replicas === 2 &&
        d.status.availableReplicas === 2
      );
    });
    const after = (
      await core.listNamespacedPod({ namespace: NS, labelSelector: 'app=roll' })
    ).items;
    expect(after).toHaveLength(2);
    for (const p of after) {
      expect(before).not.toContain(p.metadata?.name);
      expect(p.spec?.containers[0].image).toBe('shop/roll:v2');
    }
  });

  it('keeps revisions like the deployment controller and reuses a ReplicaSet on rollback', async () => {
    const REVISION = 'deployment.kubernetes.io/revision';
    await apps.createNamespacedDeployment({
      namespace: NS,
      body: deployment('rev', 'shop/rev:v1', 1),
    });
    await sb.waitForDeployment(NS, 'rev');
    const setImage = (image: string) =>
      apps.patchNamespacedDeployment(
        {
          name: 'rev',
          namespace: NS,
          body: {
            spec: {
              template: { spec: { containers: [{ name: 'app', image }] } },
            },
          },
        },
        k8s.setHeaderOptions(
          'Content-Type',
          k8s.PatchStrategy.StrategicMergePatch,
        ),
      );
    expect(
      (await setImage('shop/rev:v2')).metadata?.annotations?.[REVISION],
    ).toBe('2');
    await sb.waitForDeployment(NS, 'rev');
    // Back to v1 (with the empty fields a typed client adds): same ReplicaSet, next revision.
    const back = await apps.patchNamespacedDeployment(
      {
        name: 'rev',
        namespace: NS,
        body: {
          spec: {
            template: {
              metadata: { creationTimestamp: null },
              spec: {
                containers: [
                  { name: 'app', image: 'shop/rev:v1', resources: {} },
                ],
              },
            },
          },
        },
      },
      k8s.setHeaderOptions(
        'Content-Type',
        k8s.PatchStrategy.StrategicMergePatch,
      ),
    );
    expect(back.metadata?.annotations?.[REVISION]).toBe('3');
    await sb.waitForDeployment(NS, 'rev');
    const replicaSets = (
      await apps.listNamespacedReplicaSet({
        namespace: NS,
        labelSelector: 'app=rev',
      })
    ).items;
    expect(replicaSets).toHaveLength(2);
    const active = replicaSets.filter(rs => rs.spec?.replicas === 1);
    expect(active).toHaveLength(1);
    expect(active[0].metadata?.annotations?.[REVISION]).toBe('3');
    expect(active[0].spec?.template?.spec?.containers[0].image).toBe(
      'shop/rev:v1',
    );
  });

  it('shows crash loops and OOM kills in container statuses', async () => {
    await apps.createNamespacedDeployment({
      namespace: NS,
      body: deployment('crashy', 'shop/crashy:v2-crash', 1),
    });
    await apps.createNamespacedDeployment({
      namespace: NS,
      body: deployment('hungry', 'shop/hungry:v1', 1, [
        { name: 'SIM_OOM', value: 'true' },
      ]),
    });
    const crashing = await pollPod(
      'app=crashy',
      p => (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 2,
    );
    expect(crashing.status?.containerStatuses?.[0]).toMatchObject({
      ready: false,
      state: { waiting: { reason: 'CrashLoopBackOff' } },
    });
    const oom = await pollPod(
      'app=hungry',
      p => (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1,
    );
    expect(
      oom.status?.containerStatuses?.[0]?.lastState?.terminated?.reason,
    ).toBe('OOMKilled');
    const d = (
      await apps.readNamespacedDeployment({ name: 'crashy', namespace: NS })
    ).status;
    expect(d?.readyReplicas ?? 0).toBe(0);
  });

  it('reports ProgressDeadlineExceeded when a rollout stops progressing', async () => {
    const body = deployment('stuck', 'shop/stuck:v2-crash', 1) as any;
    body.spec.progressDeadlineSeconds = 1;
    await apps.createNamespacedDeployment({ namespace: NS, body });
    const progressing = await until('the deadline', () => {
      const d = sb.store.get(DEPLOYMENT, NS, 'stuck');
      const c = d?.status?.conditions?.find(
        (x: any) => x.type === 'Progressing',
      );
      return c?.reason === 'ProgressDeadlineExceeded' ? c : undefined;
    });
    expect(progressing.status).toBe('False');
  });

  async function pollPod(
    selector: string,
    ok: (p: k8s.V1Pod) => boolean,
  ): Promise<k8s.V1Pod> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const pods = (
        await core.listNamespacedPod({ namespace: NS, labelSelector: selector })
      ).items;
      const hit = pods.find(ok);
      if (hit) return hit;
      if (Date.now() > deadline)
        throw new Error(
          `no pod matching ${selector} reached the state: ${JSON.stringify(
            pods.map(p => p.status),
          )}`,
        );
      await new Promise(r => setTimeout(r, 50));
    }
  }
});
