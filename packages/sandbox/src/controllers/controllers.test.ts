import { ObjectStore } from '../api/store';
import { findResourceTypeByKind } from '../api/resourceTypes';
import { applyManifests } from '../manifests';
import { WorkloadController } from '../workloads/controller';
import { ArgoRolloutsSimulator } from './argoRollouts';
import { FlaggerSimulator } from './flagger';
import { evaluateCondition, substituteArgs } from './analysisRuns';
import { argoRolloutsDemo } from './examples';

const ROLLOUT = findResourceTypeByKind('Rollout', 'argoproj.io')!;
const CANARY = findResourceTypeByKind('Canary', 'flagger.app')!;
const EVENT = findResourceTypeByKind('Event')!;
const RS = findResourceTypeByKind('ReplicaSet', 'apps')!;

// The canary example of the Argo Rollouts documentation (basic canary).
const rolloutYaml = (image: string) =>
  `apiVersion: v1
kind: Namespace
metadata: { name: demo }
---
${argoRolloutsDemo(image)}`;

function merge(store: ObjectStore, patch: any, subresource?: 'status') {
  const ro = store.get(ROLLOUT, 'demo', 'rollouts-demo')!;
  store.update(
    ROLLOUT,
    'demo',
    'rollouts-demo',
    {
      ...ro,
      spec: { ...ro.spec, ...(patch.spec ?? {}) },
      status: subresource ? { ...ro.status, ...patch.status } : ro.status,
    },
    subresource ? { subresource } : {},
  );
}

describe('ArgoRolloutsSimulator', () => {
  it('walks the documented canary steps and honours the kubectl plugin patches', async () => {
    const store = new ObjectStore();
    const workloads = new WorkloadController(store, { readinessDelayMs: 0 });
    const sim = new ArgoRolloutsSimulator(store);
    // A few passes of both controllers: pods become ready, steps move on until one waits.
    const settle = async () => {
      for (let i = 0; i < 6; i++) {
        await sim.reconcile();
        workloads.reconcile();
      }
    };
    applyManifests(store, rolloutYaml('argoproj/rollouts-demo:blue'));
    await settle();
    let ro = store.get(ROLLOUT, 'demo', 'rollouts-demo')!;
    expect(ro.status.phase).toBe('Healthy');
    expect(ro.status.currentStepIndex).toBe(4);
    expect(ro.status.stableRS).toBe(ro.status.currentPodHash);
    const stable = ro.status.stableRS;

    applyManifests(store, rolloutYaml('argoproj/rollouts-demo:yellow'));
    await settle();
    ro = store.get(ROLLOUT, 'demo', 'rollouts-demo')!;
    expect(ro.status.currentPodHash).not.toBe(stable);
    expect(ro.status.stableRS).toBe(stable);
    expect(ro.status.currentStepIndex).toBe(1);
    expect(ro.status.phase).toBe('Paused');
    expect(ro.status.message).toBe('CanaryPauseStep');
    expect(ro.status.controllerPause).toBe(true);
    expect(ro.status.pauseConditions).toEqual([
      { reason: 'CanaryPauseStep', startTime: expect.any(String) },
    ]);
    expect(ro.status.canary.weights.canary.weight).toBe(20);
    const canaryRs = store.get(
      RS,
      'demo',
      `rollouts-demo-${ro.status.currentPodHash}`,
    )!;
    expect(canaryRs.spec.replicas).toBe(1);
    expect(
      store.get(RS, 'demo', `rollouts-demo-${stable}`)!.spec.replicas,
    ).toBe(4);

    // `kubectl argo rollouts promote`: pause conditions cleared in status.
    merge(store, { status: { pauseConditions: null } }, 'status');
    await settle();
    ro = store.get(ROLLOUT, 'demo', 'rollouts-demo')!;
    expect(ro.status.currentStepIndex).toBe(3);
    expect(ro.status.canary.weights.canary.weight).toBe(40);
    expect(ro.status.phase).toBe('Paused');

    // pause / resume: spec.paused
    merge(store, { spec: { paused: true } });
    await settle();
    expect(store.get(ROLLOUT, 'demo', 'rollouts-demo')!.status.message).toBe(
      'manually paused',
    );
    merge(store, { spec: { paused: false } });

    // abort, then retry
    merge(store, { status: { abort: true } }, 'status');
    await settle();
    ro = store.get(ROLLOUT, 'demo', 'rollouts-demo')!;
    expect(ro.status.phase).toBe('Degraded');
    expect(ro.status.message).toMatch(
      /^RolloutAborted: Rollout aborted update to revision 2/,
    );
    expect(ro.status.canary.weights.canary.weight).toBe(0);
    merge(store, { status: { abort: false } }, 'status');
    await settle();
    expect(store.get(ROLLOUT, 'demo', 'rollouts-demo')!.status.phase).toBe(
      'Paused',
    );

    // promote --full
    merge(store, { status: { promoteFull: true } }, 'status');
    await settle();
    ro = store.get(ROLLOUT, 'demo', 'rollouts-demo')!;
    expect(ro.status.phase).toBe('Healthy');
    expect(ro.status.stableRS).toBe(ro.status.currentPodHash);
    const reasons = store
      .list(EVENT, 'demo')
      .filter(e => e.involvedObject.name === 'rollouts-demo')
      .map(e => e.reason);
    expect(reasons).toEqual(
      expect.arrayContaining([
        'RolloutUpdated',
        'RolloutPaused',
        'RolloutAborted',
        'RolloutCompleted',
      ]),
    );
  });

  it('evaluates the conditions of the documented analysis templates', () => {
    expect(evaluateCondition('result[0] >= 0.95', [0.97])).toBe(true);
    expect(evaluateCondition('result[0] >= 0.95', [0.9])).toBe(false);
    expect(evaluateCondition('len(result) == 0 || result[0] <= 0.01', [])).toBe(
      true,
    );
    expect(
      evaluateCondition('isNaN(result[0]) || result[0] <= 500', [700]),
    ).toBe(false);
    expect(() => evaluateCondition('result[0] in [1]', [1])).toThrow(
      /unsupported/,
    );
    expect(
      substituteArgs('svc=~"{{args.service-name}}"', [
        { name: 'service-name', value: 'a.b.svc' },
      ]),
    ).toBe('svc=~"a.b.svc"');
  });
});

