import { randomUUID } from 'crypto';
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
  WorkloadPods,
} from '@coalmine/backstage-plugin-canary-common';
import type { ResolvedTarget } from '../config/resolveTarget';
import { imageAllowed } from '../config/policy';
import {
  errorMessage,
  isClusterUnavailable,
  isConfigurationError,
} from '../domain/errors';
import type { NewEvent, RolloutRecord } from '../domain/types';
import type { RolloutTarget, TrafficTopology } from '../kubernetes/types';
import { RolloutStore, workloadBusyMessage } from '../store/RolloutStore';
import { analysisRequestOf } from '../engine/context';
import { decideControl } from '../engine/controls';
import { ENGINE_ACTOR, webhookPayload } from '../engine/notifications';
import type { RolloutEngine } from '../engine/RolloutEngine';

/** How much of a rollout the charts cover: its last hour (all of a shorter one). */
export const SERIES_SPAN_MS = 60 * 60_000;
/** How long a finished rollout's series (which no longer change) stay cached. */
const FINISHED_SERIES_TTL_MS = 10 * 60_000;
const MAX_CACHED_SERIES = 1000;

/** What a start needs: the resolved target, the cluster and who asked. */
export interface StartRequest {
  resolved: ResolvedTarget;
  cluster: string;
  image?: string;
  version?: string;
  startedBy: string;
  retryOf?: string;
}

/** The target a provider discovers from a resolved component. */
function rolloutTarget(
  resolved: ResolvedTarget,
  cluster: string,
  rolloutId?: string,
): RolloutTarget {
  const { target, policy } = resolved;
  return {
    cluster,
    namespace: target.namespace,
    service: target.workload,
    route: target.route,
    provider: policy.trafficProvider,
    stickyHeader: policy.stickyHeader,
    ...(rolloutId ? { rolloutId } : {}),
  };
}

/** How long the status waits for the cluster's pod counts before it answers without them. */
export const PODS_WAIT_MS = 1000;

/**
 * The use cases of rollouts: start, control, and the read-side queries the
 * engine does not need (what the cluster says about a setup, metric series).
 * The router validates and authorizes, then calls this; the engine advances
 * what this records.
 */
export class RolloutService {
  private readonly inspections = new Map<
    string,
    { until: number; problems: Promise<CanaryConfigProblem[]> }
  >();

  /**
   * Pods reads still waiting for the cluster, per Deployment: a cluster that
   * hangs gets one read at a time, and status rebuilds meanwhile do not wait
   * for it again.
   */
  private readonly podReads = new Map<
    string,
    Promise<WorkloadPods | undefined>
  >();

  /** Series per rollout, one Prometheus evaluation per analysis interval shared by every viewer. */
  private readonly seriesCache = new Map<
    string,
    { key: string; until: number; value: Promise<MetricSeries[]> }
  >();

  constructor(
    private readonly store: RolloutStore,
    private readonly engine: RolloutEngine,
  ) {}

  private get deps() {
    return this.engine.context;
  }

