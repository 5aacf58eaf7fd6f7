import { randomUUID } from 'crypto';
import { LoggerService } from '@backstage/backend-plugin-api';
import {
  ConflictError,
  InputError,
  ServiceUnavailableError,
} from '@backstage/errors';
import {
  CANARY_WORKLOAD_ANNOTATION,
  CanaryConfigProblem,
  MetricSeries,
  RolloutControl,
  RolloutPhase,
  isTerminalPhase,
} from '@coalmine/backstage-plugin-canary-common';
import type { ResolvedTarget } from '../config/resolveTarget';
import { WebhookType, imageAllowed } from '../config/policy';
import type {
  PodHealthSnapshot,
  RolloutTarget,
  TrafficProvider,
  TrafficTopology,
  WorkloadManager,
} from '../kubernetes/types';
import { NewAnalysis, RolloutStore } from '../store/RolloutStore';
import { WebhookDispatcher } from '../webhooks/WebhookDispatcher';
import { webhookPayload } from '../webhooks/outbox';
import { decideControl } from './controls';
import { forEachWithLimit } from './concurrency';
import type {
  AnalysisDecision,
  AnalysisRequest,
  ClusterAccess,
  RolloutAnalyzer,
} from './ports';
import { stepDwellMs } from './schedule';
import { bindingLost } from './guards/binding';
import type { WorkloadBinding } from '../binding';
import type {
  EngineState,
  Intent,
  NewEvent,
  RolloutPatch,
  RolloutRecord,
} from './types';

/** The actor recorded for what the engine does by itself. */
export const ENGINE_ACTOR = 'coalmine';

export interface RolloutEngineOptions {
  store: RolloutStore;
  clusters: ClusterAccess;
  analyzer?: RolloutAnalyzer;
  webhooks: WebhookDispatcher;
  /** Whether a component may act on a workload; checked at start and every pass. */
  binding: WorkloadBinding;
  logger: LoggerService;
  /** Lease holder name; unique per backend replica. */
  owner?: string;
  leaseMs?: number;
  concurrency?: number;
  /**
   * Advance a rollout right after a start or control instead of waiting for
   * the loop (default true; false for a process that only accepts commands).
   */
  advanceOnCommand?: boolean;
  /** First back-off after a cluster error; doubles per consecutive error. */
  clusterBackoffMs?: number;
  now?: () => number;
}

/** Thrown inside a pass when the row changed under us; the pass ends quietly. */
class StaleRolloutError extends Error {
  name = 'StaleRolloutError';
}

const isClusterUnavailable = (e: unknown) =>
  (e as Error)?.name === 'ClusterUnavailableError';
const isConfigurationError = (e: unknown) =>
  (e as Error)?.name === 'ConfigurationError';

function errorMessage(e: unknown): string {
  return (e as Error)?.message ?? String(e);
}

/**
 * Runs rollouts: each pass over a rollout holds its lease, reads the cluster,
 * and moves the state machine at most one cluster write at a time. Every
 * write is first stored as the rollout's `intent`; the same transaction that
 * records its effect clears it. A pass that finds an intent (a replica died
 * mid-write) re-applies it idempotently — read, compare, write only if
 * different — and carries on, so no step is ever skipped or repeated.
 */
export class RolloutEngine {
  private readonly store: RolloutStore;
  private readonly clusters: ClusterAccess;
  private readonly analyzer?: RolloutAnalyzer;
  private readonly webhooks: WebhookDispatcher;
  private readonly binding: WorkloadBinding;
  private readonly logger: LoggerService;
  private readonly owner: string;
  private readonly leaseMs: number;
  private readonly concurrency: number;
  private readonly clusterBackoffMs: number;
  private readonly now: () => number;
  private readonly running = new Map<string, Promise<void>>();
  private readonly inspections = new Map<
    string,
    { until: number; problems: CanaryConfigProblem[] }
  >();
  private readonly again = new Set<string>();
  private readonly background = new Set<Promise<unknown>>();
  private stopped = false;
  private readonly advanceOnCommand: boolean;

  constructor(options: RolloutEngineOptions) {
    this.store = options.store;
    this.clusters = options.clusters;
    this.analyzer = options.analyzer;
    this.webhooks = options.webhooks;
    this.binding = options.binding;
    this.logger = options.logger;
    this.owner = options.owner ?? `coalmine-${randomUUID()}`;
    this.leaseMs = options.leaseMs ?? 30_000;
    this.concurrency = options.concurrency ?? 4;
    this.clusterBackoffMs = options.clusterBackoffMs ?? 1000;
    this.now = options.now ?? Date.now;
    this.advanceOnCommand = options.advanceOnCommand ?? true;
  }

  // ---------------------------------------------------------------- commands

