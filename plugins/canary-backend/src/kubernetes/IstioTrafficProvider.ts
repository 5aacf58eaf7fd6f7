import { kubectlMergePatch } from './manualRestore';
import { CANARY_ROUTE_ANNOTATION } from '@coalmine/backstage-plugin-canary-common';
import type { V1Deployment } from '@kubernetes/client-node';
import type { ClusterApis, ClusterClients } from './ClusterClients';
import { workloadRef } from './deployments';
import {
  checkTargetNames,
  deploymentSelectedBy,
  listCustomObjects,
  listDeployments,
  plannedWorkload,
  readCustomObjectOrExplain,
  readServiceOrExplain,
} from './discovery';
import {
  CustomKind,
  readCustomObject,
  updateCustomObject,
} from './customObjects';
import {
  applyIstioSplit,
  DEFAULT_STICKY_HEADER,
  finalizeIstioRoute,
  hostMatchesService,
  IstioArms,
  primaryRouteIndex,
  readIstioSplit,
  subsetWeights,
  withSubset,
} from './istioRoutes';
import { DestinationRule, VirtualService } from './objects';
import {
  ConfigurationError,
  RolloutTarget,
  TrafficProvider,
  TrafficSplit,
  TrafficTopology,
} from './types';

const GROUP = 'networking.istio.io';
const FALLBACK_VERSION = 'v1beta1';

/** The next version after `v7` is `v8`; anything else gets a `canary` subset. */
export function nextVersion(version: string | undefined): string {
  const match = /^v(\d+)$/.exec(version ?? '');
  return match ? `v${Number(match[1]) + 1}` : 'canary';
}

/**
 * Istio: the split lives in the weights of a VirtualService http route whose
 * destinations are the Service's DestinationRule subsets.
 *
 * - versioned subsets (`v1`, `v2`): stable is the subset that has traffic,
 *   the canary the other one (a new subset is added to the DestinationRule
 *   when missing); promotion leaves the route on the canary's subset.
 * - fixed subsets (`stable`, `canary`): promotion copies the canary's
 *   template into stable and routes 100 % to stable.
 */
export class IstioTrafficProvider implements TrafficProvider {
  readonly name = 'istio' as const;

  constructor(
    private readonly clients: ClusterClients,
    private readonly options: { conflictAttempts?: number } = {},
  ) {}

  private async refs(
    apis: ClusterApis,
  ): Promise<{ vs: CustomKind; dr: CustomKind }> {
    const version = await apis.preferredVersion(GROUP, FALLBACK_VERSION);
    return {
      vs: {
        group: GROUP,
        version,
        plural: 'virtualservices',
        kind: 'VirtualService',
      },
      dr: {
        group: GROUP,
        version,
        plural: 'destinationrules',
        kind: 'DestinationRule',
      },
    };
  }

  private async findVirtualService(
    apis: ClusterApis,
    ref: CustomKind,
    target: RolloutTarget,
  ): Promise<VirtualService> {
    const { namespace, service } = target;
    if (target.route) {
      return readCustomObjectOrExplain<VirtualService>(
        apis,
        ref,
        namespace,
        target.route,
      );
    }
    const all = await listCustomObjects<VirtualService>(apis, ref, namespace);
    const routing = all.filter(
      vs => primaryRouteIndex(vs, service, namespace) >= 0,
    );
    if (routing.length === 1) return routing[0];
    const named = routing.find(vs => vs.metadata.name === service);
    if (named) return named;
    if (routing.length > 1) {
      throw new ConfigurationError(
        `Several VirtualServices in ${namespace} route to ${service} (${routing
          .map(vs => vs.metadata.name)
          .join(', ')}): set ${CANARY_ROUTE_ANNOTATION} to the one to split`,
        CANARY_ROUTE_ANNOTATION,
      );
    }
    throw new ConfigurationError(
      `VirtualService ${namespace}/${service} not found (no VirtualService in ${namespace} routes to ${service}): set ${CANARY_ROUTE_ANNOTATION} or create it`,
      CANARY_ROUTE_ANNOTATION,
    );
  }

