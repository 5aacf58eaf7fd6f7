import {
  AnalysisCheck,
  AnalysisResult,
  ExternalControlState,
  Rollout,
  RolloutEvent,
  RolloutPhase,
  RolloutStep,
} from '@coalmine/backstage-plugin-canary-common';
import type { CustomObject } from './kinds';
import type { FlaggerGate, GateRow } from './FlaggerGateStore';
import { controlState, firstReason } from './controls';

/** The path under the plugin's API where Flagger's webhooks ask Coalmine. */
export const FLAGGER_GATE_PATH = '/flagger/gates';

/** Flagger's phase in Coalmine's words. */
export function flaggerPhase(canary: CustomObject): RolloutPhase {
  switch (canary.status?.phase) {
    case 'Waiting':
    case 'WaitingPromotion':
      return 'AwaitingApproval';
    case 'Progressing':
      return 'Progressing';
    case 'Promoting':
    case 'Finalising':
      return 'Promoting';
    case 'Failed':
      return 'RolledBack';
    case 'Terminating':
    case 'Terminated':
      return 'Aborted';
    case 'Initializing':
    case undefined:
    case '':
      // Flagger has not initialised it yet.
      return 'Pending';
    default:
      // Initialized and Succeeded: nothing is being analysed.
      return 'Succeeded';
  }
}

/** The weights Flagger walks: `stepWeights`, or `stepWeight` up to `maxWeight`. */
export function flaggerSteps(canary: CustomObject): RolloutStep[] {
  const a = canary.spec?.analysis ?? {};
  const weights: number[] = [];
  if (Array.isArray(a.stepWeights) && a.stepWeights.length) {
    weights.push(...a.stepWeights.map(Number));
  } else {
    const step = Number(a.stepWeight ?? 10) || 10;
    const max = Number(a.maxWeight ?? 50) || 50;
    for (let w = step; w < max; w += step) weights.push(w);
    weights.push(max);
  }
  const steps: RolloutStep[] = weights.map(weight => ({ weight }));
  const hooks: any[] = a.webhooks ?? [];
  if (steps.length && hooks.some(h => h.type === 'confirm-promotion')) {
    steps[steps.length - 1].approval = true;
  }
  return steps;
}

/** The gate a webhook of the Canary asks Coalmine about, by webhook type. */
export function gateOfWebhook(type: string): FlaggerGate | undefined {
  switch (type) {
    case 'confirm-rollout':
    case 'confirm-promotion':
    case 'rollback':
      return type;
    case 'confirm-traffic-increase':
      return 'traffic-paused';
    default:
      return undefined;
  }
}

/** Webhooks of a type that point at Coalmine's gates. */
function servedBy(canary: CustomObject, type: string): boolean {
  return (canary.spec?.analysis?.webhooks ?? []).some(
    (h: any) =>
      h.type === type &&
      typeof h.url === 'string' &&
      h.url.includes(`${FLAGGER_GATE_PATH}/`),
  );
}

function missingHook(type: string) {
  return `the Canary has no ${type} webhook pointing at Coalmine (${FLAGGER_GATE_PATH}/<cluster>/${type})`;
}