  /** Starts a rollout; ConflictError when one is active for the component and cluster. */
  async start(request: {
    resolved: ResolvedTarget;
    cluster: string;
    image?: string;
    version?: string;
    startedBy: string;
    retryOf?: string;
  }): Promise<RolloutRecord> {
    const { target, policy } = request.resolved;
    const active = await this.store.activeFor(
      target.entityRef,
      request.cluster,
    );
    if (active) {
      throw new ConflictError(
        `A rollout of ${target.entityRef} on cluster ${request.cluster} is already active (${active.id}, ${active.phase})`,
      );
    }
    const rolloutTarget: RolloutTarget = {
      cluster: request.cluster,
      namespace: target.namespace,
      service: target.workload,
      route: target.route,
      provider: policy.trafficProvider,
      stickyHeader: policy.stickyHeader,
    };
    let topology: TrafficTopology;
    try {
      topology = await this.provider(
        request.cluster,
        policy.trafficProvider,
      ).discover(rolloutTarget);
    } catch (e) {
      if (isConfigurationError(e)) {
        throw new InputError(
          `${target.entityRef} on ${request.cluster}: ${errorMessage(e)}`,
        );
      }
      if (isClusterUnavailable(e)) {
        throw new ServiceUnavailableError(
          `Cluster ${request.cluster} is unavailable: ${errorMessage(e)}`,
        );
      }
      throw e;
    }
    // The image the canary will run: the requested one, else what the canary Deployment has.
    const image = request.image ?? topology.canary.image;
    if (image && !imageAllowed(image, policy.allowedImages)) {
      throw new InputError(
        `${
          request.image
            ? 'body field image'
            : `image of Deployment ${topology.canary.name}`
        }: "${image}" is not allowed by canary.policies.${
          policy.name
        }.allowedImages (${policy.allowedImages.join(', ')})`,
      );
    }
    // Before anything is written: the workload must be bound to the component.
    try {
      await this.binding.require({
        entityRef: target.entityRef,
        owners: request.resolved.owners,
        cluster: request.cluster,
        namespace: target.namespace,
        service: target.workload,
        topology,
      });
    } catch (e) {
      if (isClusterUnavailable(e)) {
        throw new ServiceUnavailableError(
          `Cluster ${request.cluster} is unavailable: ${errorMessage(e)}`,
        );
      }
      throw e;
    }
    const now = this.now();
    const record: RolloutRecord = {
      id: randomUUID(),
      entityRef: target.entityRef,
      cluster: request.cluster,
      namespace: target.namespace,
      workload: target.workload,
      route: topology.routeObject?.name ?? target.route,
      policy: policy.name,
      trafficProvider: policy.trafficProvider,
      phase: 'Pending',
      stepIndex: -1,
      weight: 0,
      actualWeight: null,
      steps: policy.steps,
      stable: {
        name: topology.stable.name,
        version: topology.stable.version,
        image: topology.stable.image,
      },
      canary: {
        name: topology.canary.name,
        version: request.version ?? topology.canary.version,
        image: request.image ?? topology.canary.image,
      },
      message: 'Waiting for the canary to be available',
      spec: {
        policy,
        request: { image: request.image, version: request.version },
        retryOf: request.retryOf,
        route: target.route,
        owners: request.resolved.owners,
      },
      state: {
        topology,
        canaryReplicas: Math.max(
          1,
          topology.canary.replicas || topology.stable.replicas || 1,
        ),
        stableReplicas: topology.stable.replicas,
        done: [],
      },
      intent: null,
      startedBy: request.startedBy,
      createdAt: now,
      updatedAt: now,
      finishedAt: null,
      nextStepAt: null,
      nextRunAt: null,
      version: 0,
    };
    const event: NewEvent = {
      type: 'phase',
      message: `Rollout started by ${request.startedBy}${
        request.retryOf ? ` (retry of ${request.retryOf})` : ''
      }: ${topology.stable.name} → ${topology.canary.name}${
        request.image ? ` (${request.image})` : ''
      }, policy ${policy.name}`,
      actor: request.startedBy,
      data: { to: 'Pending', shape: topology.shape },
    };
    await this.store.insert(record, [event]);
    this.kick(record.id);
    return record;
  }

  /** Applies a control under the rollout's lease; see {@link decideControl} for the rules. */
  async control(
    id: string,
    control: Exclude<RolloutControl, 'retry'>,
    actor: string,
    reason?: string,
  ): Promise<RolloutRecord> {
    const deadline = this.now() + this.leaseMs + 10_000;
    // Wait for a pass in progress (ours or another replica's) to finish, so a
    // control never lands between an intent and its effect.
    while (
      !(await this.store.acquireLease(id, this.owner, this.leaseMs, this.now()))
    ) {
      if (this.now() > deadline) {
        throw new ServiceUnavailableError(`Rollout ${id} is busy; try again`);
      }
      await new Promise(r => setTimeout(r, 50));
    }
    try {
      const r = await this.store.get(id);
      if (!r) throw new ConflictError(`Rollout ${id} disappeared`);
      const outcome = decideControl(r, control, actor, reason, this.now());
      if (!outcome.patch) return r;
      const updated = await this.store.commit(r.id, r.version, outcome.patch, {
        events: outcome.events,
      });
      if (!updated) {
        throw new ConflictError(`Rollout ${id} changed meanwhile; try again`);
      }
      return updated;
    } finally {
      await this.store.releaseLease(id, this.owner);
      this.kick(id);
    }
  }

  /**
   * Problems the cluster shows with a component's setup (no such Service,
   * no routing object, …), each naming the annotation to change. Cached
   * briefly; a slow or unreachable cluster is reported, never thrown.
   */
  async inspect(
    resolved: ResolvedTarget,
    cluster: string,
  ): Promise<CanaryConfigProblem[]> {
    const key = `${resolved.target.entityRef}|${cluster}|${JSON.stringify(
      resolved.target,
    )}`;
    const cached = this.inspections.get(key);
    if (cached && cached.until > Date.now()) return cached.problems;
    const { target, policy } = resolved;
    const check = this.provider(cluster, policy.trafficProvider)
      .discover({
        cluster,
        namespace: target.namespace,
        service: target.workload,
        route: target.route,
        provider: policy.trafficProvider,
        stickyHeader: policy.stickyHeader,
      })
      .then(
        async (topology): Promise<CanaryConfigProblem[]> => {
          const verdict = await this.binding.check({
            entityRef: target.entityRef,
            owners: resolved.owners,
            cluster,
            namespace: target.namespace,
            service: target.workload,
            topology,
          });
          return verdict.bound ? [] : [verdict.problem];
        },
      )
      .then(
        problems => problems,
        (e): CanaryConfigProblem[] => {
          if (isConfigurationError(e)) {
            return [
              {
                key: (e as { key?: string }).key ?? CANARY_WORKLOAD_ANNOTATION,
                message: `${cluster}: ${errorMessage(e)}`,
              },
            ];
          }
          return [
            {
              key: 'kubernetes.clusterLocatorMethods',
              message: `Cluster ${cluster} could not be checked: ${errorMessage(
                e,
              )}`,
            },
          ];
        },
      );
    const timeout = new Promise<CanaryConfigProblem[]>(resolve =>
      setTimeout(() => resolve([]), 3000).unref(),
    );
    const problems = await Promise.race([check, timeout]);
    this.inspections.set(key, { until: Date.now() + 30_000, problems });
    return problems;
  }

