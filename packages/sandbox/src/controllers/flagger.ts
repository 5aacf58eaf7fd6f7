import { K8sObject, ObjectStore } from '../api/store';
import { kindType as rt } from '../api/resourceTypes';
import { templateHash } from '../workloads/controller';
import { durationMs, recordEvent, timestamp } from './events';
import type { PromQuery } from './analysisRuns';
import { ReconcileLoop } from './loop';

const COMPONENT = 'flagger';

/** Calls one of a Canary's webhooks; true when it answered 2xx. */
export type WebhookCaller = (
  url: string,
  payload: Record<string, unknown>,
  timeoutMs: number,
) => Promise<boolean>;

export const httpWebhookCaller: WebhookCaller = async (
  url,
  payload,
  timeoutMs,
) => {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(timeoutMs),
    });
    return res.ok;
  } catch {
    return false;
  }
};

/** Flagger's built-in Istio metrics, as PromQL over the canary's workload. */
function builtinQuery(
  name: string,
  ns: string,
  workload: string,
  interval: string,
) {
  const sel = `reporter="destination",destination_workload_namespace="${ns}",destination_workload=~"${workload}"`;
  if (name === 'request-success-rate') {
    return `sum(rate(istio_requests_total{${sel},response_code!~"5.*"}[${interval}])) / sum(rate(istio_requests_total{${sel}}[${interval}])) * 100`;
  }
  if (name === 'request-duration') {
    return `histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{${sel}}[${interval}])) by (le))`;
  }
  return undefined;
}

/**
 * A stand-in for Flagger: for each `flagger.app/v1beta1 Canary` it watches
 * the Deployment in `spec.targetRef`, and on a new pod template walks
 * `spec.analysis` (interval, threshold, stepWeight / stepWeights,
 * maxWeight, metrics with thresholdRange, webhooks) writing the status
 * fields Flagger writes (`phase`, `canaryWeight`, `failedChecks`,
 * `iterations`, `lastAppliedSpec`, `lastPromotedSpec`,
 * `lastTransitionTime`, the `Promoted` condition) and Events with
 * Flagger's wording. Gating webhooks (`confirm-rollout`,
 * `confirm-promotion`, `rollback`, `confirm-traffic-increase`) are called
 * over HTTP with Flagger's payload, so a real gate service decides.
 * Metrics are read from the sandbox's Prometheus (Flagger's built-in
 * `request-success-rate` and `request-duration` queries); no data is a
 * failed check, as in Flagger.
 */
export class FlaggerSimulator extends ReconcileLoop {
  private readonly nextRun = new Map<string, number>();

  constructor(
    private readonly store: ObjectStore,
    private readonly options: {
      tickMs?: number;
      query?: PromQuery;
      callWebhook?: WebhookCaller;
    } = {},
  ) {
    super(options.tickMs);
  }

  protected async reconcileOnce(): Promise<void> {
    for (const canary of this.store.list(rt('Canary'))) {
      await this.reconcileCanary(canary);
    }
  }

  private async hook(
    canary: K8sObject,
    type: string,
    phase: string,
    checksum: string,
  ): Promise<boolean | undefined> {
    const hooks = (canary.spec.analysis?.webhooks ?? []).filter(
      (h: K8sObject) => h.type === type,
    );
    if (!hooks.length) return undefined;
    const call = this.options.callWebhook ?? httpWebhookCaller;
    for (const h of hooks) {
      const ok = await call(
        h.url,
        {
          name: canary.metadata.name,
          namespace: canary.metadata.namespace,
          phase,
          checksum,
          type,
          metadata: h.metadata ?? {},
        },
        durationMs(h.timeout) ?? 10_000,
      );
      if (!ok) return false;
    }
    return true;
  }

