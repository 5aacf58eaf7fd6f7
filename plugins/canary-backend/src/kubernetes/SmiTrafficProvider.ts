import { CANARY_ROUTE_ANNOTATION } from '@coalmine/backstage-plugin-canary-common';
import { CustomObjectSplitProvider } from './CustomObjectSplitProvider';
import { stableServiceNames } from './GatewayApiTrafficProvider';
import { BackendPair } from './gatewayRoutes';
import { TrafficSplitObject } from './objects';
import { applyTrafficSplit, readTrafficSplit } from './smiSplit';
import {
  ConfigurationError,
  RolloutTarget,
  TrafficProvider,
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

  protected checkTarget(target: RolloutTarget) {
    if (target.stickyHeader) {
      throw new ConfigurationError(
        `The smi traffic provider cannot pin requests to the canary by header: remove stickyHeader from the policy of ${target.namespace}/${target.service}, or route with istio, gateway-api or nginx`,
      );
    }
  }

  protected backendsOf(split: TrafficSplitObject, service: string) {
    return trafficSplitBackends(split, service);
  }

  protected readonly words = {
    notRouting: (namespace: string, name: string, service: string) =>
      `TrafficSplit ${namespace}/${name} has no backend ${service}-stable (or ${service}-primary, ${service}): add it, or set ${CANARY_ROUTE_ANNOTATION} to the TrafficSplit of ${service}`,
    notFound: (namespace: string, service: string) =>
      `TrafficSplit ${namespace}/${service} not found (no TrafficSplit in ${namespace} splits ${service}): set ${CANARY_ROUTE_ANNOTATION} or create it`,
    several: (namespace: string, service: string, names: string[]) =>
      `Several TrafficSplits in ${namespace} split ${service} (${names.join(
        ', ',
      )}): set ${CANARY_ROUTE_ANNOTATION} to the one to use`,
    stableWorkload: (split: string) =>
      `the TrafficSplit ${split} points at it; create it`,
    canaryWorkload: () => 'create it with a selector for the canary pods',
  };
}
