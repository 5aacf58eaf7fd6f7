import { CANARY_ROUTE_ANNOTATION } from '@coalmine/backstage-plugin-canary-common';
import { CustomObjectSplitProvider } from './CustomObjectSplitProvider';
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
export class SmiTrafficProvider
  extends CustomObjectSplitProvider<TrafficSplitObject>
  implements TrafficProvider
{
  readonly name = 'smi' as const;

  protected readonly resource = {
    group: GROUP,
    fallbackVersion: 'v1alpha4',
    plural: 'trafficsplits',
    kind: 'TrafficSplit',
  };

  protected readSplit(split: TrafficSplitObject, backends: BackendPair) {
    return readTrafficSplit(split, backends);
  }

  protected applySplit(
    split: TrafficSplitObject,
    backends: BackendPair,
    next: { canaryWeight: number },
  ) {
    return applyTrafficSplit(split, backends, next.canaryWeight);
  }

  protected finalizeObject(split: TrafficSplitObject, backends: BackendPair) {
    return applyTrafficSplit(split, backends, 0);
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
    return this.topology(
      target,
      kind,
      split.metadata.name!,
      backends,
      workloads,
    );
  }
}