/** Every control the tab shows for a Flagger Canary, enabled or not, with the reason. */
export function flaggerControls(
  canary: CustomObject,
  gates: GateRow[],
): ExternalControlState[] {
  const phase = canary.status?.phase;
  const checksum = canary.status?.lastAppliedSpec ?? null;
  const open = (g: FlaggerGate) =>
    gates.some(
      r => r.gate === g && (r.checksum === null || r.checksum === checksum),
    );
  const analysing = ['Progressing', 'Waiting', 'WaitingPromotion'].includes(
    phase,
  );
  const c = controlState;
  let approveReason: string | undefined;
  let approveWhat = 'confirm-promotion';
  if (phase === 'Waiting') approveWhat = 'confirm-rollout';
  if (phase !== 'Waiting' && phase !== 'WaitingPromotion') {
    approveReason =
      'no gate is waiting: Flagger asks at confirm-rollout (phase Waiting) or confirm-promotion (phase WaitingPromotion)';
  } else if (!servedBy(canary, approveWhat)) {
    approveReason = missingHook(approveWhat);
  } else if (open(approveWhat as FlaggerGate)) {
    approveReason = `the ${approveWhat} gate is already open for this revision`;
  }
  return [
    c(
      'approve',
      'Approve',
      `opens the ${approveWhat} gate for this revision; Flagger proceeds at its next check`,
      approveReason,
    ),
    c(
      'abort',
      'Roll back',
      'opens the rollback gate for this revision; Flagger rolls back at its next check',
      firstReason(
        [
          !analysing,
          'Flagger rolls back only a canary under analysis (Progressing, Waiting or WaitingPromotion)',
        ],
        [!servedBy(canary, 'rollback'), missingHook('rollback')],
        [
          open('rollback'),
          'the rollback gate is already open; Flagger rolls back at its next check',
        ],
      ),
    ),
    c(
      'pause',
      'Pause',
      'closes the confirm-traffic-increase gate: Flagger keeps the current weight',
      firstReason(
        [
          !servedBy(canary, 'confirm-traffic-increase'),
          `Flagger pauses only through a gate: ${missingHook(
            'confirm-traffic-increase',
          )}`,
        ],
        [open('traffic-paused'), 'the canary is already paused'],
        [!analysing, 'the canary is not under analysis'],
      ),
    ),
    c(
      'resume',
      'Resume',
      'opens the confirm-traffic-increase gate again',
      open('traffic-paused')
        ? undefined
        : 'the canary is not paused by Coalmine',
    ),
    c(
      'promote',
      'Promote',
      'no such control',
      'Flagger has no manual promote: approve the confirm-promotion gate when it waits, or set spec.skipAnalysis',
    ),
    c(
      'promote-full',
      'Full promote',
      'no such control',
      'Flagger has no full promote: set spec.skipAnalysis: true on the Canary',
    ),
    c(
      'retry',
      'Retry',
      'no such control',
      'Flagger retries a failed canary only on a new revision: change the pod template (e.g. kubectl rollout restart)',
    ),
  ];
}

/** Flagger's metric checks, from the spec and the events that report them. */
export function flaggerAnalysis(
  canary: CustomObject,
  events: RolloutEvent[],
  rolloutId: string,
): AnalysisResult | null {
  const metrics: any[] = canary.spec?.analysis?.metrics ?? [];
  const status = canary.status ?? {};
  if (!metrics.length && !status.failedChecks) return null;
  const since = String(status.lastTransitionTime ?? '');
  const recent = events.filter(e => !since || e.time >= since.slice(0, 19));
  const checks: AnalysisCheck[] = metrics.map(m => {
    const range = m.thresholdRange ?? {};
    const bound = {
      ...(range.min !== undefined ? { min: Number(range.min) } : {}),
      ...(range.max !== undefined ? { max: Number(range.max) } : {}),
      text:
        [
          range.min !== undefined ? `≥ ${range.min}` : '',
          range.max !== undefined ? `≤ ${range.max}` : '',
        ]
          .filter(Boolean)
          .join(' and ') || 'no threshold',
    };
    const mentions = recent.filter(
      e =>
        e.message.includes(` ${m.name} `) ||
        e.message.includes(`metric ${m.name}`),
    );
    const last = mentions[mentions.length - 1];
    const advancedAfter = last
      ? recent.some(
          e =>
            e.time >= last.time &&
            /Advance .* canary weight/.test(e.message) &&
            e.id > last.id,
        )
      : false;
    const value = last ? /(-?\d+(?:\.\d+)?)\s*[<>]/.exec(last.message) : null;
    const failed = Boolean(last) && !advancedAfter;
    const passed =
      !failed &&
      (status.canaryWeight ?? 0) > 0 &&
      recent.some(e => /Advance .* canary weight/.test(e.message));
    const verdictAndEvidence = (): Pick<
      AnalysisCheck,
      'verdict' | 'evidence'
    > => {
      if (failed) {
        return {
          verdict: 'fail',
          evidence: last!.message.replace(/^[A-Za-z]+: /, ''),
        };
      }
      if (passed) {
        return {
          verdict: 'pass',
          evidence: `within ${bound.text} at the last advance (Flagger reports only failures with values)`,
        };
      }
      return { verdict: 'inconclusive', evidence: 'no check reported yet' };
    };
    return {
      metric: m.name,
      judge: 'threshold',
      ...(m.query ? { query: String(m.query) } : {}),
      canaryValue: value ? Number(value[1]) : null,
      stableValue: null,
      bound,
      ...verdictAndEvidence(),
      details: {
        interval: m.interval ?? null,
        templateRef: m.templateRef?.name ?? null,
      },
    };
  });
  return {
    id: 1,
    rolloutId,
    time: String(status.lastTransitionTime ?? new Date(0).toISOString()),
    stepIndex: -1,
    weight: Number(status.canaryWeight ?? 0),
    action: flaggerAction(status.phase, checks),
    reason: `Flagger: ${
      status.failedChecks ?? 0
    } failed check(s) of threshold ${
      canary.spec?.analysis?.threshold ?? '?'
    }, phase ${status.phase ?? 'unknown'}`,
    failedChecks: Number(status.failedChecks ?? 0),
    checks,
  };
}

