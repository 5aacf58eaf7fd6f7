import { createHash } from 'node:crypto';
import { K8sObject, ObjectStore } from '../api/store';
import { kindType as rt } from '../api/resourceTypes';
import { templateHash } from '../workloads/controller';
import { isPodReady } from '../workloads/podStatus';
import { durationMs, recordEvent, timestamp } from './events';
import { PromQuery, measureAnalysisRun } from './analysisRuns';
import { ReconcileLoop, controllerOwnerReference } from './loop';

const COMPONENT = 'rollouts-controller';
const HASH_LABEL = 'rollouts-pod-template-hash';
const REVISION = 'rollout.argoproj.io/revision';

function condition(
  type: string,
  status: 'True' | 'False' | 'Unknown',
  reason: string,
  message: string,
  previous: K8sObject[] | undefined,
) {
  const now = timestamp();
  const old = previous?.find(c => c.type === type);
  return {
    type,
    status,
    reason,
    message,
    lastUpdateTime: now,
    lastTransitionTime:
      old && old.status === status ? old.lastTransitionTime : now,
  };
}

function progressingReason(
  aborted: boolean,
  paused: boolean,
  updating: boolean,
): string {
  if (aborted) return 'RolloutAborted';
  if (paused) return 'RolloutPaused';
  return updating ? 'ReplicaSetUpdated' : 'NewReplicaSetAvailable';
}

/**
 * The weight of the last `setWeight` up to and including step `index` (100
 * once every step is done), as Argo's current set weight.
 */
export function weightAt(steps: K8sObject[], index: number): number {
  if (index >= steps.length) return 100;
  let weight = 0;
  for (let i = 0; i <= index; i++) {
    if (typeof steps[i].setWeight === 'number') weight = steps[i].setWeight;
  }
  return weight;
}

/**
 * A stand-in for the Argo Rollouts controller, canary strategy: it reads
 * `spec.strategy.canary.steps` (setWeight, pause with or without duration,
 * analysis) and writes the status fields and conditions the real
 * controller writes (`currentPodHash`, `stableRS`, `currentStepIndex`,
 * `pauseConditions`, `controllerPause`, `abort`, `promoteFull`, `phase`,
 * `message`, `canary.weights`, `canary.currentStepAnalysisRunStatus`),
 * owns one ReplicaSet per pod template labelled
 * `rollouts-pod-template-hash` and scales them by the step's weight, so
 * traffic follows the replica ratio (and the Istio VirtualService named in
 * `trafficRouting.istio`, when there is one). It honours exactly the
 * patches `kubectl argo rollouts promote / abort / retry / pause` send.
 */
export class ArgoRolloutsSimulator extends ReconcileLoop {
  constructor(
    private readonly store: ObjectStore,
    private readonly options: { tickMs?: number; query?: PromQuery } = {},
  ) {
    super(options.tickMs);
  }

  protected async reconcileOnce(): Promise<void> {
    for (const run of this.store.list(rt('AnalysisRun'))) {
      if (run.status?.phase && run.status.phase !== 'Running') continue;
      const status = await measureAnalysisRun(run, this.options.query);
      this.write(() =>
        this.store.update(
          rt('AnalysisRun'),
          run.metadata.namespace,
          run.metadata.name,
          { ...run, status },
          { subresource: 'status' },
        ),
      );
    }
    for (const ro of this.store.list(rt('Rollout'))) {
      this.reconcileRollout(ro);
    }
  }

  private write<T>(fn: () => T): T | undefined {
    try {
      return fn();
    } catch {
      return undefined; // a concurrent write won; the next tick retries
    }
  }

  private templateOf(ro: K8sObject): K8sObject | undefined {
    if (ro.spec?.template) return ro.spec.template;
    const ref = ro.spec?.workloadRef;
    if (ref?.kind === 'Deployment' && ref.name) {
      return this.store.get(rt('Deployment'), ro.metadata.namespace, ref.name)
        ?.spec?.template;
    }
    return undefined;
  }

