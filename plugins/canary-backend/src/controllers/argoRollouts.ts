import {
  AnalysisCheck,
  AnalysisResult,
  ExternalControlState,
  ExternalRolloutControl,
  Rollout,
  RolloutPhase,
  RolloutStep,
} from '@coalmine/backstage-plugin-canary-common';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { ConflictError } from '@backstage/errors';
import type { ClusterApis } from '../kubernetes/ClusterClients';
import { callCluster } from '../kubernetes/errors';
import { ARGO_ANALYSIS_RUN, ARGO_ROLLOUT, CustomObject } from './kinds';
import { controlState, firstReason } from './controls';

/** Coalmine's steps from Argo's: each setWeight a step; a pause after it holds or waits. */
export function argoSteps(steps: any[]): {
  steps: RolloutStep[];
  /** Coalmine step index for an Argo step index (the last setWeight at or before it). */
  indexOf: (argoIndex: number) => number;
} {
  const out: RolloutStep[] = [];
  const map: number[] = [];
  for (const s of steps) {
    if (typeof s.setWeight === 'number') {
      out.push({ weight: s.setWeight });
    } else if (s.pause !== undefined && out.length) {
      const last = out[out.length - 1];
      const d = s.pause?.duration;
      if (d === undefined) last.approval = true;
      else last.pauseSeconds = parseSeconds(d);
    }
    map.push(out.length - 1);
  }
  return {
    steps: out,
    // Like Argo's current set weight, the step being worked on counts.
    indexOf: i => (i < 0 ? -1 : map[Math.min(i, map.length - 1)] ?? -1),
  };
}

function parseSeconds(d: unknown): number | undefined {
  if (typeof d === 'number') return d;
  const m = /^(\d+)(s|m|h)?$/.exec(String(d));
  if (!m) return undefined;
  return Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] ?? 's']!;
}

const isUpdating = (ro: CustomObject) =>
  Boolean(ro.status?.currentPodHash) &&
  ro.status?.currentPodHash !== ro.status?.stableRS;

/** Argo's phase and pause state in Coalmine's words. */
export function argoPhase(ro: CustomObject): RolloutPhase {
  const st = ro.status ?? {};
  // Its controller has not reconciled it yet: nothing is known to have
  // succeeded (and a new revision applied now becomes its first).
  if (!st.currentPodHash) return 'Pending';
  if (!isUpdating(ro)) return st.phase === 'Degraded' ? 'Failed' : 'Succeeded';
  if (st.abort) return 'Aborted';
  if (st.phase === 'Degraded') return 'Failed';
  if (ro.spec?.paused) return 'Paused';
  const pauseStep = (st.pauseConditions ?? []).some(
    (c: any) => c.reason === 'CanaryPauseStep',
  );
  const step = ro.spec?.strategy?.canary?.steps?.[st.currentStepIndex ?? 0];
  if (pauseStep && step?.pause && step.pause.duration === undefined) {
    return 'AwaitingApproval';
  }
  if ((st.pauseConditions ?? []).length) return 'Paused';
  return 'Progressing';
}

/** Every control the tab shows for a Rollout, enabled or not, with the reason. */
export function argoControls(ro: CustomObject): ExternalControlState[] {
  const st = ro.status ?? {};
  const updating = isUpdating(ro);
  const paused = Boolean(ro.spec?.paused);
  const notUpdating = 'the Rollout is not updating to a new revision';
  const aborted = 'the Rollout is aborted; retry it first';
  const c = controlState;
  return [
    c(
      'promote',
      'Promote',
      'kubectl argo rollouts promote: clears status.pauseConditions (or moves status.currentStepIndex past the current step) and unpauses spec.paused',
      firstReason([!updating, notUpdating], [Boolean(st.abort), aborted]),
    ),
    c(
      'promote-full',
      'Full promote',
      'kubectl argo rollouts promote --full: sets status.promoteFull, skipping the remaining steps, pauses and analysis',
      !updating ? notUpdating : undefined,
    ),
    c(
      'abort',
      'Abort',
      'kubectl argo rollouts abort: sets status.abort; all traffic goes back to the stable ReplicaSet',
      firstReason(
        [!updating, notUpdating],
        [Boolean(st.abort), 'the Rollout is already aborted'],
      ),
    ),
    c(
      'retry',
      'Retry',
      'kubectl argo rollouts retry rollout: clears status.abort; the update starts again from the first step',
      st.abort ? undefined : 'only an aborted Rollout can be retried',
    ),
    c(
      'pause',
      'Pause',
      'kubectl argo rollouts pause: sets spec.paused',
      firstReason(
        [paused, 'the Rollout is already paused'],
        [!updating, notUpdating],
      ),
    ),
    c(
      'resume',
      'Resume',
      'kubectl argo rollouts resume: clears spec.paused (a pause step still waits for Promote)',
      paused
        ? undefined
        : 'the Rollout is not paused by hand (spec.paused is false)',
    ),
    c(
      'approve',
      'Approve',
      'no such control',
      'Argo Rollouts has no approval gates: a pause step without a duration waits for Promote',
    ),
  ];
}