function flaggerAction(
  phase: string | undefined,
  checks: AnalysisCheck[],
): AnalysisResult['action'] {
  if (phase === 'Failed') return 'rollback';
  return checks.some(c => c.verdict === 'fail') ? 'hold' : 'advance';
}

/** A Canary in the API shape of Coalmine's own rollouts. */
export function flaggerToRollout(
  canary: CustomObject,
  base: { id: string; entityRef: string; cluster: string },
  gates: GateRow[],
  lastAnalysis: AnalysisResult | null,
): Omit<Rollout, 'controller'> {
  const st = canary.status ?? {};
  const steps = flaggerSteps(canary);
  const weight = Number(st.canaryWeight ?? 0);
  const phase = flaggerPhase(canary);
  const promoted = (st.conditions ?? []).find(
    (c: any) => c.type === 'Promoted',
  );
  const created =
    canary.metadata.creationTimestamp instanceof Date
      ? canary.metadata.creationTimestamp.toISOString()
      : String(canary.metadata.creationTimestamp ?? new Date(0).toISOString());
  const target = canary.spec?.targetRef?.name ?? canary.metadata.name;
  const provider = canary.spec?.provider ?? 'kubernetes';
  const running = !['Succeeded', 'RolledBack', 'Aborted'].includes(phase);
  return {
    id: base.id,
    entityRef: base.entityRef,
    cluster: base.cluster,
    namespace: canary.metadata.namespace ?? 'default',
    policy: 'flagger',
    trafficProvider: provider,
    phase,
    stepIndex:
      weight > 0
        ? Math.max(
            0,
            steps.findIndex(s => s.weight >= weight),
          )
        : -1,
    steps,
    weight,
    actualWeight: weight,
    stable: { name: `${target}-primary`, version: st.lastPromotedSpec },
    canary: { name: target, version: st.lastAppliedSpec },
    ...(promoted?.message || st.phase
      ? {
          message: `${st.phase ?? ''}${
            promoted?.message ? `: ${promoted.message}` : ''
          }`,
        }
      : {}),
    createdAt: created,
    updatedAt: String(st.lastTransitionTime ?? created),
    finishedAt: running ? null : String(st.lastTransitionTime ?? created),
    nextStepAt: null,
    startedBy: 'flagger',
    lastAnalysis,
    controls: flaggerControls(canary, gates),
  };
}
