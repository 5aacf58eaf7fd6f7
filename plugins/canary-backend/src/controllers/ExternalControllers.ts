import { Entity, stringifyEntityRef } from '@backstage/catalog-model';
import { ConflictError, NotFoundError } from '@backstage/errors';
import {
  CANARY_CONTROLLER_ANNOTATION,
  CanaryConfigProblem,
  ExternalControllerRef,
  ExternalRolloutControl,
  Rollout,
  RolloutDetails,
} from '@coalmine/backstage-plugin-canary-common';
import type { ClusterApis } from '../kubernetes/ClusterClients';
import { errorMessage } from '../domain/errors';
import { readCustomObject } from '../kubernetes/customObjects';
import {
  ManagingObject,
  Placement,
  findManagingObjects,
  placementOf,
} from './discovery';
import {
  ExternalRolloutId,
  decodeExternalRolloutId,
  encodeExternalRolloutId,
} from './externalId';
import { ARGO_ROLLOUT, CustomObject, FLAGGER_CANARY } from './kinds';
import {
  applyArgoControl,
  argoAnalysis,
  argoAnalysisRuns,
  argoToRollout,
} from './argoRollouts';
import { flaggerAnalysis, flaggerControls, flaggerToRollout } from './flagger';
import { objectEvents } from './events';
import { FlaggerGate, FlaggerGateStore } from './FlaggerGateStore';

export interface ExternalControllersOptions {
  /** API clients of a configured cluster (throws for an unknown one). */
  cluster(name: string): ClusterApis;
  clusterNames: string[];
  gates: FlaggerGateStore;
  /**
   * The cluster-side binding (coalmine.io/entity on the component's Service,
   * or the platform's namespace grants): throws (403) when the component may
   * not act on the workload. Checked before every control.
   */
  requireBinding?(request: {
    entity: Entity;
    cluster: string;
    namespace: string;
    service: string;
    /** Deployments the controller changes for this component (must be the Service's pods). */
    deployments: string[];
  }): Promise<void>;
}

/** What the Canary tab shows for a component another controller runs. */
export interface ExternalView {
  controller: ExternalControllerRef;
  rollout: Rollout;
}

const LABEL = { flagger: 'Flagger', 'argo-rollouts': 'Argo Rollouts' };

function refOf(m: ManagingObject): ExternalControllerRef {
  return {
    kind: m.kind,
    apiVersion:
      m.kind === 'flagger'
        ? `${FLAGGER_CANARY.group}/${FLAGGER_CANARY.version}`
        : `${ARGO_ROLLOUT.group}/${ARGO_ROLLOUT.version}`,
    objectKind: m.kind === 'flagger' ? 'Canary' : 'Rollout',
    name: m.object.metadata.name,
    namespace: m.object.metadata.namespace ?? 'default',
    cluster: m.cluster,
  };
}

/**
 * Flagger Canaries and Argo Rollouts in the Canary tab: finds the ones that
 * manage a component's workload, shows them in the shapes of Coalmine's
 * own rollouts, and acts on them through each controller's own mechanism
 * (Argo: the kubectl plugin's patches; Flagger: its manual gating
 * webhooks, served by Coalmine). The router authorizes and audits first.
 */
/** How long the tab's view of another controller's rollouts is shared. */
export const ENTITY_VIEW_TTL_MS = 1_000;

export class ExternalControllers {
  /**
   * Views being read or read within the last {@link ENTITY_VIEW_TTL_MS}, per
   * entity as annotated: every tab open on a component (each polling every
   * two seconds) shares one pair of cluster list calls.
   */
  private readonly views = new Map<
    string,
    {
      until: number;
      view: Promise<{ views: ExternalView[]; problems: CanaryConfigProblem[] }>;
    }
  >();

  constructor(private readonly options: ExternalControllersOptions) {}

  /** The managing objects of a component on all its clusters; cluster failures become problems. */
  async discover(entity: Entity): Promise<{
    placement?: Placement;
    found: ManagingObject[];
    problems: CanaryConfigProblem[];
  }> {
    const { placement, problems } = placementOf(
      entity,
      this.options.clusterNames,
    );
    if (!placement) return { found: [], problems };
    const found: ManagingObject[] = [];
    for (const cluster of placement.clusters) {
      try {
        found.push(
          ...(await findManagingObjects(
            this.options.cluster(cluster),
            placement,
            cluster,
          )),
        );
      } catch (e) {
        problems.push({
          key: 'kubernetes.clusterLocatorMethods',
          message: `Cluster ${cluster}: could not look for Flagger Canaries and Argo Rollouts: ${errorMessage(
            e,
          )}`,
        });
      }
    }
    if (
      placement.declared &&
      placement.declared !== 'coalmine' &&
      !found.length &&
      !problems.length
    ) {
      problems.push({
        key: CANARY_CONTROLLER_ANNOTATION,
        message: `No ${
          placement.declared === 'flagger'
            ? `Flagger Canary with spec.targetRef.name ${placement.workload}`
            : `Argo Rollout named ${placement.workload} (or with workloadRef or app label ${placement.workload})`
        } in namespace ${placement.namespace} on ${placement.clusters.join(
          ', ',
        )}.`,
      });
    }
    return { placement, found, problems };
  }