  async discover(target: RolloutTarget): Promise<TrafficTopology> {
    checkTargetNames(target);
    const { namespace, service } = target;
    const apis = this.clients.forCluster(target.cluster);
    const refs = await this.refs(apis);
    const svc = await readServiceOrExplain(apis, namespace, service);
    const vs = await this.findVirtualService(apis, refs.vs, target);
    const primary = primaryRouteIndex(vs, service, namespace);
    if (primary < 0) {
      throw new ConfigurationError(
        `VirtualService ${namespace}/${vs.metadata.name} has no http route to ${service}: add one, or set ${CANARY_ROUTE_ANNOTATION} to the VirtualService that routes it`,
        CANARY_ROUTE_ANNOTATION,
      );
    }
    const drs = (
      await listCustomObjects<DestinationRule>(apis, refs.dr, namespace)
    ).filter(dr => hostMatchesService(dr.spec?.host ?? '', service, namespace));
    if (drs.length !== 1) {
      throw new ConfigurationError(
        drs.length === 0
          ? `DestinationRule for ${service} not found in ${namespace}: create one with host ${service} and a subset per version`
          : `Several DestinationRules in ${namespace} have host ${service} (${drs
              .map(d => d.metadata.name)
              .join(', ')}): keep one`,
      );
    }
    const dr = drs[0];
    const subsets = dr.spec.subsets ?? [];
    const subsetNames = subsets.map(s => s.name);
    const weights = subsetWeights(vs.spec.http![primary]);
    for (const w of weights) {
      if (!w.subset || !subsetNames.includes(w.subset)) {
        throw new ConfigurationError(
          `VirtualService ${namespace}/${
            vs.metadata.name
          } routes ${service} to ${
            w.subset ? `subset ${w.subset}` : 'no subset'
          }, which DestinationRule ${
            dr.metadata.name
          } does not define: add the subset or route by subset`,
        );
      }
    }

    const deployments = await listDeployments(apis, namespace);
    const selector = svc.spec?.selector ?? {};
    const deploymentFor = (subset: string): V1Deployment | undefined => {
      const labels = subsets.find(s => s.name === subset)?.labels ?? {};
      // The Service selector may pin a version (seed 000); the subset's own
      // labels decide that key.
      const rest = Object.fromEntries(
        Object.entries(selector).filter(([k]) => !(k in labels)),
      );
      return deploymentSelectedBy(
        deployments,
        { ...rest, ...labels },
        `${service}-${subset}`,
      );
    };

    const fixed =
      subsetNames.includes('stable') && subsetNames.includes('canary');
    let stableSubset: string;
    let canarySubset: string;
    if (fixed) {
      stableSubset = 'stable';
      canarySubset = 'canary';
    } else {
      const routed = weights.filter(w => w.weight > 0);
      if (!routed.length) {
        throw new ConfigurationError(
          `VirtualService ${namespace}/${vs.metadata.name} sends no traffic to ${service}: give the stable subset weight 100`,
        );
      }
      if (routed.length > 2) {
        throw new ConfigurationError(
          `VirtualService ${namespace}/${vs.metadata.name} splits ${service} over ${routed.length} subsets: Coalmine can only split between two`,
        );
      }
      // Our own writes list stable first; a resumed rollout finds it there.
      stableSubset = routed[0].subset!;
      // The canary: the other subset the route names (a rollout under way),
      // else the next subset the DestinationRule defines (v1 → v2), else a
      // new one that setSplit adds.
      const others = [
        ...weights.map(w => w.subset!),
        ...subsetNames.slice(subsetNames.indexOf(stableSubset) + 1),
      ].filter(n => n !== stableSubset);
      canarySubset = others[0] ?? nextVersion(stableSubset);
    }

    const stableDeployment = deploymentFor(stableSubset);
    if (!stableDeployment) {
      throw new ConfigurationError(
        `No Deployment in ${namespace} runs the pods of subset ${stableSubset} of ${service}: create ${service}-${stableSubset} or fix the subset labels`,
      );
    }
    const canaryDeployment = deploymentFor(canarySubset);
    return {
      target,
      shape: fixed ? 'fixed-subsets' : 'versioned-subsets',
      stable: workloadRef(stableDeployment, stableSubset),
      canary: canaryDeployment
        ? workloadRef(canaryDeployment, canarySubset)
        : plannedWorkload(`${service}-${canarySubset}`, canarySubset),
      routeObject: {
        apiVersion: `${GROUP}/${refs.vs.version}`,
        kind: 'VirtualService',
        name: vs.metadata.name!,
      },
      subsetObject: {
        apiVersion: `${GROUP}/${refs.dr.version}`,
        kind: 'DestinationRule',
        name: dr.metadata.name!,
      },
    };
  }