  async series(r: RolloutRecord): Promise<MetricSeries[]> {
    if (!this.analyzer) return [];
    const request = this.analysisRequest(r);
    try {
      return await this.analyzer.series({
        ...request,
        from: r.createdAt,
        to: r.finishedAt ?? this.now(),
      });
    } catch (e) {
      // Prometheus down is the metrics' problem, not a bug of ours.
      throw new ServiceUnavailableError(
        `Metrics for rollout ${r.id} are unavailable: ${errorMessage(e)}`,
      );
    }
  }

  // -------------------------------------------------------------------- loop

  /** One loop iteration: advance every due rollout, a bounded number at once. */
  async tick(): Promise<void> {
    const ids = await this.store.dueIds(this.now(), 500);
    await forEachWithLimit(ids, this.concurrency, id => this.process(id));
  }

  /** Advance one rollout now (after a start or control), without waiting for the loop. */
  kick(id: string) {
    if (this.stopped || !this.advanceOnCommand) return;
    this.track(this.process(id));
  }

  /** Waits for background passes and notifications; no new ones start. */
  async stop(): Promise<void> {
    this.stopped = true;
    while (this.background.size > 0 || this.running.size > 0) {
      await Promise.allSettled([...this.background, ...this.running.values()]);
    }
  }

  /** Waits for the background work started so far (tests). */
  async idle(): Promise<void> {
    while (this.background.size > 0 || this.running.size > 0) {
      await Promise.allSettled([...this.background, ...this.running.values()]);
    }
  }

  private track(p: Promise<unknown>) {
    const tracked = p.catch(e =>
      this.logger.error(`Canary engine: ${errorMessage(e)}`),
    );
    this.background.add(tracked);
    tracked.finally(() => this.background.delete(tracked));
  }

  /** Advances one rollout as far as it can go now. */
  async process(id: string): Promise<void> {
    const current = this.running.get(id);
    if (current) {
      // Someone asked again while a pass runs: run once more afterwards.
      this.again.add(id);
      return current;
    }
    const run = (async () => {
      do {
        this.again.delete(id);
        await this.pass(id);
      } while (this.again.has(id) && !this.stopped);
    })().finally(() => this.running.delete(id));
    this.running.set(id, run);
    return run;
  }

  private async pass(id: string): Promise<void> {
    if (
      !(await this.store.acquireLease(id, this.owner, this.leaseMs, this.now()))
    ) {
      return;
    }
    try {
      // A few transitions may follow one another at once (e.g. intent applied
      // → next check); time-based ones wait for a later pass.
      for (let i = 0; i < 12 && !this.stopped; i++) {
        const r = await this.store.get(id);
        if (!r || isTerminalPhase(r.phase)) return;
        if (r.nextRunAt !== null && r.nextRunAt > this.now()) return;
        let more: boolean;
        try {
          const lost =
            r.phase === 'RollingBack'
              ? undefined
              : await bindingLost(this.binding, r);
          if (lost) {
            await this.beginRollback(
              r,
              'Aborted',
              `the workload is no longer bound to ${r.entityRef}: ${lost}`,
              ENGINE_ACTOR,
            );
            continue;
          }
          more = await this.advance(r);
          // The cluster answered again: the count of consecutive errors starts over.
          const fresh = await this.store.get(id);
          if (fresh && (fresh.state.clusterErrors ?? 0) > 0) {
            await this.commit(fresh, {
              state: { ...fresh.state, clusterErrors: 0 },
            });
          }
        } catch (e) {
          if (e instanceof StaleRolloutError) return;
          await this.onError(id, e);
          return;
        }
        if (!more) return;
        // Keep the lease fresh during a long chain of transitions.
        await this.store.acquireLease(id, this.owner, this.leaseMs, this.now());
      }
    } finally {
      await this.store.releaseLease(id, this.owner);
    }
  }

  // ------------------------------------------------------------- the machine

  /** One transition; true when another may follow at once. */
  private async advance(r: RolloutRecord): Promise<boolean> {
    if (r.intent) {
      // Found at the start of a pass: a replica may have died mid-write.
      await this.applyIntent(r, true);
      return true;
    }
    switch (r.phase) {
      case 'Pending':
        return this.onPending(r);
      case 'Progressing':
        return this.onProgressing(r);
      case 'Paused':
      case 'AwaitingApproval':
        return this.onHolding(r);
      case 'Promoting':
        return this.onPromoting(r);
      case 'RollingBack':
        return this.onRollingBack(r);
      default:
        return false;
    }
  }

