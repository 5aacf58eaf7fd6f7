import type { LoggerService } from '@backstage/backend-plugin-api';
import type { RolloutPhase } from '@coalmine/backstage-plugin-canary-common';
import type { CanaryPolicy } from '../config/policy';
import type {
  AnalysisRequest,
  ClusterAccess,
  RolloutAnalyzer,
} from '../domain/ports';
import type { PodHealthSnapshot } from '../domain/podHealth';
import { StaleRolloutError } from '../domain/errors';
import type {
  EngineState,
  NewEvent,
  RolloutPatch,
  RolloutRecord,
} from '../domain/types';
import type {
  TrafficProvider,
  TrafficTopology,
  WorkloadManager,
} from '../kubernetes/types';
import type { NewAnalysis, RolloutStore } from '../store/RolloutStore';
import type { WebhookDispatcher } from '../webhooks/WebhookDispatcher';
import { ENGINE_ACTOR, Notifier } from './notifications';

/** What every pass shares: the engine's collaborators and settings. */
export interface EngineDeps {
  store: RolloutStore;
  clusters: ClusterAccess;
  analyzer?: RolloutAnalyzer;
  webhooks: WebhookDispatcher;
  notifier: Notifier;
  logger: LoggerService;
  /** Lease holder name of this replica. */
  owner: string;
  /** First back-off after a cluster error; doubles per consecutive error. */
  clusterBackoffMs: number;
  now: () => number;
}

/**
 * One pass over one rollout (like Argo Rollouts' rolloutContext): the record
 * as last committed, the cluster it runs on, and what this pass has read so
 * far. Phases, guards and intents take the context and call `commit`, which
 * checks the row version and moves `r` forward; a lost race ends the pass.
 */
export class PassContext {
  /** Pods of the canary as read by this pass's health guard. */
  podHealth?: PodHealthSnapshot;

  constructor(
    readonly deps: EngineDeps,
    /** The rollout as last committed. */
    public r: RolloutRecord,
  ) {}

  get state(): EngineState {
    return this.r.state;
  }

  get policy(): CanaryPolicy {
    return this.r.spec.policy;
  }

  get topology(): TrafficTopology {
    return this.r.state.topology!;
  }

  now(): number {
    return this.deps.now();
  }

  provider(): TrafficProvider {
    return this.deps.clusters.trafficProvider(
      this.r.cluster,
      this.policy.trafficProvider,
    );
  }

  workloads(): WorkloadManager {
    return this.deps.clusters.workloads(this.r.cluster);
  }

  /** Commits under the row version; a lost race throws StaleRolloutError and ends the pass. */
  async commit(
    patch: RolloutPatch,
    events: NewEvent[] = [],
    analysis?: NewAnalysis,
  ): Promise<RolloutRecord> {
    const updated = await this.deps.store.commit(
      this.r.id,
      this.r.version,
      patch,
      { events, analysis },
    );
    if (!updated) {
      throw new StaleRolloutError(`Rollout ${this.r.id} changed meanwhile`);
    }
    this.r = updated;
    if (events.length > 0) this.deps.notifier.events(updated, events);
    return updated;
  }

  /** An event recorded by the engine itself. */
  event(
    type: string,
    message: string,
    data?: Record<string, unknown>,
  ): NewEvent {
    return { type, message, actor: ENGINE_ACTOR, ...(data ? { data } : {}) };
  }

  /** The event of a phase change from the current phase. */
  phaseEvent(
    to: RolloutPhase,
    message: string,
    actor = ENGINE_ACTOR,
  ): NewEvent {
    return { type: 'phase', message, actor, data: { from: this.r.phase, to } };
  }

  analysisRequest(): AnalysisRequest {
    return analysisRequestOf(this.r, this.now());
  }
}

/** What the analysis needs to know about a rollout. */
export function analysisRequestOf(
  r: RolloutRecord,
  now: number,
): AnalysisRequest {
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
    now,
  };
}
