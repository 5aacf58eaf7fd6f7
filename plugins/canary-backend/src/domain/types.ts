import type {
  DecisionAction,
  RolloutPhase,
  RolloutStep,
  RolloutWorkload,
} from '@coalmine/backstage-plugin-canary-common';
import type { CanaryPolicy } from '../config/policy';
import type { TrafficTopology } from '../kubernetes/types';

/** What a rollout was asked to do; fixed when it starts. */
export interface RolloutSpec {
  policy: CanaryPolicy;
  /** New canary image / version, when the caller gave one. */
  request: { image?: string; version?: string };
  /** The rollout this one retries, if any. */
  retryOf?: string;
  /** The component's route annotation, passed to the provider. */
  route?: string;
  /** The component's owners at start, for the platform side of the binding. */
  owners?: string[];
}

/**
 * Promotion and rollback operations, in the order a plan lists them. A step
 * is added to `EngineState.done` in the same commit that records its effect.
 */
export type DoneStep =
  | 'prepare'
  | 'scale-up'
  | 'size-canary'
  | 'promote-template'
  | 'wait-stable'
  | 'finalize'
  | 'retire-stable'
  | 'scale-down-canary'
  | 'route-stable'
  | 'restore-template'
  | 'release';

/** Why a Deployment is scaled; the name of the step it completes. */
export type ScaleReason = Extract<
  DoneStep,
  'scale-up' | 'size-canary' | 'retire-stable' | 'scale-down-canary'
>;

/** Why a weight is written: the next step, a rollback to 0, or undoing a hand edit. */
export type WeightReason = 'step' | 'rollback' | 'restore';

/** Scale a Deployment to a replica count. */
export interface ScaleIntent {
  op: 'scale';
  deployment: string;
  replicas: number;
  why: ScaleReason;
}

/** Write the canary weight (and the sticky header route). */
export interface SetWeightIntent {
  op: 'set-weight';
  weight: number;
  headerRoute: boolean;
  /** Step index the weight belongs to; -1 for rollback to 0. */
  stepIndex: number;
  why: WeightReason;
}

/** Point the canary Deployment at the requested image / version. */
export interface PrepareCanaryIntent {
  op: 'prepare-canary';
  image?: string;
  version?: string;
}

/** Copy the canary's pod template to stable. */
export interface PromoteTemplateIntent {
  op: 'promote-template';
}

/** Route everything to the new stable and remove the header route. */
export interface FinalizePromotionIntent {
  op: 'finalize-promotion';
}

/** Rollback of a promotion: write stable's pod template saved at start back. */
export interface RestoreTemplateIntent {
  op: 'restore-template';
}

/**
 * A cluster write the engine is about to make. It is stored before the write
 * and cleared in the same transaction that records its effect, so after a
 * crash the engine re-applies exactly this — idempotently — and moves on.
 */
export type Intent =
  | PrepareCanaryIntent
  | ScaleIntent
  | SetWeightIntent
  | PromoteTemplateIntent
  | FinalizePromotionIntent
  | RestoreTemplateIntent;

/** The kinds of intent. */
export type IntentOp = Intent['op'];

/**
 * Intents that move a rollout forward. A rollback supersedes them: one found
 * pending when a rollback starts (or during it) is dropped, never applied.
 */
export function isForwardIntent(intent: Intent): boolean {
  switch (intent.op) {
    case 'set-weight':
      return intent.why !== 'rollback';
    case 'scale':
      return intent.why !== 'scale-down-canary';
    case 'restore-template':
      return false;
    default:
      return true;
  }
}

/** Where a rollback ends. */
export type RollbackEnd = 'RolledBack' | 'Aborted' | 'Failed';