  private async onPending(r: RolloutRecord): Promise<boolean> {
    const s = r.state;
    const topology = s.topology!;
    const passed = await this.gateWebhooks(r, 'pre-rollout', 'start');
    if (passed !== true) return passed === 'changed';
    const done = s.done ?? [];
    const { image, version } = r.spec.request;
    if ((image || version) && !done.includes('prepare')) {
      await this.recordIntent(r, { op: 'prepare-canary', image, version });
      return true;
    }
    if (topology.shape !== 'replica-ratio') {
      const canaryName = topology.canary.name;
      const readiness = await this.workloads(r).readiness(
        r.namespace,
        canaryName,
      );
      if (readiness.desired === 0 && !done.includes('scale-up')) {
        await this.recordIntent(r, {
          op: 'scale',
          deployment: canaryName,
          replicas: s.canaryReplicas ?? 1,
          why: 'scale-up',
        });
        return true;
      }
      if (!(await this.canaryHealthy(r))) return true;
      const available =
        readiness.desired > 0 &&
        readiness.available >= readiness.desired &&
        readiness.observedGeneration;
      if (!available) {
        return this.waitForCanary(r, readiness);
      }
    }
    const baseline = s.baselineRestarts ?? (await this.restartsByPod(r));
    const first = r.steps[0];
    await this.recordIntent(
      r,
      {
        op: 'set-weight',
        weight: first.weight,
        headerRoute: Boolean(r.spec.policy.stickyHeader),
        stepIndex: 0,
        why: 'step',
      },
      {
        phase: 'Progressing',
        message: `Shifting ${first.weight} % of traffic to the canary`,
        state: { ...s, baselineRestarts: baseline, waitingSince: undefined },
      },
      [
        this.phaseEvent(
          r,
          'Progressing',
          'Canary available; starting the first step',
        ),
      ],
    );
    return true;
  }

  private async onProgressing(r: RolloutRecord): Promise<boolean> {
    const s = r.state;
    const topology = s.topology!;
    const podHealth = await this.canaryHealthy(r);
    if (!podHealth) return true;
    const readiness = await this.workloads(r).readiness(
      r.namespace,
      topology.canary.name,
    );
    const available =
      readiness.desired > 0 &&
      readiness.available >= readiness.desired &&
      readiness.observedGeneration;
    if (!available) {
      return this.waitForCanary(r, readiness);
    }
    const patchState: EngineState = { ...s, waitingSince: undefined };
    const split = await this.provider(
      r.cluster,
      r.spec.policy.trafficProvider,
    ).getSplit(topology);
    if (
      s.appliedWeight !== undefined &&
      split.canaryWeight !== s.appliedWeight
    ) {
      return this.onDrift(r, split.canaryWeight);
    }
    const patch: RolloutPatch = {};
    const actual = split.actualWeight ?? null;
    if (actual !== r.actualWeight) patch.actualWeight = actual;
    if (s.waitingSince !== undefined) patch.state = patchState;

    const now = this.now();
    const gated =
      this.analyzer?.hasGates(r.spec.policy.analysis.config) ?? false;
    if (gated && now >= (s.nextAnalysisAt ?? 0)) {
      const decision = await this.analyzer!.evaluate({
        ...this.analysisRequest(r),
        podHealth,
      }).catch(
        (e): AnalysisDecision => ({
          // An analysis that cannot run holds the weight; it never advances
          // a canary nobody judged, and it is not the cluster's fault.
          action: 'hold',
          reason: `the analysis could not run: ${errorMessage(e)}`,
          checks: [],
          failedChecks: s.failedChecks ?? 0,
          state: s.analysisState,
        }),
      );
      const state: EngineState = {
        ...patchState,
        analysisState: decision.state,
        failedChecks: decision.failedChecks,
        passedAtStep:
          (s.passedAtStep ?? 0) + (decision.action === 'advance' ? 1 : 0),
        nextAnalysisAt: now + r.spec.policy.analysis.intervalMs,
        lastAnalysisAction: decision.action,
      };
      // The analysis table keeps every tick; events only mark a change of verdict.
      const events: NewEvent[] =
        decision.action === 'advance' ||
        decision.action === s.lastAnalysisAction
          ? []
          : [
              {
                type: 'analysis',
                message: `Analysis: ${decision.action} — ${decision.reason}`,
                actor: ENGINE_ACTOR,
                data: {
                  action: decision.action,
                  failedChecks: decision.failedChecks,
                },
              },
            ];
      const updated = await this.commit(r, { ...patch, state }, events, {
        stepIndex: r.stepIndex,
        weight: r.weight,
        action: decision.action,
        reason: decision.reason,
        failedChecks: decision.failedChecks,
        checks: decision.checks,
      });
      if (decision.action === 'rollback') {
        await this.beginRollback(
          updated,
          'RolledBack',
          `analysis failed: ${decision.reason}`,
          ENGINE_ACTOR,
        );
      }
      return true;
    }

    const step = r.steps[r.stepIndex];
    const ready =
      r.nextStepAt !== null &&
      now >= r.nextStepAt &&
      (!gated || (s.passedAtStep ?? 0) >= 1);
    if (!ready) {
      if (Object.keys(patch).length > 0) await this.commit(r, patch);
      return false;
    }
    if (step.approval && !(s.approvedSteps ?? []).includes(r.stepIndex)) {
      await this.commit(
        r,
        {
          ...patch,
          phase: 'AwaitingApproval',
          message: `Waiting for approval at ${r.weight} %`,
        },
        [
          this.phaseEvent(
            r,
            'AwaitingApproval',
            `Step ${r.stepIndex + 1} (${r.weight} %) needs approval`,
          ),
        ],
      );
      return false;
    }
    const stepGate = await this.gateWebhooks(
      r,
      'rollout',
      `step-${r.stepIndex}`,
    );
    if (stepGate !== true) return stepGate === 'changed';
    if (r.stepIndex === r.steps.length - 1) {
      const confirmed = await this.gateWebhooks(
        r,
        'confirm-promotion',
        'promote',
      );
      if (confirmed !== true) return confirmed === 'changed';
      await this.commit(
        r,
        {
          ...patch,
          phase: 'Promoting',
          message: 'Promoting the canary',
          nextStepAt: null,
          state: { ...(patch.state ?? s), done: [] },
        },
        [
          this.phaseEvent(
            r,
            'Promoting',
            `All steps passed at ${r.weight} %; promoting the canary`,
          ),
        ],
      );
      return true;
    }
    const next = r.steps[r.stepIndex + 1];
    await this.recordIntent(
      r,
      {
        op: 'set-weight',
        weight: next.weight,
        headerRoute: Boolean(r.spec.policy.stickyHeader),
        stepIndex: r.stepIndex + 1,
        why: 'step',
      },
      {
        ...patch,
        message: `Shifting ${next.weight} % of traffic to the canary`,
      },
    );
    return true;
  }