function stepIndexOfArgo(ro: CustomObject): number {
  const steps = ro.spec?.strategy?.canary?.steps ?? [];
  const index = ro.status?.currentStepIndex;
  // No index yet: the controller reads it as the first step.
  return typeof index === 'number' ? Math.min(index, steps.length) : 0;
}

/**
 * The patches `kubectl argo rollouts <control>` sends (pkg/kubectl-argo-rollouts/cmd),
 * as [spec patch, status patch]; status patches go to the status subresource.
 */
export function argoPatches(
  ro: CustomObject,
  control: ExternalRolloutControl,
): { spec?: object; status?: object } {
  switch (control) {
    case 'abort':
      return { status: { abort: true } };
    case 'retry':
      return { status: { abort: false } };
    case 'pause':
      return { spec: { paused: true } };
    case 'resume':
      return { spec: { paused: false } };
    case 'promote-full':
      return ro.status?.currentPodHash !== ro.status?.stableRS
        ? { status: { promoteFull: true } }
        : {};
    case 'promote': {
      const out: { spec?: object; status?: object } = {};
      if (ro.spec?.paused) out.spec = { paused: false };
      if ((ro.status?.pauseConditions ?? []).length > 0) {
        out.status = { pauseConditions: null };
      } else if (ro.spec?.strategy?.canary) {
        const steps = ro.spec.strategy.canary.steps ?? [];
        let index = stepIndexOfArgo(ro);
        if (index < steps.length) index++;
        out.status = { pauseConditions: null, currentStepIndex: index };
      }
      return out;
    }
    default:
      return {};
  }
}

/** Applies one control to a Rollout exactly as the kubectl plugin does. */
export async function applyArgoControl(
  apis: ClusterApis,
  ro: CustomObject,
  control: ExternalRolloutControl,
): Promise<void> {
  const state = argoControls(ro).find(c => c.control === control);
  if (!state?.enabled) {
    throw new ConflictError(
      `Cannot ${control} Rollout ${ro.metadata.namespace}/${
        ro.metadata.name
      }: ${state?.reason ?? 'unknown control'}`,
    );
  }
  const { spec, status } = argoPatches(ro, control);
  const params = {
    group: ARGO_ROLLOUT.group,
    version: ARGO_ROLLOUT.version,
    plural: ARGO_ROLLOUT.plural,
    namespace: ro.metadata.namespace!,
    name: ro.metadata.name,
  };
  const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  const what = {
    kind: 'Rollout',
    namespace: params.namespace,
    name: params.name,
    verb: 'patch',
  };
  // Status first, then spec, like the plugin (the status subresource exists since v0.10).
  if (status) {
    await callCluster(what, () =>
      apis.custom.patchNamespacedCustomObjectStatus(
        { ...params, body: { status } },
        merge,
      ),
    );
  }
  if (spec) {
    await callCluster(what, () =>
      apis.custom.patchNamespacedCustomObject(
        { ...params, body: { spec } },
        merge,
      ),
    );
  }
}

/** The AnalysisRuns of the Rollout's current revision, newest first. */
export async function argoAnalysisRuns(
  apis: ClusterApis,
  ro: CustomObject,
): Promise<CustomObject[]> {
  const hash = ro.status?.currentPodHash;
  if (!hash) return [];
  try {
    const list = (await apis.custom.listNamespacedCustomObject({
      group: ARGO_ANALYSIS_RUN.group,
      version: ARGO_ANALYSIS_RUN.version,
      plural: ARGO_ANALYSIS_RUN.plural,
      namespace: ro.metadata.namespace!,
      labelSelector: `rollouts-pod-template-hash=${hash}`,
    })) as { items?: CustomObject[] };
    return (list.items ?? [])
      .filter(r =>
        (r.metadata.ownerReferences ?? []).some(o => o.uid === ro.metadata.uid),
      )
      .sort((a, b) =>
        String(b.metadata.creationTimestamp).localeCompare(
          String(a.metadata.creationTimestamp),
        ),
      );
  } catch {
    return []; // no AnalysisRun CRD, or not readable: the tab shows none
  }
}

function verdictOf(
  metricPhase: string | undefined,
  lastPhase: string | undefined,
): AnalysisCheck['verdict'] {
  if (metricPhase === 'Successful' || lastPhase === 'Successful') return 'pass';
  if (metricPhase === 'Failed' || lastPhase === 'Failed') return 'fail';
  return 'inconclusive';
}

function actionOf(runPhase: string): AnalysisResult['action'] {
  if (runPhase === 'Failed' || runPhase === 'Error') return 'rollback';
  if (runPhase === 'Successful') return 'advance';
  return 'hold';
}