  private reconcileRollout(current: K8sObject) {
    let ro = current;
    const ns = ro.metadata.namespace;
    const template = this.templateOf(ro);
    const canary = ro.spec?.strategy?.canary;
    if (!template || !canary) return;
    const steps: K8sObject[] = canary.steps ?? [];
    const hash = templateHash(template);
    const st: K8sObject = JSON.parse(JSON.stringify(ro.status ?? {}));
    const replicas = ro.spec.replicas ?? 1;
    // `kubectl apply` may drop the annotation; the ReplicaSets keep theirs.
    let revision = Math.max(
      Number(ro.metadata.annotations?.[REVISION] ?? 0),
      ...this.store
        .list(rt('ReplicaSet'), ns)
        .filter(rs =>
          (rs.metadata.ownerReferences ?? []).some(
            (r: K8sObject) => r.uid === ro.metadata.uid,
          ),
        )
        .map(rs => Number(rs.metadata.annotations?.[REVISION] ?? 0)),
    );
    const events: Array<['Normal' | 'Warning', string, string]> = [];

    if (!st.stableRS) {
      st.stableRS = hash;
      st.currentPodHash = hash;
      st.currentStepIndex = steps.length;
      revision = Math.max(revision, 1);
      events.push([
        'Normal',
        'RolloutUpdated',
        `Rollout updated to revision ${revision}`,
      ]);
    } else if (st.currentPodHash !== hash) {
      revision += 1;
      st.currentPodHash = hash;
      st.currentStepIndex = 0;
      delete st.abort;
      delete st.abortedAt;
      delete st.pauseConditions;
      delete st.controllerPause;
      delete st.promoteFull;
      delete st.canary?.currentStepAnalysisRunStatus;
      events.push([
        'Normal',
        'RolloutUpdated',
        `Rollout updated to revision ${revision}`,
      ]);
    }

    const updating = st.currentPodHash !== st.stableRS;
    let phase = 'Healthy';
    let message: string | undefined;
    if (!updating) {
      st.currentStepIndex = steps.length;
    } else if (st.abort) {
      phase = 'Degraded';
      const analysisMessage = st.canary?.currentStepAnalysisRunStatus?.message;
      message = `RolloutAborted: Rollout aborted update to revision ${revision}${
        analysisMessage ? `: ${analysisMessage}` : ''
      }`;
      // Aborting goes back to the start: a retry walks every step again.
      st.currentStepIndex = 0;
      delete st.pauseConditions;
      delete st.controllerPause;
      if (!st.abortedAt) {
        st.abortedAt = timestamp();
        events.push(['Warning', 'RolloutAborted', message]);
      }
    } else if (st.promoteFull) {
      delete st.promoteFull;
      delete st.pauseConditions;
      delete st.controllerPause;
      st.currentStepIndex = steps.length;
      events.push(['Normal', 'RolloutPromotedFull', 'Rollout fully promoted']);
    } else if (ro.spec.paused) {
      phase = 'Paused';
      message = 'manually paused';
    } else {
      const outcome = this.step(ro, st, steps, events);
      phase = outcome.phase;
      message = outcome.message;
    }

    if (updating && !st.abort && st.currentStepIndex >= steps.length) {
      st.stableRS = st.currentPodHash;
      delete st.canary?.currentStepAnalysisRunStatus;
      phase = 'Healthy';
      message = undefined;
      events.push([
        'Normal',
        'RolloutCompleted',
        `Rollout completed update to revision ${revision} (${hash}): Completed all ${steps.length} canary steps`,
      ]);
    }

    const canaryWeight =
      st.currentPodHash === st.stableRS || st.abort
        ? 0
        : weightAt(steps, st.currentStepIndex);
    const { ready, available, updated, total } = this.scaleReplicaSets(
      ro,
      template,
      st,
      replicas,
      canaryWeight,
      revision,
    );
    this.routeIstio(ro, st, canaryWeight);

    st.phase = phase;
    if (message) st.message = message;
    else delete st.message;
    st.observedGeneration = String(ro.metadata.generation ?? 1);
    st.currentStepHash = createHash('sha256')
      .update(JSON.stringify(steps))
      .digest('hex')
      .slice(0, 10);
    st.replicas = total;
    st.updatedReplicas = updated;
    st.readyReplicas = ready;
    st.availableReplicas = available;
    st.selector = Object.entries(ro.spec.selector?.matchLabels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    st.canary = {
      ...(st.canary ?? {}),
      weights: {
        canary: { weight: canaryWeight, podTemplateHash: st.currentPodHash },
        stable: { weight: 100 - canaryWeight, podTemplateHash: st.stableRS },
      },
    };
    const paused = phase === 'Paused';
    st.conditions = [
      condition(
        'Progressing',
        st.abort ? 'False' : 'True',
        progressingReason(Boolean(st.abort), paused, updating),
        message ?? `Rollout "${ro.metadata.name}" has successfully progressed.`,
        ro.status?.conditions,
      ),
      condition(
        'Available',
        available >= Math.min(1, replicas) ? 'True' : 'False',
        available >= Math.min(1, replicas)
          ? 'AvailableReason'
          : 'ReplicaSetUpdated',
        `Rollout has ${available} available replicas`,
        ro.status?.conditions,
      ),
      condition(
        'Paused',
        paused ? 'True' : 'False',
        paused ? 'RolloutPaused' : 'RolloutResumed',
        paused ? `Rollout is paused` : 'Rollout is resumed',
        ro.status?.conditions,
      ),
      condition(
        'Healthy',
        phase === 'Healthy' ? 'True' : 'False',
        phase === 'Healthy' ? 'RolloutHealthy' : 'RolloutHealthyReason',
        phase === 'Healthy' ? 'Rollout is healthy' : 'Rollout is not healthy',
        ro.status?.conditions,
      ),
      condition(
        'Completed',
        !updating || st.currentPodHash === st.stableRS ? 'True' : 'False',
        !updating ? 'RolloutCompleted' : 'RolloutNotCompleted',
        !updating
          ? 'Rollout completed update to revision'
          : 'Rollout not completed',
        ro.status?.conditions,
      ),
    ];

    if (String(revision) !== ro.metadata.annotations?.[REVISION]) {
      const stored = this.write(() =>
        this.store.update(rt('Rollout'), ns, ro.metadata.name, {
          ...ro,
          metadata: {
            ...ro.metadata,
            annotations: {
              ...(ro.metadata.annotations ?? {}),
              [REVISION]: String(revision),
            },
          },
        }),
      );
      if (!stored) return;
      ro = stored;
    }
    const written = this.write(() =>
      this.store.update(
        rt('Rollout'),
        ns,
        ro.metadata.name,
        { ...ro, status: st },
        {
          subresource: 'status',
        },
      ),
    );
    if (written) {
      for (const [type, reason, text] of events) {
        recordEvent(this.store, COMPONENT, written, type, reason, text);
      }
    }
  }

  /** Works through the steps from `currentStepIndex` until one waits. */
  private step(
    ro: K8sObject,
    st: K8sObject,
    steps: K8sObject[],
    events: Array<['Normal' | 'Warning', string, string]>,
  ): { phase: string; message?: string } {
    for (let guard = 0; guard < steps.length + 1; guard++) {
      const index: number = st.currentStepIndex ?? 0;
      const step = steps[index];
      if (!step) return { phase: 'Healthy' };
      const done = (what: string) => {
        st.currentStepIndex = index + 1;
        events.push([
          'Normal',
          'RolloutStepCompleted',
          `Rollout step ${index + 1}/${steps.length} completed (${what})`,
        ]);
      };
      if (typeof step.setWeight === 'number') {
        // Like Argo, a setWeight step completes once the canary ReplicaSet
        // has the replicas for that weight available.
        const want = Math.ceil(
          ((ro.spec.replicas ?? 1) * step.setWeight) / 100,
        );
        const rs = this.store.get(
          rt('ReplicaSet'),
          ro.metadata.namespace,
          `${ro.metadata.name}-${st.currentPodHash}`,
        );
        if (
          !rs ||
          (rs.spec?.replicas ?? 0) < want ||
          (rs.status?.availableReplicas ?? 0) < want
        ) {
          return {
            phase: 'Progressing',
            message: 'more replicas need to be updated',
          };
        }
        done(`setWeight: ${step.setWeight}`);
        continue;
      }
      if (step.pause !== undefined) {
        const conditions: K8sObject[] = st.pauseConditions ?? [];
        const mine = conditions.find(c => c.reason === 'CanaryPauseStep');
        if (!mine) {
          if (st.controllerPause) {
            // The pause conditions were cleared while the controller had
            // paused: that is a promote, so the step is done.
            delete st.controllerPause;
            delete st.pauseConditions;
            events.push(['Normal', 'RolloutResumed', 'Rollout is resumed']);
            done('pause');
            continue;
          }
          st.pauseConditions = [
            ...conditions,
            { reason: 'CanaryPauseStep', startTime: timestamp() },
          ];
          st.controllerPause = true;
          events.push([
            'Normal',
            'RolloutPaused',
            'Rollout is paused (CanaryPauseStep)',
          ]);
          return { phase: 'Paused', message: 'CanaryPauseStep' };
        }
        const duration = durationMs(step.pause?.duration);
        if (
          duration !== undefined &&
          Date.now() - Date.parse(mine.startTime) >= duration
        ) {
          delete st.pauseConditions;
          delete st.controllerPause;
          events.push(['Normal', 'RolloutResumed', 'Rollout is resumed']);
          done(`pause: ${step.pause.duration}`);
          continue;
        }
        return { phase: 'Paused', message: 'CanaryPauseStep' };
      }
      if (step.analysis) {
        const run = this.ensureAnalysisRun(ro, st, index, step.analysis);
        const runPhase = run?.status?.phase ?? 'Pending';
        st.canary = {
          ...(st.canary ?? {}),
          currentStepAnalysisRunStatus: {
            name: run?.metadata.name,
            status: runPhase,
            ...(run?.status?.message ? { message: run.status.message } : {}),
          },
        };
        if (runPhase === 'Successful') {
          done('analysis');
          continue;
        }
        if (runPhase === 'Failed' || runPhase === 'Error') {
          st.abort = true;
          st.abortedAt = timestamp();
          const message = `RolloutAborted: Rollout aborted update to revision ${
            ro.metadata.annotations?.[REVISION] ?? ''
          }: ${run?.status?.message ?? `analysis ${runPhase}`}`;
          events.push([
            'Warning',
            'AnalysisRunFailed',
            `Step Analysis Run '${run?.metadata.name}' Status New: '${runPhase}' Previous: 'Running'`,
          ]);
          events.push(['Warning', 'RolloutAborted', message]);
          return { phase: 'Degraded', message };
        }
        if (runPhase === 'Inconclusive') {
          st.pauseConditions = [
            { reason: 'AnalysisRunInconclusive', startTime: timestamp() },
          ];
          st.controllerPause = true;
          return { phase: 'Paused', message: 'AnalysisRunInconclusive' };
        }
        return {
          phase: 'Progressing',
          message: 'waiting for analysis to complete',
        };
      }
      // Steps the sandbox does not simulate (experiment, setCanaryScale, …) pass.
      done(Object.keys(step)[0] ?? 'step');
    }
    return { phase: 'Progressing' };
  }

  private ensureAnalysisRun(
    ro: K8sObject,
    st: K8sObject,
    index: number,
    analysis: K8sObject,
  ): K8sObject | undefined {
    const ns = ro.metadata.namespace;
    const revision = ro.metadata.annotations?.[REVISION] ?? '1';
    const name = `${ro.metadata.name}-${st.currentPodHash}-${revision}-${index}`;
    const existing = this.store.get(rt('AnalysisRun'), ns, name);
    if (existing) return existing;
    const metrics: K8sObject[] = [];
    const args: K8sObject[] = [];
    for (const ref of analysis.templates ?? []) {
      const template = this.store.get(
        rt('AnalysisTemplate'),
        ns,
        ref.templateName,
      );
      if (!template) continue;
      metrics.push(...(template.spec?.metrics ?? []));
      for (const a of template.spec?.args ?? []) {
        if (!args.some(x => x.name === a.name)) args.push({ ...a });
      }
    }
    for (const a of analysis.args ?? []) {
      let value = a.value;
      const from = a.valueFrom?.podTemplateHashValue;
      if (from === 'Stable') value = st.stableRS;
      if (from === 'Latest') value = st.currentPodHash;
      const i = args.findIndex(x => x.name === a.name);
      if (i >= 0) args[i] = { name: a.name, value };
      else args.push({ name: a.name, value });
    }
    return this.write(() =>
      this.store.create(rt('AnalysisRun'), ns, {
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'AnalysisRun',
        metadata: {
          name,
          namespace: ns,
          labels: {
            [HASH_LABEL]: st.currentPodHash,
            'rollout-type': 'Step',
            'step-index': String(index),
            'rollouts.argoproj.io/revision': revision,
          },
          ownerReferences: [controllerOwnerReference(ro, 'Rollout')],
        },
        spec: { metrics, args },
        status: { phase: 'Running' },
      }),
    );
  }

  /** One ReplicaSet per pod template; stable and canary sized by the weight. */
  private scaleReplicaSets(
    ro: K8sObject,
    template: K8sObject,
    st: K8sObject,
    replicas: number,
    weight: number,
    revision: number,
  ) {
    const ns = ro.metadata.namespace;
    const owned = this.store
      .list(rt('ReplicaSet'), ns)
      .filter(rs =>
        (rs.metadata.ownerReferences ?? []).some(
          (r: K8sObject) => r.uid === ro.metadata.uid,
        ),
      );
    const canaryReplicas =
      st.currentPodHash === st.stableRS
        ? 0
        : Math.ceil((replicas * weight) / 100);
    const want = new Map<string, number>();
    want.set(
      st.stableRS,
      Math.max(
        replicas - canaryReplicas,
        st.currentPodHash === st.stableRS ? replicas : 0,
      ),
    );
    if (st.currentPodHash !== st.stableRS)
      want.set(st.currentPodHash, canaryReplicas);
    for (const rs of owned) {
      const hash = rs.metadata.labels?.[HASH_LABEL];
      const n = want.get(hash) ?? 0;
      if ((rs.spec.replicas ?? 0) !== n) {
        this.write(() =>
          this.store.update(rt('ReplicaSet'), ns, rs.metadata.name, {
            ...rs,
            spec: { ...rs.spec, replicas: n },
          }),
        );
      }
    }
    if (
      !owned.some(rs => rs.metadata.labels?.[HASH_LABEL] === st.currentPodHash)
    ) {
      const t = JSON.parse(JSON.stringify(template));
      t.metadata = {
        ...(t.metadata ?? {}),
        labels: {
          ...(t.metadata?.labels ?? {}),
          [HASH_LABEL]: st.currentPodHash,
        },
      };
      this.write(() =>
        this.store.create(rt('ReplicaSet'), ns, {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          metadata: {
            name: `${ro.metadata.name}-${st.currentPodHash}`,
            namespace: ns,
            labels: t.metadata.labels,
            annotations: { [REVISION]: String(revision) },
            ownerReferences: [
              controllerOwnerReference(ro, 'Rollout', {
                blockOwnerDeletion: true,
              }),
            ],
          },
          spec: {
            replicas: want.get(st.currentPodHash) ?? 0,
            selector: {
              matchLabels: {
                ...(ro.spec.selector?.matchLabels ?? {}),
                [HASH_LABEL]: st.currentPodHash,
              },
            },
            template: t,
          },
        }),
      );
    }
    const pods = this.store
      .list(rt('Pod'), ns)
      .filter(p =>
        owned.some(rs =>
          (p.metadata.ownerReferences ?? []).some(
            (r: K8sObject) => r.uid === rs.metadata.uid,
          ),
        ),
      );
    const readyPods = pods.filter(p => isPodReady(p));
    return {
      total: pods.length,
      ready: readyPods.length,
      available: readyPods.length,
      updated: pods.filter(
        p => p.metadata.labels?.[HASH_LABEL] === st.currentPodHash,
      ).length,
    };
  }

  /** With `trafficRouting.istio`, weights go to the VirtualService routes, as Argo writes them. */
  private routeIstio(ro: K8sObject, st: K8sObject, weight: number) {
    const canary = ro.spec.strategy.canary;
    const vsRef = canary.trafficRouting?.istio?.virtualService;
    if (!vsRef?.name || !canary.canaryService || !canary.stableService) return;
    const ns = ro.metadata.namespace;
    for (const [svcName, hash] of [
      [canary.canaryService, st.currentPodHash],
      [canary.stableService, st.stableRS],
    ] as const) {
      const svc = this.store.get(rt('Service'), ns, svcName);
      if (svc && svc.spec?.selector?.[HASH_LABEL] !== hash) {
        this.write(() =>
          this.store.update(rt('Service'), ns, svcName, {
            ...svc,
            spec: {
              ...svc.spec,
              selector: { ...(svc.spec.selector ?? {}), [HASH_LABEL]: hash },
            },
          }),
        );
      }
    }
    const vs = this.store.get(rt('VirtualService'), ns, vsRef.name);
    if (!vs) return;
    const routes: string[] | undefined = vsRef.routes;
    const http = (vs.spec?.http ?? []).map((route: K8sObject) => {
      if (routes?.length && !routes.includes(route.name)) return route;
      return {
        ...route,
        route: (route.route ?? []).map((d: K8sObject) => {
          const host = String(d.destination?.host ?? '').split('.')[0];
          if (host === canary.canaryService) return { ...d, weight };
          if (host === canary.stableService)
            return { ...d, weight: 100 - weight };
          return d;
        }),
      };
    });
    if (JSON.stringify(http) !== JSON.stringify(vs.spec.http)) {
      this.write(() =>
        this.store.update(rt('VirtualService'), ns, vs.metadata.name, {
          ...vs,
          spec: { ...vs.spec, http },
        }),
      );
    }
  }
}