  /** Paused or waiting for approval: nothing moves, but a crashing canary still rolls back. */
  private async onHolding(r: RolloutRecord): Promise<boolean> {
    if (r.stepIndex < 0 && r.state.resumeTo === 'Pending') return false;
    if (!(await this.canaryHealthy(r))) return true;
    // A hand-edited weight is noticed while waiting, too.
    const applied = r.state.appliedWeight;
    if (
      applied === undefined ||
      (r.phase === 'Paused' && r.spec.policy.onManualWeightChange === 'pause')
    ) {
      return false;
    }
    const split = await this.provider(
      r.cluster,
      r.spec.policy.trafficProvider,
    ).getSplit(r.state.topology!);
    return split.canaryWeight !== applied
      ? this.onDrift(r, split.canaryWeight)
      : false;
  }

  private promotionPlan(r: RolloutRecord): string[] {
    const shape = r.state.topology!.shape;
    if (shape === 'versioned-subsets') {
      return r.spec.policy.promotion.retireStable === 'scale-to-zero'
        ? ['finalize', 'retire-stable']
        : ['finalize'];
    }
    if (shape === 'fixed-subsets') {
      return [
        'promote-template',
        'wait-stable',
        'finalize',
        'scale-down-canary',
      ];
    }
    return ['promote-template', 'finalize', 'wait-stable', 'scale-down-canary'];
  }

  private async onPromoting(r: RolloutRecord): Promise<boolean> {
    const s = r.state;
    const topology = s.topology!;
    const done = s.done ?? [];
    const next = this.promotionPlan(r).find(op => !done.includes(op));
    switch (next) {
      case 'promote-template':
        await this.recordIntent(
          r,
          { op: 'promote-template' },
          { message: 'Copying the canary pod template to stable' },
        );
        return true;
      case 'finalize':
        await this.recordIntent(
          r,
          { op: 'finalize-promotion' },
          { message: 'Routing all traffic to the new stable' },
        );
        return true;
      case 'retire-stable':
        await this.recordIntent(r, {
          op: 'scale',
          deployment: topology.stable.name,
          replicas: 0,
          why: 'retire-stable',
        });
        return true;
      case 'scale-down-canary':
        await this.recordIntent(r, {
          op: 'scale',
          deployment: topology.canary.name,
          replicas: 0,
          why: 'scale-down-canary',
        });
        return true;
      case 'wait-stable': {
        const readiness = await this.workloads(r).readiness(
          r.namespace,
          topology.stable.name,
        );
        if (
          readiness.desired > 0 &&
          readiness.available >= readiness.desired &&
          readiness.observedGeneration
        ) {
          await this.commit(
            r,
            {
              state: {
                ...s,
                done: [...done, 'wait-stable'],
                waitingSince: undefined,
              },
            },
            [
              {
                type: 'workload',
                message: `${topology.stable.name} runs the new version on ${readiness.available} available pod(s)`,
                actor: ENGINE_ACTOR,
              },
            ],
          );
          return true;
        }
        const since = s.waitingSince ?? this.now();
        if (this.now() - since > r.spec.policy.progressDeadlineMs) {
          await this.finish(
            r,
            'Failed',
            `${topology.stable.name} did not become available with the new version within the progress deadline`,
          );
          return false;
        }
        if (s.waitingSince === undefined) {
          await this.commit(r, {
            state: { ...s, waitingSince: since },
            message: `Waiting for ${topology.stable.name} to be available`,
          });
        }
        return false;
      }
      default: {
        const promotedTo =
          topology.shape === 'versioned-subsets'
            ? topology.canary.name
            : topology.stable.name;
        await this.finish(
          r,
          'Succeeded',
          `Promoted: ${promotedTo} serves all traffic${
            r.canary.image ? ` with ${r.canary.image}` : ''
          }`,
        );
        return false;
      }
    }
  }

  private async onRollingBack(r: RolloutRecord): Promise<boolean> {
    const s = r.state;
    const topology = s.topology;
    const done = s.done ?? [];
    const to = s.rollback?.to ?? 'RolledBack';
    if (!topology) {
      await this.finish(r, to, r.message ?? 'Rolled back');
      return false;
    }
    if (!done.includes('route-stable')) {
      await this.recordIntent(r, {
        op: 'set-weight',
        weight: 0,
        headerRoute: false,
        stepIndex: -1,
        why: 'rollback',
      });
      return true;
    }
    if (!done.includes('scale-down-canary')) {
      await this.recordIntent(r, {
        op: 'scale',
        deployment: topology.canary.name,
        replicas: 0,
        why: 'scale-down-canary',
      });
      return true;
    }
    await this.finish(r, to, r.message ?? 'Rolled back');
    return false;
  }

  // ------------------------------------------------------------ the rails