  private arms(topology: TrafficTopology): IstioArms {
    const { stable, canary, target } = topology;
    if (!stable.version || !canary.version) {
      throw new Error(
        'Istio topology without subset names; run discover first',
      );
    }
    return {
      service: target.service,
      namespace: target.namespace,
      stableSubset: stable.version,
      canarySubset: canary.version,
    };
  }

  private routeName(topology: TrafficTopology): string {
    if (!topology.routeObject) {
      throw new Error(
        'Istio topology without a VirtualService; run discover first',
      );
    }
    return topology.routeObject.name;
  }

  async getSplit(topology: TrafficTopology): Promise<TrafficSplit> {
    const apis = this.clients.forCluster(topology.target.cluster);
    const { vs: kind } = await this.refs(apis);
    const vs = await readCustomObject<VirtualService>(
      apis,
      kind,
      topology.target.namespace,
      this.routeName(topology),
    );
    return readIstioSplit(
      vs,
      this.arms(topology),
      topology.target.stickyHeader,
    );
  }

  /** Read-modify-replace of the VirtualService, retried on 409. */
  private async updateVirtualService(
    topology: TrafficTopology,
    change: (vs: VirtualService) => VirtualService,
  ): Promise<VirtualService> {
    const apis = this.clients.forCluster(topology.target.cluster);
    const { vs: kind } = await this.refs(apis);
    return updateCustomObject<VirtualService>(
      apis,
      kind,
      topology.target.namespace,
      this.routeName(topology),
      change,
      this.options.conflictAttempts,
    );
  }

  /** Versioned subsets: the canary's subset must exist before a route names it. */
  private async ensureCanarySubset(topology: TrafficTopology): Promise<void> {
    if (topology.shape !== 'versioned-subsets' || !topology.subsetObject) {
      return;
    }
    const apis = this.clients.forCluster(topology.target.cluster);
    const { dr: kind } = await this.refs(apis);
    const arms = this.arms(topology);
    await updateCustomObject<DestinationRule>(
      apis,
      kind,
      topology.target.namespace,
      topology.subsetObject.name,
      dr => withSubset(dr, arms.canarySubset, arms.stableSubset) ?? dr,
      this.options.conflictAttempts,
    );
  }

  async setSplit(
    topology: TrafficTopology,
    split: { canaryWeight: number; headerRoute: boolean },
  ): Promise<TrafficSplit> {
    if (!(split.canaryWeight >= 0 && split.canaryWeight <= 100)) {
      throw new Error(`Canary weight must be 0–100, got ${split.canaryWeight}`);
    }
    await this.ensureCanarySubset(topology);
    const arms = this.arms(topology);
    const header = topology.target.stickyHeader ?? DEFAULT_STICKY_HEADER;
    const stored = await this.updateVirtualService(topology, vs =>
      applyIstioSplit(vs, arms, split, header),
    );
    return readIstioSplit(stored, arms, header);
  }

  async finalizePromotion(topology: TrafficTopology): Promise<void> {
    const arms = this.arms(topology);
    const finalSubset =
      topology.shape === 'versioned-subsets'
        ? arms.canarySubset
        : arms.stableSubset;
    await this.updateVirtualService(topology, vs =>
      finalizeIstioRoute(vs, arms, finalSubset),
    );
  }

  async manualRestore(topology: TrafficTopology): Promise<string[]> {
    const apis = this.clients.forCluster(topology.target.cluster);
    const { vs: kind } = await this.refs(apis);
    const name = this.routeName(topology);
    const vs = await readCustomObject<VirtualService>(
      apis,
      kind,
      topology.target.namespace,
      name,
    );
    const header = topology.target.stickyHeader ?? DEFAULT_STICKY_HEADER;
    const stableOnly = applyIstioSplit(
      vs,
      this.arms(topology),
      { canaryWeight: 0, headerRoute: false },
      header,
    );
    return [
      kubectlMergePatch({
        cluster: topology.target.cluster,
        namespace: topology.target.namespace,
        resource: `${kind.plural}.${kind.group}`,
        name,
        patch: { spec: { http: stableOnly.spec?.http ?? [] } },
      }),
    ];
  }
}
