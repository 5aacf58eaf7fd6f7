import type {
  AnalysisCheck,
  DecisionAction,
  MetricSeries,
  RolloutWorkload,
} from '@coalmine/backstage-plugin-canary-common';
import type {
  PodHealthSnapshot,
  TrafficProvider,
  TrafficProviderName,
  TrafficTopology,
  WorkloadManager,
} from '../kubernetes/types';

/** How the engine reaches the clusters: a provider and a workload manager per cluster. */
export interface ClusterAccess {
  trafficProvider(
    cluster: string,
    provider: TrafficProviderName,
  ): TrafficProvider;
  workloads(cluster: string): WorkloadManager;
}

/** What the engine tells the analysis at each analysis tick. */
export interface AnalysisRequest {
  rolloutId: string;
  entityRef: string;
  cluster: string;
  namespace: string;
  service: string;
  stable: RolloutWorkload;
  canary: RolloutWorkload;
  topology?: TrafficTopology;
  weight: number;
  stepIndex: number;
  /** The policy's `analysis:` block. */
  analysis: Record<string, unknown>;
  /** What the analysis returned last time for this rollout. */
  state: unknown;
  /** Failed ticks counted so far. */
  failedChecks?: number;
  /** The canary's pods as read this tick. */
  podHealth?: PodHealthSnapshot;
  /** Reads the names and IPs of an arm's pods now; the analysis asks only when a series went quiet (a deleted pod or a scrape outage). */
  listPods?(arm: 'canary' | 'stable'): Promise<string[]>;
  /** Rollout start and current step start (ms). */
  startedAt: number;
  stepStartedAt: number;
  /** A header route sends some requests to the canary whatever the weight (so its share is not checked against the weight). */
  headerRoute?: boolean;
  now: number;
}

/** The decision of one analysis tick. */
export interface AnalysisDecision {
  action: DecisionAction;
  reason: string;
  checks: AnalysisCheck[];
  failedChecks: number;
  state: unknown;
  /** With `advance`: the evidence at this weight already shows the canary no worse (opt-in early advance); the step may end before its pause. */
  earlyAdvance?: boolean;
}

/** Judges a rollout from its metrics. */
export interface RolloutAnalyzer {
  /** True when the policy's analysis block has gates, i.e. steps wait for a passing analysis. */
  hasGates(analysis: Record<string, unknown>): boolean;
  evaluate(request: AnalysisRequest): Promise<AnalysisDecision>;
  series(
    request: AnalysisRequest & { from: number; to: number },
  ): Promise<MetricSeries[]>;
}