/** One AnalysisRun as analysis results: one check per measurement of each metric. */
export function argoAnalysis(
  run: CustomObject,
  rolloutId: string,
  id: number,
): AnalysisResult {
  const metrics: any[] = run.spec?.metrics ?? [];
  const args: Array<{ name: string; value?: string }> = run.spec?.args ?? [];
  const checks: AnalysisCheck[] = [];
  let failed = 0;
  for (const result of run.status?.metricResults ?? []) {
    const metric = metrics.find(m => m.name === result.name) ?? {};
    const query = metric.provider?.prometheus?.query
      ? String(metric.provider.prometheus.query).replace(
          /\{\{\s*args\.([-\w.]+)\s*\}\}/g,
          (whole: string, n: string) =>
            args.find(a => a.name === n)?.value ?? whole,
        )
      : undefined;
    failed += Number(result.failed ?? 0);
    const last = (result.measurements ?? []).slice(-1)[0];
    const value = last?.value;
    const numeric = Number(String(value ?? '').replace(/[[\]]/g, ''));
    const condition = [
      metric.successCondition && `success when ${metric.successCondition}`,
      metric.failureCondition && `failure when ${metric.failureCondition}`,
    ]
      .filter(Boolean)
      .join('; ');
    checks.push({
      metric: result.name,
      judge: 'threshold',
      ...(query ? { query } : {}),
      canaryValue:
        Number.isFinite(numeric) && value !== undefined ? numeric : null,
      stableValue: null,
      bound: { text: condition || 'no condition' },
      verdict: verdictOf(result.phase, last?.phase),
      evidence: `${result.name}: ${result.phase}${
        value !== undefined ? `, last value ${value}` : ''
      } (${result.successful ?? 0} successful, ${result.failed ?? 0} failed, ${
        result.inconclusive ?? 0
      } inconclusive, ${result.error ?? 0} errors of ${
        result.count ?? 0
      } measurements; failureLimit ${metric.failureLimit ?? 0})${
        result.message ? ` — ${result.message}` : ''
      }`,
      details: {
        analysisRun: run.metadata.name,
        phase: result.phase ?? null,
        measurements: JSON.stringify(
          (result.measurements ?? []).map((m: any) => ({
            phase: m.phase,
            value: m.value,
            finishedAt: m.finishedAt,
          })),
        ),
      },
    });
  }
  const phase = run.status?.phase ?? 'Pending';
  return {
    id,
    rolloutId,
    time: String(
      run.status?.startedAt ??
        run.metadata.creationTimestamp ??
        new Date(0).toISOString(),
    ),
    stepIndex: Number(run.metadata.labels?.['step-index'] ?? -1),
    weight: 0,
    action: actionOf(phase),
    reason: `AnalysisRun ${run.metadata.name}: ${phase}${
      run.status?.message ? ` — ${run.status.message}` : ''
    }`,
    failedChecks: failed,
    checks,
  };
}

/** A Rollout in the API shape of Coalmine's own rollouts. */
export function argoToRollout(
  ro: CustomObject,
  base: { id: string; entityRef: string; cluster: string },
  lastAnalysis: AnalysisResult | null,
): Omit<Rollout, 'controller'> {
  const st = ro.status ?? {};
  const argo = argoSteps(ro.spec?.strategy?.canary?.steps ?? []);
  const phase = argoPhase(ro);
  const updating = isUpdating(ro);
  const weight = updating ? st.canary?.weights?.canary?.weight ?? 0 : 0;
  const times = (st.conditions ?? [])
    .map((c: any) => String(c.lastUpdateTime ?? ''))
    .filter(Boolean)
    .sort();
  const created = String(
    ro.metadata.creationTimestamp instanceof Date
      ? ro.metadata.creationTimestamp.toISOString()
      : ro.metadata.creationTimestamp ?? new Date(0).toISOString(),
  );
  const image = ro.spec?.template?.spec?.containers?.[0]?.image;
  const trafficRouting = ro.spec?.strategy?.canary?.trafficRouting ?? {};
  return {
    id: base.id,
    entityRef: base.entityRef,
    cluster: base.cluster,
    namespace: ro.metadata.namespace ?? 'default',
    policy: 'argo-rollouts',
    trafficProvider: Object.keys(trafficRouting)[0] ?? 'replicas',
    phase,
    stepIndex: updating
      ? argo.indexOf(stepIndexOfArgo(ro))
      : argo.steps.length - 1,
    steps: argo.steps,
    weight,
    actualWeight: updating ? weight : 0,
    stable: {
      name: `${ro.metadata.name}-${st.stableRS ?? ''}`,
      version: st.stableRS,
    },
    canary: {
      name: `${ro.metadata.name}-${st.currentPodHash ?? ''}`,
      version: st.currentPodHash,
      ...(image ? { image } : {}),
    },
    ...(st.message ? { message: String(st.message) } : {}),
    createdAt: created,
    updatedAt: times[times.length - 1] ?? created,
    finishedAt: updating ? null : times[times.length - 1] ?? null,
    nextStepAt: null,
    startedBy: 'argo-rollouts',
    lastAnalysis,
    controls: argoControls(ro),
  };
}