  /**
   * Checks restarts / OOMKills of the canary; rolls back when beyond the
   * bound. Returns the pods read, or undefined when it started a rollback.
   */
  private async canaryHealthy(
    r: RolloutRecord,
  ): Promise<PodHealthSnapshot | undefined> {
    const topology = r.state.topology!;
    const health = await this.workloads(r).podHealth(
      r.namespace,
      topology.canary.name,
    );
    const baseline = r.state.baselineRestarts ?? {};
    let restarts = 0;
    const reasons = new Set<string>();
    for (const pod of health.pods) {
      restarts += Math.max(0, pod.restarts - (baseline[pod.name] ?? 0));
      pod.reasons.forEach(reason => reasons.add(reason));
    }
    if (restarts > r.spec.policy.maxCanaryRestarts) {
      await this.beginRollback(
        r,
        'RolledBack',
        `canary pods restarted ${restarts} times${
          reasons.size ? ` (${[...reasons].join(', ')})` : ''
        }, more than the policy allows (${r.spec.policy.maxCanaryRestarts})`,
        ENGINE_ACTOR,
      );
      return undefined;
    }
    return health;
  }

  private async restartsByPod(
    r: RolloutRecord,
  ): Promise<Record<string, number>> {
    const health = await this.workloads(r).podHealth(
      r.namespace,
      r.state.topology!.canary.name,
    );
    return Object.fromEntries(health.pods.map(p => [p.name, p.restarts]));
  }

  /** The canary is not available: wait, or roll back once the progress deadline passed. */
  private async waitForCanary(
    r: RolloutRecord,
    readiness: { desired: number; available: number },
  ): Promise<boolean> {
    const now = this.now();
    const since = r.state.waitingSince;
    if (since === undefined) {
      await this.commit(r, {
        state: { ...r.state, waitingSince: now },
        message: `Waiting for the canary: ${readiness.available}/${readiness.desired} pods available`,
      });
      return false;
    }
    if (now - since > r.spec.policy.progressDeadlineMs) {
      await this.beginRollback(
        r,
        'RolledBack',
        `canary not available within the progress deadline (${Math.round(
          r.spec.policy.progressDeadlineMs / 1000,
        )} s): ${readiness.available}/${readiness.desired} pods available`,
        ENGINE_ACTOR,
      );
      return true;
    }
    return false;
  }

  private async onDrift(r: RolloutRecord, found: number): Promise<boolean> {
    const policy = r.spec.policy;
    const event: NewEvent = {
      type: 'drift',
      message: `Canary weight changed outside Coalmine: expected ${r.state.appliedWeight} %, found ${found} % (policy: ${policy.onManualWeightChange})`,
      actor: ENGINE_ACTOR,
      data: {
        expected: r.state.appliedWeight,
        found,
        action: policy.onManualWeightChange,
      },
    };
    switch (policy.onManualWeightChange) {
      case 'adopt':
        await this.commit(
          r,
          { weight: found, state: { ...r.state, appliedWeight: found } },
          [event],
        );
        return false;
      case 'pause':
        await this.commit(
          r,
          {
            phase: 'Paused',
            weight: found,
            message: `Paused: the weight was changed by hand to ${found} %`,
            state: {
              ...r.state,
              appliedWeight: found,
              resumeTo: 'Progressing',
            },
          },
          [
            event,
            this.phaseEvent(r, 'Paused', 'Paused after a manual weight change'),
          ],
        );
        return false;
      case 'rollback': {
        const updated = await this.commit(r, {}, [event]);
        await this.beginRollback(
          updated,
          'RolledBack',
          `the weight was changed by hand to ${found} %`,
          ENGINE_ACTOR,
        );
        return true;
      }
      default:
        await this.recordIntent(
          r,
          {
            op: 'set-weight',
            weight: r.weight,
            headerRoute: Boolean(policy.stickyHeader),
            stepIndex: r.stepIndex,
            why: 'restore',
          },
          {},
          [event],
        );
        return true;
    }
  }

  /** Calls the gating webhooks of a kind once per key; true when all passed. */
  private async gateWebhooks(
    r: RolloutRecord,
    type: WebhookType,
    key: string,
  ): Promise<true | 'changed' | 'hold'> {
    const hooks = r.spec.policy.webhooks.filter(h => h.type === type);
    const passed = r.state.webhooksPassed ?? [];
    for (const hook of hooks) {
      const id = `${hook.name}@${key}`;
      if (passed.includes(id)) continue;
      const outcome = await this.webhooks.call(
        r.spec.policy.name,
        hook,
        webhookPayload(r, hook),
      );
      const event: NewEvent = {
        type: 'webhook',
        message: `Webhook ${hook.name} (${type}) ${
          outcome.ok ? 'passed' : 'refused'
        }: ${outcome.message}`,
        actor: ENGINE_ACTOR,
        data: {
          webhook: hook.name,
          type,
          ok: outcome.ok,
          status: outcome.status ?? null,
          attempts: outcome.attempts,
        },
      };
      if (outcome.ok) {
        await this.commit(
          r,
          {
            state: {
              ...r.state,
              webhooksPassed: [...passed, id],
              webhookFailures: 0,
            },
          },
          [event],
        );
        return 'changed';
      }
      const failures = (r.state.webhookFailures ?? 0) + 1;
      if (
        type === 'pre-rollout' ||
        (type === 'rollout' && failures >= r.spec.policy.clusterErrorLimit)
      ) {
        const updated = await this.commit(
          r,
          { state: { ...r.state, webhookFailures: failures } },
          [event],
        );
        await this.beginRollback(
          updated,
          'RolledBack',
          `webhook ${hook.name} (${type}) refused: ${outcome.message}`,
          ENGINE_ACTOR,
        );
        return 'changed';
      }
      await this.commit(
        r,
        {
          state: { ...r.state, webhookFailures: failures },
          message: `Held by webhook ${hook.name} (${type}): ${outcome.message}`,
          nextRunAt:
            this.now() + Math.min(r.spec.policy.analysis.intervalMs, 30_000),
        },
        [event],
      );
      return 'hold';
    }
    return true;
  }

