import type { LoggerService } from '@backstage/backend-plugin-api';
import type { RolloutPhase } from '@coalmine/backstage-plugin-canary-common';
import type { CanaryPolicy } from '../config/policy';
import type {
  AnalysisRequest,
  ClusterAccess,
  RolloutAnalyzer,
} from '../domain/ports';
import type { PodHealthSnapshot } from '../domain/podHealth';
import { LeaseLostError, StaleRolloutError } from '../domain/errors';
import { raceSignal } from '../domain/passScope';
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
import type {
  WebhookDispatcher,
  WebhookOutcome,
} from '../webhooks/WebhookDispatcher';
import { ENGINE_ACTOR } from './notifications';
import type { WorkloadBinding } from '../binding';

/** What every pass shares: the engine's collaborators and settings. */
export interface EngineDeps {
  store: RolloutStore;
  clusters: ClusterAccess;
  analyzer?: RolloutAnalyzer;
  webhooks: WebhookDispatcher;
  /** Whether the component may still act on the workload (cluster or platform binding). */
  binding: WorkloadBinding;
  logger: LoggerService;
  /** Lease holder name of this replica. */
  owner: string;
  /** First back-off after a cluster error; doubles per consecutive error. */
  clusterBackoffMs: number;
  /** Longest back-off between retries of a rollback or promotion. */
  maxBackoffMs: number;
  /** How long a lease lasts without renewal. */
  leaseMs: number;
  /** Lease times in this clock (tests); undefined: the database's clock. */
  leaseNow?: () => number;
  /** How often a rollout in Pending, Promoting or RollingBack is looked at. */
  pollMs: number;
  /** Longest time between two looks at a canary with traffic (pod health, drift, template). */
  watchMs: number;
  now: () => number;
  /** Analyses read Prometheus at the start of slots this long (0: at their own time). */
  analysisSlotMs?: number;
  /**
   * Analysis results are kept on a change of verdict and at least this
   * often; in between the latest replaces the one before (0: keep all).
   */
  analysisSampleMs?: number;
  /**
   * A pass that does not write forward trusts a binding check this recent
   * (0: every pass checks). Forward writes always check in their own pass.
   */
  bindingRecheckMs?: number;
  /** When this replica last found each rollout's binding holding. */
  bindingCheckedAt?: Map<string, number>;
  /** Advance a rollout soon, outside the loop (e.g. when a webhook answered). */
  kick(id: string): void;
  /** Keep a background promise until it settles (stop/idle wait for it). */
  track(p: Promise<unknown>): void;
  /** Answers of gating webhooks called in the background, by rollout and hook. */
  webhookCalls: Map<string, { outcome?: WebhookOutcome }>;
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
  /** The binding was checked (and held) in this pass. */
  bindingChecked = false;
  /** The last fence this pass passed: at which version, when (monotonic ms). */
  private fenced?: { version: number; at: number };

  constructor(
    readonly deps: EngineDeps,
    /** The rollout as last committed. */
    public r: RolloutRecord,
    /** Aborts when the pass runs past its deadline or loses its lease. */
    readonly signal?: AbortSignal,
  ) {}

  /**
   * The fence before a cluster write: renews the lease only while this
   * replica holds it and the rollout still has the version this pass read.
   * Throws (ending the pass) when a newer decision or another replica took
   * over, so a superseded write is never sent.
   */
  async fence(): Promise<void> {
    if (this.signal?.aborted) throw this.signal.reason;
    // A fence passed a moment ago at this version still holds: the lease it
    // renewed runs for a whole lease more, so no other replica can have
    // taken it, and only this pass commits while it is held (a commit of
    // its own changes the version and fences anew). The intent's fence and
    // the client's before the write itself cost one statement, not two or
    // three. A pause (a frozen process, a slow read) longer than a tenth of
    // the lease fences again.
    const at = performance.now();
    if (
      this.fenced?.version === this.r.version &&
      at - this.fenced.at < Math.min(1000, this.deps.leaseMs / 10)
    ) {
      return;
    }
    const ok = await this.deps.store.renewLease(
      this.r.id,
      this.deps.owner,
      this.deps.leaseMs,
      { version: this.r.version, now: this.deps.leaseNow?.() },
    );
    if (!ok) {
      throw new LeaseLostError(
        `Rollout ${this.r.id}: lease lost or the rollout changed since version ${this.r.version}; not writing`,
      );
    }
    this.fenced = { version: this.r.version, at };
  }

  /** Waits for `work`, but no longer than the pass may run. */
  raced<T>(work: Promise<T>): Promise<T> {
    return raceSignal(work, this.signal);
  }

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
      { events, analysis, base: this.r },
    );
    if (!updated) {
      throw new StaleRolloutError(`Rollout ${this.r.id} changed meanwhile`);
    }
    this.r = updated;
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
    return analysisRequestOf(this.r, this.analysisTime());
  }

  /**
   * The time an analysis reads Prometheus at: now, or the start of the
   * current slot of `analysisSlotMs` (the loop's period, at most the
   * analysis interval), so the analyses of all rollouts in one loop read at
   * the same time and share one query per metric, however many they are
   * (analysis/reading/BatchedPrometheus.ts). Two analyses of a rollout are
   * an interval apart, so they never read the same slot. It is never before
   * the current step began.
   */
  analysisTime(): number {
    const now = this.now();
    const slot = Math.min(
      this.deps.analysisSlotMs ?? 0,
      this.policy.analysis.intervalMs,
    );
    if (!(slot > 0)) return now;
    const start = Math.floor(now / slot) * slot;
    return start > (this.state.stepStartedAt ?? this.r.createdAt) ? start : now;
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
    headerRoute: Boolean(r.spec.policy.stickyHeader),
    now,
  };
}
