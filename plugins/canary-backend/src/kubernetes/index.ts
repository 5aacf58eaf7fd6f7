/**
 * Kubernetes access of the rollout engine: cluster clients from the
 * Kubernetes plugin's config, the five traffic providers, the workload
 * manager, and split drift detection.
 */
export * from './types';
export { ClusterClients } from './ClusterClients';
export type {
  ClusterApis,
  ClusterDetails,
  ClusterClientsOptions,
} from './ClusterClients';
export {
  createTrafficProvider,
  TRAFFIC_PROVIDER_NAMES,
} from './createTrafficProvider';
export type { TrafficProviderOptions } from './createTrafficProvider';
export { IstioTrafficProvider } from './IstioTrafficProvider';
export { ReplicaRatioTrafficProvider } from './ReplicaRatioTrafficProvider';
export { GatewayApiTrafficProvider } from './GatewayApiTrafficProvider';
export { SmiTrafficProvider } from './SmiTrafficProvider';
export { NginxIngressTrafficProvider } from './NginxIngressTrafficProvider';
export { KubernetesWorkloadManager } from './KubernetesWorkloadManager';
export { detectSplitDrift } from './drift';
export type { ExpectedSplit, SplitDrift } from './drift';
export { DEFAULT_STICKY_HEADER } from './istioRoutes';