  // ------------------------------------------------------- intents & commits

  /** Stores an intent (with a patch and events) and applies it at once. */
  private async recordIntent(
    r: RolloutRecord,
    intent: Intent,
    patch: RolloutPatch = {},
    events: NewEvent[] = [],
  ): Promise<void> {
    const recorded = await this.commit(r, { ...patch, intent }, events);
    await this.applyIntent(recorded, false);
  }

  /** Makes the write an intent describes (idempotently) and records its effect. */
  private async applyIntent(r: RolloutRecord, resumed: boolean): Promise<void> {
    const intent = r.intent!;
    const s = r.state;
    const topology = s.topology!;
    const done = s.done ?? [];
    const now = this.now();
    switch (intent.op) {
      case 'set-weight': {
        const provider = this.provider(
          r.cluster,
          r.spec.policy.trafficProvider,
        );
        // Read first when the write may already have happened (a resumed
        // intent) or when the weight does not change; a fresh step to a new
        // weight goes straight to the provider, which reads before it writes.
        let split =
          resumed || intent.weight === r.weight
            ? await provider.getSplit(topology)
            : undefined;
        const already =
          split !== undefined &&
          split.canaryWeight === intent.weight &&
          split.headerRoute === intent.headerRoute;
        if (!already || !split) {
          split = await provider.setSplit(topology, {
            canaryWeight: intent.weight,
            headerRoute: intent.headerRoute,
          });
        }
        const state: EngineState = { ...s, appliedWeight: split.canaryWeight };
        const patch: RolloutPatch = {
          intent: null,
          weight: intent.weight,
          actualWeight: split.actualWeight ?? null,
        };
        const events: NewEvent[] = [];
        if (intent.why === 'step') {
          const step = r.steps[intent.stepIndex];
          Object.assign(state, {
            stepStartedAt: now,
            passedAtStep: 0,
            nextAnalysisAt: now + r.spec.policy.analysis.intervalMs,
            webhookFailures: 0,
          });
          patch.stepIndex = intent.stepIndex;
          patch.nextStepAt = now + stepDwellMs(r.spec.policy, step);
          patch.message = `Canary at ${intent.weight} % (step ${
            intent.stepIndex + 1
          } of ${r.steps.length})`;
          events.push({
            type: 'step',
            message: `Canary weight ${intent.weight} % (step ${
              intent.stepIndex + 1
            } of ${r.steps.length})${
              split.actualWeight !== undefined &&
              split.actualWeight !== intent.weight
                ? `; actual ${split.actualWeight} %`
                : ''
            }`,
            actor: ENGINE_ACTOR,
            data: {
              weight: intent.weight,
              stepIndex: intent.stepIndex,
              actualWeight: split.actualWeight ?? null,
              engine: this.owner,
            },
          });
        } else if (intent.why === 'rollback') {
          state.done = [...done, 'route-stable'];
          events.push({
            type: 'weight',
            message: 'All traffic back on stable',
            actor: ENGINE_ACTOR,
            data: { weight: 0 },
          });
        } else {
          events.push({
            type: 'weight',
            message: `Restored canary weight ${intent.weight} %`,
            actor: ENGINE_ACTOR,
            data: { weight: intent.weight },
          });
        }
        patch.state = state;
        await this.commit(r, patch, events);
        return;
      }
      case 'scale': {
        const workloads = this.workloads(r);
        const readiness = await workloads.readiness(
          r.namespace,
          intent.deployment,
        );
        if (readiness.desired !== intent.replicas) {
          await workloads.scale(
            r.namespace,
            intent.deployment,
            intent.replicas,
          );
        }
        await this.commit(
          r,
          { intent: null, state: { ...s, done: [...done, intent.why] } },
          [
            {
              type: 'workload',
              message: `Scaled ${intent.deployment} to ${intent.replicas}`,
              actor: ENGINE_ACTOR,
              data: {
                deployment: intent.deployment,
                replicas: intent.replicas,
              },
            },
          ],
        );
        return;
      }
      case 'prepare-canary': {
        const workloads = this.workloads(r);
        const next = await workloads.prepareCanary(topology, {
          image: intent.image,
          version: intent.version,
        });
        const hash = await workloads
          .templateHash(r.namespace, next.canary.name)
          .catch(() => undefined);
        if (hash)
          await this.store.setWatchedHash(
            r.entityRef,
            r.cluster,
            `${next.canary.name}@${hash}`,
          );
        await this.commit(
          r,
          {
            intent: null,
            canary: {
              name: next.canary.name,
              version: next.canary.version,
              image: next.canary.image,
            },
            state: {
              ...s,
              topology: next,
              canaryReplicas: Math.max(
                1,
                next.canary.replicas || s.canaryReplicas || 1,
              ),
              done: [...done, 'prepare'],
            },
          },
          [
            {
              type: 'workload',
              message: `Canary ${next.canary.name} set to ${
                intent.image ?? next.canary.image ?? ''
              }${intent.version ? ` (version ${intent.version})` : ''}`,
              actor: ENGINE_ACTOR,
            },
          ],
        );
        return;
      }
      case 'promote-template': {
        await this.workloads(r).promoteTemplate(topology);
        await this.commit(
          r,
          {
            intent: null,
            state: { ...s, done: [...done, 'promote-template'] },
          },
          [
            {
              type: 'workload',
              message: `${topology.stable.name} now runs the canary's pod template`,
              actor: ENGINE_ACTOR,
            },
          ],
        );
        return;
      }
      case 'finalize-promotion': {
        await this.provider(
          r.cluster,
          r.spec.policy.trafficProvider,
        ).finalizePromotion(topology);
        const weight = topology.shape === 'versioned-subsets' ? 100 : 0;
        await this.commit(
          r,
          {
            intent: null,
            weight: topology.shape === 'versioned-subsets' ? 100 : r.weight,
            state: { ...s, appliedWeight: weight, done: [...done, 'finalize'] },
          },
          [
            {
              type: 'weight',
              message:
                topology.shape === 'versioned-subsets'
                  ? `Route on ${topology.canary.name} alone; header route removed`
                  : `All traffic on ${topology.stable.name}; header route removed`,
              actor: ENGINE_ACTOR,
            },
          ],
        );
        return;
      }
      default:
        throw new Error(`Unknown intent ${(intent as Intent).op}`);
    }
  }