describe('FlaggerSimulator', () => {
  const canaryYaml = (image: string) => `
apiVersion: v1
kind: Namespace
metadata: { name: test }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: podinfo, namespace: test }
spec:
  replicas: 2
  selector: { matchLabels: { app: podinfo } }
  template:
    metadata: { labels: { app: podinfo } }
    spec: { containers: [{ name: podinfod, image: "${image}" }] }
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: { name: podinfo, namespace: test }
spec:
  targetRef: { apiVersion: apps/v1, kind: Deployment, name: podinfo }
  service: { port: 9898 }
  analysis:
    interval: 1ms
    threshold: 2
    maxWeight: 50
    stepWeight: 25
    metrics:
    - name: request-success-rate
      thresholdRange: { min: 99 }
      interval: 1m
    webhooks:
    - name: gate
      type: confirm-promotion
      url: http://gate/gate/check
    - name: rollback
      type: rollback
      url: http://gate/rollback/check
`;

  it('progresses by stepWeight, stops at the confirm-promotion gate and rolls back on the rollback gate', async () => {
    const store = new ObjectStore();
    const gates = { promotion: false, rollback: false };
    const calls: any[] = [];
    let successRate = 100;
    const sim = new FlaggerSimulator(store, {
      query: async () => [{ metric: {}, value: [0, String(successRate)] }],
      callWebhook: async (url, payload) => {
        calls.push({ url, payload });
        return url.includes('rollback') ? gates.rollback : gates.promotion;
      },
    });
    const get = () => store.get(CANARY, 'test', 'podinfo')!.status;
    const tick = async (n = 1) => {
      for (let i = 0; i < n; i++) {
        await new Promise(r => setTimeout(r, 2));
        await sim.reconcile();
      }
    };
    applyManifests(store, canaryYaml('ghcr.io/stefanprodan/podinfo:6.0.0'));
    await tick();
    expect(get().phase).toBe('Initialized');
    applyManifests(store, canaryYaml('ghcr.io/stefanprodan/podinfo:6.0.1'));
    await tick();
    expect(get().phase).toBe('Progressing');
    await tick();
    expect(get().canaryWeight).toBe(25);
    await tick();
    expect(get().canaryWeight).toBe(50);
    await tick();
    expect(get().phase).toBe('WaitingPromotion');
    expect(calls.at(-1).payload).toMatchObject({
      name: 'podinfo',
      namespace: 'test',
      type: 'confirm-promotion',
      checksum: get().lastAppliedSpec,
    });

    // A failing metric counts failed checks up to the threshold.
    successRate = 80;
    await tick();
    expect(get().failedChecks).toBe(1);
    expect(get().phase).toBe('WaitingPromotion');

    gates.rollback = true;
    await tick();
    expect(get().phase).toBe('Failed');
    expect(get().canaryWeight).toBe(0);
    expect(get().conditions[0]).toMatchObject({
      type: 'Promoted',
      status: 'False',
      reason: 'Failed',
    });
    const messages = store.list(EVENT, 'test').map(e => e.message);
    expect(messages).toEqual(
      expect.arrayContaining([
        'Advance podinfo.test canary weight 25',
        'Halt podinfo.test advancement request-success-rate 80.00 < 99',
        'Rolling back podinfo.test manual webhook invoked',
      ]),
    );
  });
});
