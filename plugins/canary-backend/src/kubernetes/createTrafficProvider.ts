import type { ClusterClients } from './ClusterClients';
import { GatewayApiTrafficProvider } from './GatewayApiTrafficProvider';
import { IstioTrafficProvider } from './IstioTrafficProvider';
import { NginxIngressTrafficProvider } from './NginxIngressTrafficProvider';
import { ReplicaRatioTrafficProvider } from './ReplicaRatioTrafficProvider';
import { SmiTrafficProvider } from './SmiTrafficProvider';
import {
  ConfigurationError,
  TrafficProvider,
  TrafficProviderName,
} from './types';

export const TRAFFIC_PROVIDER_NAMES: ReadonlyArray<TrafficProviderName> = [
  'istio',
  'replicas',
  'gateway-api',
  'smi',
  'nginx',
];

export interface TrafficProviderOptions {
  /** How often a write that hits a 409 is re-read and retried. Default 5. */
  conflictAttempts?: number;
}

/** The traffic provider a policy names, over the configured clusters. */
export function createTrafficProvider(
  name: TrafficProviderName,
  clients: ClusterClients,
  options: TrafficProviderOptions = {},
): TrafficProvider {
  switch (name) {
    case 'istio':
      return new IstioTrafficProvider(clients, options);
    case 'replicas':
      return new ReplicaRatioTrafficProvider(clients, options);
    case 'gateway-api':
      return new GatewayApiTrafficProvider(clients, options);
    case 'smi':
      return new SmiTrafficProvider(clients, options);
    case 'nginx':
      return new NginxIngressTrafficProvider(clients, options);
    default:
      throw new ConfigurationError(
        `Unknown traffic provider "${name}": use one of ${TRAFFIC_PROVIDER_NAMES.join(
          ', ',
        )}`,
      );
  }
}