  private async beginRollback(
    r: RolloutRecord,
    to: 'RolledBack' | 'Aborted' | 'Failed',
    cause: string,
    actor: string,
  ): Promise<RolloutRecord> {
    return this.commit(
      r,
      {
        phase: 'RollingBack',
        message: `Rolling back: ${cause}`,
        nextStepAt: null,
        state: {
          ...r.state,
          done: [],
          rollback: { to, cause, actor },
          resumeTo: undefined,
        },
      },
      [this.phaseEvent(r, 'RollingBack', `Rolling back: ${cause}`, actor)],
    );
  }

  private async finish(r: RolloutRecord, phase: RolloutPhase, message: string) {
    const updated = await this.commit(
      r,
      {
        phase,
        message,
        finishedAt: this.now(),
        nextStepAt: null,
        nextRunAt: null,
        intent: null,
      },
      [this.phaseEvent(r, phase, message)],
    );
    // Post-rollout webhooks were queued with the commit (see webhooks/outbox.ts).
    return updated;
  }

  private phaseEvent(
    r: RolloutRecord,
    to: RolloutPhase,
    message: string,
    actor = ENGINE_ACTOR,
  ): NewEvent {
    return { type: 'phase', message, actor, data: { from: r.phase, to } };
  }

  /** Commits under the row version; a lost race ends the pass. */
  private async commit(
    r: RolloutRecord,
    patch: RolloutPatch,
    events: NewEvent[] = [],
    analysis?: NewAnalysis,
  ): Promise<RolloutRecord> {
    const updated = await this.store.commit(r.id, r.version, patch, {
      events,
      analysis,
    });
    if (!updated) {
      throw new StaleRolloutError(`Rollout ${r.id} changed meanwhile`);
    }
    return updated;
  }

  /** Transient cluster trouble holds the weight and backs off; beyond the limit it rolls back. */
  private async onError(id: string, error: unknown) {
    const r = await this.store.get(id);
    if (!r || isTerminalPhase(r.phase)) return;
    const message = errorMessage(error);
    try {
      if (isConfigurationError(error)) {
        if (r.phase === 'RollingBack') {
          await this.finish(
            r,
            'Failed',
            `Rollback could not finish: ${message}`,
          );
        } else {
          await this.beginRollback(
            r,
            'Failed',
            `the cluster no longer matches the configuration: ${message}`,
            ENGINE_ACTOR,
          );
        }
        return;
      }
      if (!isClusterUnavailable(error)) {
        this.logger.error(`Canary rollout ${id}: unexpected error: ${message}`);
      }
      const errors = (r.state.clusterErrors ?? 0) + 1;
      const limit = r.spec.policy.clusterErrorLimit;
      const event: NewEvent = {
        type: 'cluster-error',
        message: `Cluster error (${errors} of ${limit}): ${message}; holding at ${r.weight} %`,
        actor: ENGINE_ACTOR,
        data: { errors, limit },
      };
      if (errors >= limit) {
        if (r.phase === 'RollingBack') {
          const updated = await this.commit(
            r,
            { state: { ...r.state, clusterErrors: errors } },
            [event],
          );
          await this.finish(
            updated,
            'Failed',
            `Rollback could not finish: ${message}`,
          );
        } else {
          const updated = await this.commit(
            r,
            { state: { ...r.state, clusterErrors: 0 } },
            [event],
          );
          await this.beginRollback(
            updated,
            'RolledBack',
            `the cluster failed ${errors} times in a row: ${message}`,
            ENGINE_ACTOR,
          );
        }
        return;
      }
      const backoff = Math.min(
        this.clusterBackoffMs * 2 ** (errors - 1),
        30_000,
      );
      await this.commit(
        r,
        {
          state: { ...r.state, clusterErrors: errors },
          nextRunAt: this.now() + backoff,
        },
        [event],
      );
    } catch (e) {
      if (!(e instanceof StaleRolloutError)) {
        this.logger.error(
          `Canary rollout ${id}: could not record an error: ${errorMessage(e)}`,
        );
      }
    }
  }

  // ------------------------------------------------------------------ access

  private provider(
    cluster: string,
    name: RolloutTarget['provider'],
  ): TrafficProvider {
    return this.clusters.trafficProvider(cluster, name);
  }

  private workloads(r: RolloutRecord): WorkloadManager {
    return this.clusters.workloads(r.cluster);
  }

  private analysisRequest(r: RolloutRecord): AnalysisRequest {
    return {
      rolloutId: r.id,
      entityRef: r.entityRef,
      cluster: r.cluster,
      namespace: r.namespace,
      service: r.workload,
      stable: r.stable,
      canary: r.canary,
      topology: r.state.topology,
      weight: r.weight,
      stepIndex: r.stepIndex,
      analysis: r.spec.policy.analysis.config,
      state: r.state.analysisState,
      failedChecks: r.state.failedChecks ?? 0,
      startedAt: r.createdAt,
      stepStartedAt: r.state.stepStartedAt ?? r.createdAt,
      now: this.now(),
    };
  }
}
