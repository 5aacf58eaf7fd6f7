import { CANARY_ROUTE_ANNOTATION } from '@coalmine/backstage-plugin-canary-common';
import type { ClusterApis, ClusterClients } from './ClusterClients';
import {
  CustomKind,
  readCustomObject,
  updateCustomObject,
} from './customObjects';
import {
  checkTargetNames,
  workloadsBehindBackends,
  listCustomObjects,
  readCustomObjectOrExplain,
} from './discovery';
import { stableServiceNames } from './GatewayApiTrafficProvider';
import { BackendPair } from './gatewayRoutes';
import { TrafficSplitObject } from './objects';
import { applyTrafficSplit, readTrafficSplit } from './smiSplit';
import {
  ConfigurationError,
  RolloutTarget,
  TrafficProvider,
  TrafficSplit,
  TrafficTopology,
} from './types';

const GROUP = 'split.smi-spec.io';

/** Stable and canary backends of a TrafficSplit for `<svc>`, if it splits it. */
export function trafficSplitBackends(
  split: TrafficSplitObject,
  service: string,
): BackendPair | undefined {
  const names = (split.spec?.backends ?? []).map(b => b.service);
  const canary = `${service}-canary`;
  const stable = stableServiceNames(service).find(n => names.includes(n));
  if (!stable) return undefined;
  if (split.spec.service !== service && !names.includes(canary))
    return undefined;
  return { stable, canary };
}

/**
 * SMI: a TrafficSplit on the root Service `<svc>` with the backends
 * `<svc>-stable` and `<svc>-canary`. SMI has no header routing here, so a
 * policy with a sticky header is refused at discovery.
 */
export class SmiTrafficProvider implements TrafficProvider {
  readonly name = 'smi' as const;

  constructor(
    private readonly clients: ClusterClients,
    private readonly options: { conflictAttempts?: number } = {},
  ) {}

  private async kind(apis: ClusterApis): Promise<CustomKind> {
    const version = await apis.preferredVersion(GROUP, 'v1alpha4');
    return {
      group: GROUP,
      version,
      plural: 'trafficsplits',
      kind: 'TrafficSplit',
    };
  }

  async discover(target: RolloutTarget): Promise<TrafficTopology> {
    checkTargetNames(target);
    if (target.stickyHeader) {
      throw new ConfigurationError(
        `The smi traffic provider cannot pin requests to the canary by header: remove stickyHeader from the policy of ${target.namespace}/${target.service}, or route with istio, gateway-api or nginx`,
      );
    }
    const { namespace, service } = target;
    const apis = this.clients.forCluster(target.cluster);
    const kind = await this.kind(apis);
    let split: TrafficSplitObject;
    let backends: BackendPair | undefined;
    if (target.route) {
      split = await readCustomObjectOrExplain<TrafficSplitObject>(
        apis,
        kind,
        namespace,
        target.route,
      );
      backends = trafficSplitBackends(split, service);
      if (!backends) {
        throw new ConfigurationError(
          `TrafficSplit ${namespace}/${target.route} has no backend ${service}-stable (or ${service}-primary, ${service}): add it, or set ${CANARY_ROUTE_ANNOTATION} to the TrafficSplit of ${service}`,
          CANARY_ROUTE_ANNOTATION,
        );
      }
    } else {
      const found = (
        await listCustomObjects<TrafficSplitObject>(apis, kind, namespace)
      )
        .map(s => ({ split: s, backends: trafficSplitBackends(s, service) }))
        .filter(s => s.backends);
      if (found.length !== 1) {
        throw new ConfigurationError(
          found.length === 0
            ? `TrafficSplit ${namespace}/${service} not found (no TrafficSplit in ${namespace} splits ${service}): set ${CANARY_ROUTE_ANNOTATION} or create it`
            : `Several TrafficSplits in ${namespace} split ${service} (${found
                .map(s => s.split.metadata.name)
                .join(
                  ', ',
                )}): set ${CANARY_ROUTE_ANNOTATION} to the one to use`,
          CANARY_ROUTE_ANNOTATION,
        );
      }
      split = found[0].split;
      backends = found[0].backends!;
    }
    const workloads = await workloadsBehindBackends(apis, target, backends, {
      stable: `the TrafficSplit ${split.metadata.name} points at it; create it`,
      canary: 'create it with a selector for the canary pods',
    });
    return {
      target,
      shape: 'fixed-subsets',
      ...workloads,
      routeObject: {
        apiVersion: `${GROUP}/${kind.version}`,
        kind: 'TrafficSplit',
        name: split.metadata.name!,
      },
      backends,
    };
  }

  private parts(topology: TrafficTopology) {
    if (!topology.routeObject || !topology.backends) {
      throw new Error(
        'SMI topology without TrafficSplit and backends; run discover first',
      );
    }
    const apis = this.clients.forCluster(topology.target.cluster);
    return {
      apis,
      name: topology.routeObject.name,
      backends: topology.backends,
    };
  }

  async getSplit(topology: TrafficTopology): Promise<TrafficSplit> {
    const { apis, name, backends } = this.parts(topology);
    const split = await readCustomObject<TrafficSplitObject>(
      apis,
      await this.kind(apis),
      topology.target.namespace,
      name,
    );
    return readTrafficSplit(split, backends);
  }

  async setSplit(
    topology: TrafficTopology,
    split: { canaryWeight: number; headerRoute: boolean },
  ): Promise<TrafficSplit> {
    if (!(split.canaryWeight >= 0 && split.canaryWeight <= 100)) {
      throw new Error(`Canary weight must be 0–100, got ${split.canaryWeight}`);
    }
    const { apis, name, backends } = this.parts(topology);
    const stored = await updateCustomObject<TrafficSplitObject>(
      apis,
      await this.kind(apis),
      topology.target.namespace,
      name,
      current => applyTrafficSplit(current, backends, split.canaryWeight),
      this.options.conflictAttempts,
    );
    return readTrafficSplit(stored, backends);
  }

  async finalizePromotion(topology: TrafficTopology): Promise<void> {
    await this.setSplit(topology, { canaryWeight: 0, headerRoute: false });
  }
}
