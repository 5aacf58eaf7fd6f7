/**
 * The phases of a rollout.
 *
 * Pending → Progressing ⇄ Paused / AwaitingApproval → Promoting → Succeeded;
 * any live phase → RollingBack → RolledBack (by analysis or deadline) /
 * Aborted (by a person) / Failed (the rollback itself could not finish).
 *
 * @public
 */
export type RolloutPhase =
  | 'Pending'
  | 'Progressing'
  | 'Paused'
  | 'AwaitingApproval'
  | 'Promoting'
  | 'Succeeded'
  | 'RollingBack'
  | 'RolledBack'
  | 'Aborted'
  | 'Failed';

/** Phases a rollout never leaves (except by retry, which starts a new one). @public */
export const TERMINAL_PHASES: ReadonlyArray<RolloutPhase> = [
  'Succeeded',
  'RolledBack',
  'Aborted',
  'Failed',
];

/** @public */
export function isTerminalPhase(phase: RolloutPhase): boolean {
  return TERMINAL_PHASES.includes(phase);
}

/** The controls a person or pipeline can use on a rollout. @public */
export type RolloutControl =
  | 'promote'
  | 'abort'
  | 'pause'
  | 'resume'
  | 'approve'
  | 'retry';

/** One step of the schedule. @public */
export interface RolloutStep {
  /** Canary weight in percent, 0–100. */
  weight: number;
  /** Hold at least this long at this weight (seconds) before the next step. */
  pauseSeconds?: number;
  /** A person must approve before the rollout moves past this step. */
  approval?: boolean;
}

/** One side of a rollout. @public */
export interface RolloutWorkload {
  /** Deployment name. */
  name: string;
  /** Version label or subset name, when there is one. */
  version?: string;
  /** Image of the first container. */
  image?: string;
  /**
   * Its pods as the cluster reports them now: only on the active rollout of
   * a component's status (`GET /entities/...`), and only when the cluster
   * answered at once.
   */
  pods?: WorkloadPods;
}

/** How many pods a Deployment asks for, and how many are available. @public */
export interface WorkloadPods {
  desired: number;
  available: number;
}

/** The verdict of one check. @public */
export type CheckVerdict = 'pass' | 'fail' | 'inconclusive';

/** What the analysis decided at a tick. @public */
export type DecisionAction = 'advance' | 'hold' | 'rollback';

/** Which judge made a check. @public */
export type JudgeKind = 'threshold' | 'relative' | 'sequential' | 'pod-health';

/** A bound a value was compared with. @public */
export interface CheckBound {
  min?: number;
  max?: number;
  /** Human readable form, e.g. "≤ 1.2 × stable" or "≥ 99 %". */
  text: string;
}

/**
 * One check of one gated metric at one analysis tick: everything the UI needs
 * to explain the decision it contributed to.
 * @public
 */
export interface AnalysisCheck {
  /** Gate name from the policy, e.g. `request-success-rate`. */
  metric: string;
  judge: JudgeKind;
  /** Rendered PromQL, when the check read Prometheus. */
  query?: string;
  canaryValue: number | null;
  stableValue: number | null;
  unit?: string;
  bound?: CheckBound;
  verdict: CheckVerdict;
  /** One sentence a developer understands, e.g. "canary error rate 4.1 % vs stable 0.3 %". */
  evidence: string;
  /** Judge-specific numbers (e-value, counts, …). */
  details?: Record<string, number | string | boolean | null>;
}

/** The decision of one analysis tick with the checks that made it. @public */
export interface AnalysisResult {
  id: number;
  rolloutId: string;
  time: string;
  stepIndex: number;
  weight: number;
  action: DecisionAction;
  reason: string;
  /** Failed ticks counted so far toward the failure limit. */
  failedChecks: number;
  checks: AnalysisCheck[];
}

/** A rollout, as the API returns it. @public */
export interface Rollout {
  id: string;
  /** e.g. `component:default/my-app` */
  entityRef: string;
  cluster: string;
  namespace: string;
  policy: string;
  /** `istio`, `replicas`, `gateway-api`, `smi` or `nginx`. */
  trafficProvider: string;
  /** Name of the routing object, when there is one. */
  route?: string;
  phase: RolloutPhase;
  /** Index into `steps` of the current step; -1 before the first. */
  stepIndex: number;
  steps: RolloutStep[];
  /** Canary weight the engine has set (percent). */
  weight: number;
  /** Canary weight actually in effect (e.g. replica ratio), when known. */
  actualWeight?: number | null;
  stable: RolloutWorkload;
  canary: RolloutWorkload;
  /** Why the rollout is in its phase, in words. */
  message?: string;
  createdAt: string;
  updatedAt: string;
  finishedAt?: string | null;
  /** When the current step may advance, if the rollout is progressing. */
  nextStepAt?: string | null;
  /** Who started it: a user or service entity ref. */
  startedBy: string;
  /** The latest analysis verdict, if any. */
  lastAnalysis?: AnalysisResult | null;
  /**
   * The engine keeps retrying after cluster errors (a rollback never gives
   * up on errors retrying can fix): since when, and how many attempts.
   */
  retrying?: { since: string; attempts: number; lastError: string } | null;
  /**
   * For a rollout that ended Failed: the commands that send all traffic to
   * stable by hand, exact for the objects as they were when it ended.
   */
  manualRestore?: string[];
  /**
   * Set when another controller (Flagger, Argo Rollouts) runs this canary:
   * the object it is read from. Coalmine then never drives the workload.
   */
  controller?: ExternalControllerRef;
  /**
   * For a rollout run by another controller: every control the tab shows,
   * enabled or not, with the reason when not. (Coalmine's own rollouts use
   * the phase rule in `controls.ts` instead.)
   */
  controls?: ExternalControlState[];
}