  /**
   * Starts a rollout. ConflictError when one is active for the component on
   * the cluster, or for the workload (cluster, namespace, Service) whichever
   * component started it — naming that component.
   */
  async start(request: StartRequest): Promise<RolloutRecord> {
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
    const wanted = {
      entityRef: target.entityRef,
      cluster: request.cluster,
      namespace: target.namespace,
      workload: target.workload,
    };
    const other = await this.store.activeForWorkload(
      request.cluster,
      target.namespace,
      target.workload,
    );
    if (other) throw new ConflictError(workloadBusyMessage(wanted, other));
    const id = randomUUID();
    let topology: TrafficTopology;
    try {
      topology = await this.deps.clusters
        .trafficProvider(request.cluster, policy.trafficProvider)
        .discover(rolloutTarget(request.resolved, request.cluster, id));
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
    // The image the canary will run: the requested one, else the canary Deployment's.
    const image = request.image ?? topology.canary.image;
    if (image && !imageAllowed(image, policy.allowedImages ?? [])) {
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
      await this.deps.binding.require({
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
    const now = this.deps.now();
    const record: RolloutRecord = {
      id,
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
    this.engine.kick(record.id);
    return record;
  }

  /** Applies a control under the rollout's lease; see {@link decideControl} for the rules. */
  async control(
    id: string,
    control: Exclude<RolloutControl, 'retry'>,
    actor: string,
    reason?: string,
  ): Promise<RolloutRecord> {
    // Promoting by hand skips the last step, not its gate: the
    // confirm-promotion webhooks run first, outside the lease, so a slow hook
    // holds up no pass.
    const before = control === 'promote' ? await this.store.get(id) : undefined;
    const confirmed =
      before &&
      ['Progressing', 'Paused', 'AwaitingApproval'].includes(before.phase)
        ? await this.confirmPromotion(before)
        : undefined;
    return this.engine.exclusive(
      id,
      async () => {
        const r = await this.store.get(id);
        if (!r) throw new ConflictError(`Rollout ${id} disappeared`);
        const outcome = decideControl(
          r,
          control,
          actor,
          reason,
          this.deps.now(),
        );
        if (!outcome.patch) return r;
        if (confirmed) {
          outcome.patch.state = {
            ...(outcome.patch.state ?? r.state),
            webhooksPassed: [
              ...new Set([
                ...(r.state.webhooksPassed ?? []),
                ...confirmed.passed,
              ]),
            ],
          };
          outcome.events.push(...confirmed.events);
        }
        const updated = await this.store.commit(
          r.id,
          r.version,
          outcome.patch,
          {
            events: outcome.events,
          },
        );
        if (!updated) {
          throw new ConflictError(`Rollout ${id} changed meanwhile; try again`);
        }
        return updated;
      },
      { preempt: control === 'abort' },
    );
  }

  /**
   * Runs the policy's confirm-promotion webhooks that have not passed yet
   * for this rollout. A refusal is recorded and answered with
   * ConflictError; the rollout stays where it is.
   */
  private async confirmPromotion(
    r: RolloutRecord,
  ): Promise<{ passed: string[]; events: NewEvent[] }> {
    const passed = [...(r.state.webhooksPassed ?? [])];
    const events: NewEvent[] = [];
    for (const hook of r.spec.policy.webhooks.filter(
      h => h.type === 'confirm-promotion',
    )) {
      const id = `${hook.name}@promote`;
      if (passed.includes(id)) continue;
      const outcome = await this.deps.webhooks.call(
        r.spec.policy.name,
        hook,
        webhookPayload(r, hook),
      );
      const event: NewEvent = {
        type: 'webhook',
        message: `Webhook ${hook.name} (confirm-promotion) ${
          outcome.ok ? 'passed' : 'refused'
        }: ${outcome.message}`,
        actor: ENGINE_ACTOR,
        data: {
          webhook: hook.name,
          type: 'confirm-promotion',
          ok: outcome.ok,
          status: outcome.status ?? null,
          attempts: outcome.attempts,
        },
      };
      if (!outcome.ok) {
        await this.store.addEvents(r.id, [event]);
        throw new ConflictError(
          `Cannot promote rollout ${r.id}: webhook ${hook.name} (confirm-promotion) refused: ${outcome.message}`,
        );
      }
      passed.push(id);
      events.push(event);
    }
    return { passed, events };
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
    // Also while the first check is under way: concurrent viewers share it.
    if (cached && cached.until > Date.now()) return cached.problems;
    const check = Promise.resolve()
      .then(() =>
        this.deps.clusters
          .trafficProvider(cluster, resolved.policy.trafficProvider)
          .discover(rolloutTarget(resolved, cluster)),
      )
      .then(async (topology): Promise<CanaryConfigProblem[]> => {
        // The tab shows a missing binding with what to add.
        const verdict = await this.deps.binding.check({
          entityRef: resolved.target.entityRef,
          owners: resolved.owners,
          cluster,
          namespace: resolved.target.namespace,
          service: resolved.target.workload,
          topology,
        });
        return verdict.bound ? [] : [verdict.problem];
      })
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
    const problems = Promise.race([check, timeout]);
    this.inspections.set(key, { until: Date.now() + 30_000, problems });
    if (this.inspections.size > 1000) {
      const oldest = this.inspections.keys().next().value;
      if (oldest !== undefined) this.inspections.delete(oldest);
    }
    return problems;
  }

  /**
   * The stable and canary Deployments' pods now (desired, available), for
   * the tab: read as the engine reads them (from the watch cache while it
   * is up), each side left out when the cluster does not answer within
   * {@link PODS_WAIT_MS} or the Deployment is not there. While a read the
   * cluster has not answered is pending, the side is left out at once.
   */
  async pods(rollout: {
    cluster: string;
    namespace: string;
    stable: { name: string };
    canary: { name: string };
  }): Promise<{ stable?: WorkloadPods; canary?: WorkloadPods }> {
    const workloads = this.deps.clusters.workloads(rollout.cluster);
    const read = async (name: string) => {
      const key = JSON.stringify([rollout.cluster, rollout.namespace, name]);
      if (this.podReads.has(key)) return undefined;
      const answer = workloads.readiness(rollout.namespace, name).then(
        ({ desired, available }): WorkloadPods | undefined => ({
          desired,
          available,
        }),
        () => undefined,
      );
      const pods = await Promise.race([
        answer,
        new Promise<'late'>(resolve =>
          setTimeout(() => resolve('late'), PODS_WAIT_MS).unref(),
        ),
      ]);
      if (pods !== 'late') return pods;
      // Still waiting: later rebuilds skip this side until it answers.
      this.podReads.set(key, answer);
      answer.finally(() => this.podReads.delete(key));
      return undefined;
    };
    const [stable, canary] = await Promise.all([
      read(rollout.stable.name),
      read(rollout.canary.name),
    ]);
    return {
      ...(stable ? { stable } : {}),
      ...(canary ? { canary } : {}),
    };
  }

  /**
   * Canary and stable series of every gated metric, for the charts.
   *
   * The window is fixed: the rollout's last {@link SERIES_SPAN_MS} (all of
   * a shorter one), ending at the start of the current analysis interval,
   * so every viewer within one interval asks the same question and shares
   * one answer — one Prometheus evaluation per rollout per interval however
   * many tabs are open, and a cost that does not grow with the rollout's
   * age. A finished rollout's series are kept a while longer. A failure is
   * shared too, until the next interval.
   */
  async series(r: RolloutRecord): Promise<MetricSeries[]> {
    const analyzer = this.deps.analyzer;
    if (!analyzer) return [];
    const now = this.deps.now();
    const interval = Math.max(
      1000,
      r.spec.policy.analysis?.intervalMs ?? 30_000,
    );
    const to =
      r.finishedAt ??
      Math.max(r.createdAt, Math.floor(now / interval) * interval);
    const from = Math.max(r.createdAt, to - SERIES_SPAN_MS);
    const key = `${from}|${to}|${r.weight}|${r.stepIndex}`;
    const cached = this.seriesCache.get(r.id);
    if (cached && cached.key === key && cached.until > now) {
      return cached.value;
    }
    const value = analyzer
      .series({ ...analysisRequestOf(r, to), from, to })
      .catch(e => {
        // Prometheus down is the metrics' problem, not a bug of ours.
        throw new ServiceUnavailableError(
          `Metrics for rollout ${r.id} are unavailable: ${errorMessage(e)}`,
        );
      });
    this.seriesCache.delete(r.id);
    this.seriesCache.set(r.id, {
      key,
      until:
        r.finishedAt !== null ? now + FINISHED_SERIES_TTL_MS : to + interval,
      value,
    });
    if (this.seriesCache.size > MAX_CACHED_SERIES) {
      const oldest = this.seriesCache.keys().next().value;
      if (oldest !== undefined) this.seriesCache.delete(oldest);
    }
    return value;
  }
}