/** Engine bookkeeping kept with the rollout (JSON). */
export interface EngineState {
  /** The topology the provider discovered at start. */
  topology?: TrafficTopology;
  /** Canary replicas to run while the rollout lasts. */
  canaryReplicas?: number;
  /** Stable replicas at start (restored by replica-ratio rollback). */
  stableReplicas?: number;
  /**
   * `canaryScale: weight`: the highest weight the canary was sized for
   * (scaled up, or found with the pods it needs). Scaled once per weight:
   * when something then sets fewer pods (an autoscaler at its maxReplicas, a
   * person), the rollout goes on with them instead of writing the count
   * again every pass; a weight above it (the next step, or one adopted from
   * a hand edit) is sized again.
   */
  sizedFor?: number;
  /** When the current wait for canary availability began (ms). */
  waitingSince?: number;
  /** When the current step was reached (ms). */
  stepStartedAt?: number;
  /** Next analysis run (ms). */
  nextAnalysisAt?: number;
  /** Analyses that said advance at the current step. */
  passedAtStep?: number;
  /** When an analysis first said advance at the current step (ms). */
  passedAt?: number;
  /** The analysis allowed the current step to end early (opt-in early advance). */
  earlyAdvanceAtStep?: boolean;
  /** The Analyzer's own state between ticks. */
  analysisState?: unknown;
  /** The previous analysis verdict (events mark changes only). */
  lastAnalysisAction?: DecisionAction;
  /** Failed analysis ticks counted so far. */
  failedChecks?: number;
  /** Analysis runs in a row that could not run at all (exceptions). */
  analysisErrors?: number;
  /** When an analysis result was last kept for good (see NewAnalysis.keep). */
  analysisKeptAt?: number;
  /** The verdicts of the last analysis (its action and each check's), to keep a result when they change. */
  analysisVerdict?: string;
  /** Steps whose approval gate was passed. */
  approvedSteps?: number[];
  /** Weight the cluster reported after our last write (drift detection). */
  appliedWeight?: number;
  /** Consecutive transient cluster errors. */
  clusterErrors?: number;
  /** Which promotion / rollback operations are done. */
  done?: DoneStep[];
  /** Why the rollout is rolling back and where it ends. */
  rollback?: {
    to: RollbackEnd;
    cause: string;
    actor: string;
    /** The phase the rollback started from (Promoting: restore stable's template). */
    from?: RolloutPhase;
  };
  /**
   * A rollback retrying after cluster errors: it never gives up on errors
   * that retrying can fix, and says since when it has been trying.
   */
  rollbackRetry?: { since: number; attempts: number; lastError: string };
  /** A promotion retrying after cluster errors (it finishes rather than half-undo). */
  promotionRetry?: { since: number; attempts: number; lastError: string };
  /** Commands that restore stable by hand, recorded when the rollout ended Failed. */
  manualRestore?: string[];
  /** Stable's pod template when the rollout started (restored if a promotion fails). */
  stableTemplate?: Record<string, unknown>;
  /** The canary's pod template hash, fixed when the first step began. */
  canaryTemplate?: string;
  /** When the current hold (Paused / AwaitingApproval) began (ms). */
  holdSince?: number;
  /** Phase to return to on resume. */
  resumeTo?: RolloutPhase;
  /** Webhook gates already passed (by name + step). */
  webhooksPassed?: string[];
  /** Consecutive failures of the current gating webhook. */
  webhookFailures?: number;
  /** Restarts of the canary's pods seen when the rollout started. */
  baselineRestarts?: Record<string, number>;
}

/** One stored rollout. */
export interface RolloutRecord {
  id: string;
  entityRef: string;
  cluster: string;
  namespace: string;
  workload: string;
  route?: string;
  policy: string;
  trafficProvider: string;
  phase: RolloutPhase;
  stepIndex: number;
  weight: number;
  actualWeight: number | null;
  steps: RolloutStep[];
  stable: RolloutWorkload;
  canary: RolloutWorkload;
  message: string | null;
  spec: RolloutSpec;
  state: EngineState;
  intent: Intent | null;
  startedBy: string;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
  nextStepAt: number | null;
  nextRunAt: number | null;
  version: number;
}

/** Fields the engine may change in one commit. */
export type RolloutPatch = Partial<
  Pick<
    RolloutRecord,
    | 'phase'
    | 'stepIndex'
    | 'weight'
    | 'actualWeight'
    | 'stable'
    | 'canary'
    | 'message'
    | 'state'
    | 'intent'
    | 'finishedAt'
    | 'nextStepAt'
    | 'nextRunAt'
    | 'route'
  >
>;

/** An event to record with a commit. */
export interface NewEvent {
  type: string;
  message: string;
  actor: string;
  data?: Record<string, unknown>;
}