  /**
   * Refuses (409) to let Coalmine's engine start on a workload another
   * controller manages, naming the object; used before every start.
   */
  async refuseIfManaged(entity: Entity, cluster: string): Promise<void> {
    const { placement } = placementOf(entity, this.options.clusterNames);
    if (!placement || placement.declared === 'coalmine') return;
    if (placement.declared) {
      throw new ConflictError(
        `${stringifyEntityRef(entity)} is run by ${
          LABEL[placement.declared]
        } (${CANARY_CONTROLLER_ANNOTATION}: ${
          placement.declared
        }); Coalmine does not drive it — use the controls of its ${
          placement.declared === 'flagger' ? 'Canary' : 'Rollout'
        } in the Canary tab`,
      );
    }
    await this.refuseIfWorkloadManaged(placement, cluster);
  }

  /** The cluster check alone, for starts that come without an entity (the detector). */
  async refuseIfWorkloadManaged(
    placement: Pick<Placement, 'entityRef' | 'namespace' | 'workload'>,
    cluster: string,
  ): Promise<void> {
    // A cluster that cannot be asked blocks the start: two controllers on one workload is worse.
    const found = await findManagingObjects(
      this.options.cluster(cluster),
      { ...placement, clusters: [cluster] },
      cluster,
    );
    if (found.length) {
      const m = found[0];
      throw new ConflictError(
        `${placement.namespace}/${
          placement.workload
        } on ${cluster} is managed by ${LABEL[m.kind]} (${
          refOf(m).objectKind
        } ${
          m.object.metadata.name
        }); Coalmine does not drive a workload another controller manages — use that ${
          refOf(m).objectKind
        }'s controls in the Canary tab, or set ${CANARY_CONTROLLER_ANNOTATION}: coalmine after removing it`,
      );
    }
  }

  private idOf(entityRef: string, m: ManagingObject): string {
    return encodeExternalRolloutId({
      kind: m.kind,
      entityRef,
      cluster: m.cluster,
      namespace: m.object.metadata.namespace ?? 'default',
      name: m.object.metadata.name,
    });
  }

  private async toRollout(
    entityRef: string,
    m: ManagingObject,
    withEvents = false,
  ): Promise<RolloutDetails> {
    const apis = this.options.cluster(m.cluster);
    const id = this.idOf(entityRef, m);
    const base = { id, entityRef, cluster: m.cluster };
    if (m.kind === 'argo-rollouts') {
      const runs = await argoAnalysisRuns(apis, m.object);
      const analysis = runs
        .map((r, i) => argoAnalysis(r, id, runs.length - i))
        .reverse();
      const events = withEvents
        ? await objectEvents(apis, m.object, id, runs)
        : [];
      return {
        rollout: {
          ...argoToRollout(
            m.object,
            base,
            analysis[analysis.length - 1] ?? null,
          ),
          controller: refOf(m),
        },
        events,
        analysis,
      };
    }
    const key = this.keyOf(m);
    const gates = await this.options.gates.gates(key);
    // Flagger's checks are reported in events, so they are read for the summary too.
    const events = await objectEvents(apis, m.object, id).catch(() => []);
    const last = flaggerAnalysis(m.object, events, id);
    return {
      rollout: {
        ...flaggerToRollout(m.object, base, gates, last),
        controller: refOf(m),
      },
      events: withEvents ? events : [],
      analysis: last ? [last] : [],
    };
  }

  private keyOf(m: ManagingObject) {
    return {
      cluster: m.cluster,
      namespace: m.object.metadata.namespace ?? 'default',
      name: m.object.metadata.name,
    };
  }

  /** The tab's view of a component run by another controller, or null when Coalmine runs it. */
  async entityView(
    entity: Entity,
  ): Promise<{ views: ExternalView[]; problems: CanaryConfigProblem[] }> {
    const key = `${stringifyEntityRef(entity)}|${JSON.stringify(
      entity.metadata.annotations ?? {},
    )}`;
    const now = Date.now();
    const cached = this.views.get(key);
    if (cached && cached.until > now) return copyView(await cached.view);
    const view = this.readEntityView(entity);
    this.views.set(key, { until: now + ENTITY_VIEW_TTL_MS, view });
    view.then(
      () => {
        // Counted from the answer, not the question: a slow cluster is not asked again at once.
        const entry = this.views.get(key);
        if (entry?.view === view) entry.until = Date.now() + ENTITY_VIEW_TTL_MS;
      },
      () => this.views.delete(key),
    );
    for (const [k, v] of this.views) {
      if (v.until <= now && k !== key) this.views.delete(k);
    }
    return copyView(await view);
  }