  private async reconcileCanary(canary: K8sObject) {
    const ns = canary.metadata.namespace;
    const name = canary.metadata.name;
    const key = `${ns}/${name}`;
    const ref = canary.spec?.targetRef;
    const target = ref?.name
      ? this.store.get(rt('Deployment'), ns, ref.name)
      : undefined;
    const st: K8sObject = JSON.parse(JSON.stringify(canary.status ?? {}));
    const events: Array<['Normal' | 'Warning', string]> = [];
    const analysis = canary.spec.analysis ?? {};
    const interval = durationMs(analysis.interval) ?? 60_000;
    const now = Date.now();
    if (!target) {
      if (st.phase !== 'Failed') {
        events.push([
          'Warning',
          `${ref?.kind ?? 'Deployment'} ${ref?.name}.${ns} not found`,
        ]);
      }
      return this.save(canary, st, events);
    }
    const checksum = templateHash(target.spec.template);
    const setPhase = (
      phase: string,
      status: string,
      reason: string,
      message: string,
    ) => {
      if (st.phase !== phase) st.lastTransitionTime = timestamp(now);
      st.phase = phase;
      const old = (st.conditions ?? []).find(
        (c: K8sObject) => c.type === 'Promoted',
      );
      st.conditions = [
        {
          type: 'Promoted',
          status,
          reason,
          message,
          lastUpdateTime: timestamp(now),
          lastTransitionTime:
            old?.status === status ? old.lastTransitionTime : timestamp(now),
        },
      ];
    };

    // Flagger's rollback: traffic back to the primary, the canary scaled down.
    const rollBack = (why: string) => {
      st.canaryWeight = 0;
      setPhase(
        'Failed',
        'False',
        'Failed',
        'Canary analysis failed, Deployment scaled to zero.',
      );
      events.push(['Warning', `Rolling back ${name}.${ns} ${why}`]);
      events.push([
        'Warning',
        `Canary failed! Scaling down ${target.metadata.name}.${ns}`,
      ]);
    };

    if (!st.phase || st.phase === 'Initializing') {
      st.lastAppliedSpec = checksum;
      st.lastPromotedSpec = checksum;
      st.canaryWeight = 0;
      st.failedChecks = 0;
      st.iterations = 0;
      setPhase(
        'Initialized',
        'True',
        'Initialized',
        'Deployment initialization completed.',
      );
      events.push(['Normal', `Initialization done! ${name}.${ns}`]);
      return this.save(canary, st, events);
    }

    const terminal = ['Initialized', 'Succeeded', 'Failed'].includes(st.phase);
    // A new revision (re)starts the analysis from weight 0, as in Flagger.
    const restart = (message: string, event: string) => {
      st.lastAppliedSpec = checksum;
      st.canaryWeight = 0;
      st.failedChecks = 0;
      st.iterations = 0;
      setPhase('Progressing', 'Unknown', 'Progressing', message);
      events.push(['Normal', event]);
    };
    if (terminal && checksum !== st.lastAppliedSpec) {
      restart(
        'New revision detected, progressing canary analysis.',
        `New revision detected! Scaling up ${target.metadata.name}.${ns}`,
      );
      this.nextRun.set(key, now);
      return this.save(canary, st, events);
    }
    if (terminal) return undefined;
    if ((this.nextRun.get(key) ?? 0) > now) return undefined;
    this.nextRun.set(key, now + interval);

    // A new revision while analysing restarts the analysis.
    if (checksum !== st.lastAppliedSpec) {
      restart(
        'New revision detected, restarting analysis.',
        `New revision detected! Restarting analysis for ${target.metadata.name}.${ns}`,
      );
      return this.save(canary, st, events);
    }

    const rollback = await this.hook(canary, 'rollback', st.phase, checksum);
    if (rollback === true) {
      rollBack('manual webhook invoked');
      return this.save(canary, st, events);
    }

    if (
      st.phase === 'Progressing' &&
      (st.canaryWeight ?? 0) === 0 &&
      st.iterations === 0
    ) {
      const confirmed = await this.hook(
        canary,
        'confirm-rollout',
        st.phase,
        checksum,
      );
      if (confirmed === false) {
        setPhase('Waiting', 'Unknown', 'Waiting', 'Waiting for approval.');
        events.push([
          'Normal',
          `Halt advancement ${name}.${ns} waiting for approval confirm-rollout`,
        ]);
        return this.save(canary, st, events);
      }
    }
    if (st.phase === 'Waiting') {
      const confirmed = await this.hook(
        canary,
        'confirm-rollout',
        st.phase,
        checksum,
      );
      if (confirmed === false) return this.save(canary, st, []);
      setPhase(
        'Progressing',
        'Unknown',
        'Progressing',
        'Canary analysis in progress.',
      );
      events.push([
        'Normal',
        `Confirm-rollout check passed, starting ${name}.${ns}`,
      ]);
      return this.save(canary, st, events);
    }

    if (st.phase === 'Promoting') {
      st.lastPromotedSpec = checksum;
      setPhase(
        'Finalising',
        'Unknown',
        'Finalising',
        'Canary analysis completed, routing all traffic to primary.',
      );
      events.push(['Normal', `Routing all traffic to primary`]);
      return this.save(canary, st, events);
    }
    if (st.phase === 'Finalising') {
      st.canaryWeight = 0;
      setPhase(
        'Succeeded',
        'True',
        'Succeeded',
        'Canary analysis completed successfully, promotion finished.',
      );
      events.push([
        'Normal',
        `Promotion completed! Scaling down ${target.metadata.name}.${ns}`,
      ]);
      return this.save(canary, st, events);
    }

    const maxWeight = analysis.maxWeight ?? 50;
    const stepWeights: number[] | undefined = analysis.stepWeights;
    const weight = st.canaryWeight ?? 0;
    const lastStep = stepWeights?.length
      ? weight >= stepWeights[stepWeights.length - 1]
      : weight >= maxWeight;

    // Metric checks at the current weight (none before traffic shifts).
    if (weight > 0) {
      const failures = await this.checkMetrics(canary, target);
      if (failures.length) {
        st.failedChecks = (st.failedChecks ?? 0) + 1;
        for (const f of failures) events.push(['Warning', f]);
        const threshold = analysis.threshold ?? 0;
        if (st.failedChecks >= threshold) {
          rollBack(`failed checks threshold reached ${st.failedChecks}`);
        }
        return this.save(canary, st, events);
      }
    }

    if (lastStep) {
      const confirmed = await this.hook(
        canary,
        'confirm-promotion',
        st.phase,
        checksum,
      );
      if (confirmed === false) {
        setPhase(
          'WaitingPromotion',
          'Unknown',
          'WaitingPromotion',
          'Waiting for approval.',
        );
        events.push([
          'Normal',
          `Halt advancement ${name}.${ns} waiting for approval confirm-promotion`,
        ]);
        return this.save(canary, st, events);
      }
      setPhase(
        'Promoting',
        'Unknown',
        'Promoting',
        'Canary analysis completed, starting primary rolling update.',
      );
      events.push([
        'Normal',
        `Copying ${target.metadata.name}.${ns} template spec to ${target.metadata.name}-primary.${ns}`,
      ]);
      return this.save(canary, st, events);
    }

    const increase = await this.hook(
      canary,
      'confirm-traffic-increase',
      st.phase,
      checksum,
    );
    if (increase === false) return this.save(canary, st, []);
    const next = stepWeights?.length
      ? stepWeights.find(w => w > weight) ?? stepWeights[stepWeights.length - 1]
      : Math.min(maxWeight, weight + (analysis.stepWeight ?? 10));
    st.canaryWeight = next;
    st.iterations = (st.iterations ?? 0) + 1;
    setPhase(
      'Progressing',
      'Unknown',
      'Progressing',
      'Canary analysis in progress.',
    );
    events.push(['Normal', `Advance ${name}.${ns} canary weight ${next}`]);
    return this.save(canary, st, events);
  }