/** The canary controllers Coalmine shows and controls besides its own engine. @public */
export type ExternalControllerKind = 'flagger' | 'argo-rollouts';

/** The object of another controller a rollout is read from. @public */
export interface ExternalControllerRef {
  kind: ExternalControllerKind;
  /** e.g. `flagger.app/v1beta1` or `argoproj.io/v1alpha1`. */
  apiVersion: string;
  /** `Canary` or `Rollout`. */
  objectKind: string;
  name: string;
  namespace: string;
  cluster: string;
}

/** Controls of other controllers: Coalmine's, plus Argo's full promote. @public */
export type ExternalRolloutControl = RolloutControl | 'promote-full';

/** One control of an externally controlled rollout, as the tab shows it. @public */
export interface ExternalControlState {
  control: ExternalRolloutControl;
  /** Button text, e.g. "Promote", "Full promote", "Roll back". */
  label: string;
  enabled: boolean;
  /** Why the button is disabled (the controller has no such control, or not now). */
  reason?: string;
  /** What pressing it does in the controller's terms, e.g. "clears status.pauseConditions". */
  description: string;
}

/** Something that happened to a rollout. @public */
export interface RolloutEvent {
  id: number;
  rolloutId: string;
  time: string;
  /** e.g. `phase`, `step`, `weight`, `analysis`, `control`, `webhook`, `cluster-error`, `drift`. */
  type: string;
  message: string;
  /** Who caused it: a user ref, `service:...`, or `coalmine` for the engine. */
  actor: string;
  data?: Record<string, unknown>;
}

/**
 * A rollout with the newest page of what happened to it: its events and
 * analysis rows, oldest first, and cursors for the older pages.
 * @public
 */
export interface RolloutDetails {
  rollout: Rollout;
  events: RolloutEvent[];
  analysis: AnalysisResult[];
  /** Pass as `eventsBefore` for the next older events; null when `events` reach the first. */
  eventsCursor?: string | null;
  /** Pass as `analysisBefore` for the next older analysis rows; null when `analysis` reaches the first. */
  analysisCursor?: string | null;
}

/** One page of a rollout's events or analysis rows, oldest first. @public */
export interface RolloutHistoryPage<T> {
  items: T[];
  /** Cursor of the next older page; null when this page reaches the first. */
  cursor: string | null;
}

/** One page of the rollout list, newest first. @public */
export interface RolloutListPage {
  items: Rollout[];
  /** Pass as `cursor` for the next page; null when there is none. */
  nextCursor: string | null;
}

/** One time series point: [unix seconds, value]. @public */
export type SeriesPoint = [number, number];

/** Canary and stable over time for one gated metric, with its bound. @public */
export interface MetricSeries {
  metric: string;
  unit?: string;
  bound?: CheckBound;
  canary: SeriesPoint[];
  stable: SeriesPoint[];
}

/** How a component is set up for canaries, after defaults and validation. @public */
export interface CanaryTarget {
  entityRef: string;
  policy: string;
  clusters: string[];
  namespace: string;
  workload: string;
  route?: string;
  trafficProvider: string;
  steps: RolloutStep[];
}

/** A problem with a component's annotations or the policy they name. @public */
export interface CanaryConfigProblem {
  /** The annotation or config key to change. */
  key: string;
  message: string;
}

/** Everything the Canary tab needs for a component in one call. @public */
export interface EntityCanaryStatus {
  entityRef: string;
  /** The resolved target, or the problems that keep it from resolving. */
  target: CanaryTarget | null;
  problems: CanaryConfigProblem[];
  /** The rollout that is running now, if any. */
  active: Rollout | null;
  /** Recent rollouts, newest first (including the active one). */
  history: Rollout[];
  /**
   * The Flagger Canary or Argo Rollout that runs the component's canaries
   * (then `active` and the first of `history` are read from it); absent when
   * Coalmine's own engine runs them.
   */
  controller?: ExternalControllerRef;
}

/** Body of `POST /rollouts`. @public */
export interface StartRolloutRequest {
  entityRef: string;
  /** Cluster name; defaults to the component's first cluster. */
  cluster?: string;
  /** New canary image; when given the engine updates or creates the canary workload. */
  image?: string;
  /** Version label for the new canary. */
  version?: string;
}

/** Body of `POST /rollouts/:id/:control`. @public */
export interface RolloutControlRequest {
  /** Why, recorded in the event and the audit log. */
  reason?: string;
}