  private async readEntityView(
    entity: Entity,
  ): Promise<{ views: ExternalView[]; problems: CanaryConfigProblem[] }> {
    const { found, problems } = await this.discover(entity);
    const entityRef = stringifyEntityRef(entity);
    const views: ExternalView[] = [];
    for (const m of found) {
      try {
        const { rollout } = await this.toRollout(entityRef, m);
        views.push({ controller: refOf(m), rollout });
      } catch (e) {
        problems.push({
          key: 'kubernetes.clusterLocatorMethods',
          message: `Cluster ${m.cluster}: could not read ${
            refOf(m).objectKind
          } ${m.object.metadata.name}: ${errorMessage(e)}`,
        });
      }
    }
    return { views, problems };
  }

  /**
   * The object an external id names, re-discovered for the entity: an id
   * naming another entity's object, or an object that no longer manages
   * the entity's workload, is not found.
   */
  async resolve(
    entity: Entity,
    id: ExternalRolloutId,
  ): Promise<ManagingObject> {
    const entityRef = stringifyEntityRef(entity);
    const { placement } = placementOf(entity, this.options.clusterNames);
    if (
      id.entityRef !== entityRef ||
      !placement ||
      !placement.clusters.includes(id.cluster)
    ) {
      throw new NotFoundError(`No rollout ${encodeExternalRolloutId(id)}`);
    }
    const found = await findManagingObjects(
      this.options.cluster(id.cluster),
      placement,
      id.cluster,
    );
    const m = found.find(
      f =>
        f.kind === id.kind &&
        f.object.metadata.name === id.name &&
        (f.object.metadata.namespace ?? 'default') === id.namespace,
    );
    if (!m) {
      throw new NotFoundError(
        `${id.kind === 'flagger' ? 'Canary' : 'Rollout'} ${id.namespace}/${
          id.name
        } on ${id.cluster} does not manage ${entityRef}'s workload`,
      );
    }
    return m;
  }

  decode(id: string): ExternalRolloutId {
    return decodeExternalRolloutId(id);
  }

  async details(
    entity: Entity,
    id: ExternalRolloutId,
  ): Promise<RolloutDetails> {
    const m = await this.resolve(entity, id);
    return this.toRollout(stringifyEntityRef(entity), m, true);
  }

  /** Applies a control through the controller's own mechanism; 409 with the reason when it has none now. */
  async control(
    entity: Entity,
    id: ExternalRolloutId,
    control: ExternalRolloutControl,
    actor: string,
  ): Promise<Rollout> {
    const m = await this.resolve(entity, id);
    const apis = this.options.cluster(m.cluster);
    const { placement } = placementOf(entity, this.options.clusterNames);
    await this.options.requireBinding?.({
      entity,
      cluster: m.cluster,
      namespace: id.namespace,
      service: placement!.workload,
      deployments:
        m.kind === 'flagger' && m.object.spec?.targetRef?.name
          ? [m.object.spec.targetRef.name]
          : [],
    });
    if (m.kind === 'argo-rollouts') {
      await applyArgoControl(apis, m.object, control);
    } else {
      const key = this.keyOf(m);
      const state = flaggerControls(
        m.object,
        await this.options.gates.gates(key),
      ).find(c => c.control === control);
      if (!state?.enabled) {
        throw new ConflictError(
          `Cannot ${control} Canary ${key.namespace}/${key.name}: ${
            state?.reason ?? 'unknown control'
          }`,
        );
      }
      const checksum = m.object.status?.lastAppliedSpec ?? null;
      if (control === 'approve') {
        const gate: FlaggerGate =
          m.object.status?.phase === 'Waiting'
            ? 'confirm-rollout'
            : 'confirm-promotion';
        await this.options.gates.open(key, gate, checksum, actor);
      } else if (control === 'abort') {
        await this.options.gates.open(key, 'rollback', checksum, actor);
      } else if (control === 'pause') {
        await this.options.gates.open(key, 'traffic-paused', null, actor);
      } else if (control === 'resume') {
        await this.options.gates.close(key, 'traffic-paused');
      }
    }
    const fresh = await readCustomObject<CustomObject>(
      apis,
      m.kind === 'flagger' ? FLAGGER_CANARY : ARGO_ROLLOUT,
      id.namespace,
      id.name,
    );
    return (
      await this.toRollout(stringifyEntityRef(entity), { ...m, object: fresh })
    ).rollout;
  }

  /**
   * Flagger's webhook asking a gate: true (HTTP 200) when the gate is open
   * for the revision in the payload. `confirm-traffic-increase` passes
   * unless an owner paused the canary.
   */
  async gateCheck(
    cluster: string,
    type: string,
    payload: { name: string; namespace: string; checksum?: string },
  ): Promise<boolean> {
    const key = { cluster, namespace: payload.namespace, name: payload.name };
    if (type === 'confirm-traffic-increase') {
      return !(await this.options.gates.isOpen(
        key,
        'traffic-paused',
        undefined,
      ));
    }
    return this.options.gates.isOpen(
      key,
      type as FlaggerGate,
      payload.checksum,
    );
  }
}

/** A shared view, copied so a caller that changes its lists changes no one else's. */
function copyView(v: {
  views: ExternalView[];
  problems: CanaryConfigProblem[];
}) {
  return { views: [...v.views], problems: [...v.problems] };
}