  /** Messages of the failed metric checks, in Flagger's words. */
  private async checkMetrics(
    canary: K8sObject,
    target: K8sObject,
  ): Promise<string[]> {
    const ns = canary.metadata.namespace;
    const name = canary.metadata.name;
    const failures: string[] = [];
    for (const metric of canary.spec.analysis?.metrics ?? []) {
      const promql =
        metric.query ??
        builtinQuery(
          metric.name,
          ns,
          target.metadata.name,
          metric.interval ?? '1m',
        );
      if (!promql) {
        failures.push(
          `Metric query failed for ${metric.name}: the sandbox evaluates only Flagger's built-in metrics and inline queries`,
        );
        continue;
      }
      let value: number | undefined;
      try {
        const samples = this.options.query
          ? await this.options.query(promql)
          : [];
        const v = samples.length ? Number(samples[0].value[1]) : NaN;
        value = Number.isFinite(v) ? v : undefined;
      } catch (e) {
        failures.push(
          `Metric query failed for ${metric.name}: ${(e as Error).message}`,
        );
        continue;
      }
      if (value === undefined) {
        failures.push(
          `Halt advancement no values found for istio metric ${metric.name} probably ${name}.${ns} is not receiving traffic`,
        );
        continue;
      }
      const range = metric.thresholdRange ?? {};
      if (range.min !== undefined && value < range.min) {
        failures.push(
          `Halt ${name}.${ns} advancement ${metric.name} ${value.toFixed(
            2,
          )} < ${range.min}`,
        );
      } else if (range.max !== undefined && value > range.max) {
        failures.push(
          `Halt ${name}.${ns} advancement ${metric.name} ${value.toFixed(
            2,
          )} > ${range.max}`,
        );
      }
    }
    return failures;
  }

  private save(
    canary: K8sObject,
    status: K8sObject,
    events: Array<['Normal' | 'Warning', string]>,
  ) {
    let written: K8sObject | undefined;
    try {
      written = this.store.update(
        rt('Canary'),
        canary.metadata.namespace,
        canary.metadata.name,
        { ...canary, status },
        { subresource: 'status' },
      );
    } catch {
      return undefined;
    }
    for (const [type, message] of events) {
      recordEvent(
        this.store,
        COMPONENT,
        written,
        type,
        type === 'Warning' ? 'Synced' : 'Synced',
        message,
      );
    }
    return undefined;
  }
}
