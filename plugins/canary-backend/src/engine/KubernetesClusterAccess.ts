import { ClusterClients } from '../kubernetes/ClusterClients';
import { IstioTrafficProvider } from '../kubernetes/IstioTrafficProvider';
import { ReplicaRatioTrafficProvider } from '../kubernetes/ReplicaRatioTrafficProvider';
import { GatewayApiTrafficProvider } from '../kubernetes/GatewayApiTrafficProvider';
import { SmiTrafficProvider } from '../kubernetes/SmiTrafficProvider';
import { NginxIngressTrafficProvider } from '../kubernetes/NginxIngressTrafficProvider';
import { KubernetesWorkloadManager } from '../kubernetes/KubernetesWorkloadManager';
import {
  ConfigurationError,
  TrafficProvider,
  TrafficProviderName,
  WorkloadManager,
} from '../kubernetes/types';
import type { ClusterAccess } from '../domain/ports';

/** The engine's view of the configured clusters, through src/kubernetes. */
export class KubernetesClusterAccess implements ClusterAccess {
  private readonly providers: Partial<
    Record<TrafficProviderName, TrafficProvider>
  >;
  private readonly managers = new Map<string, WorkloadManager>();

  constructor(
    private readonly clients: ClusterClients,
    extraProviders: TrafficProvider[] = [],
  ) {
    const all: TrafficProvider[] = [
      new IstioTrafficProvider(clients),
      new ReplicaRatioTrafficProvider(clients),
      new GatewayApiTrafficProvider(clients),
      new SmiTrafficProvider(clients),
      new NginxIngressTrafficProvider(clients),
      ...extraProviders,
    ];
    this.providers = Object.fromEntries(all.map(p => [p.name, p]));
  }

  trafficProvider(
    _cluster: string,
    name: TrafficProviderName,
  ): TrafficProvider {
    const provider = this.providers[name];
    if (!provider) {
      throw new ConfigurationError(
        `Traffic provider "${name}" is not available; use one of ${Object.keys(
          this.providers,
        ).join(', ')}`,
        'trafficProvider',
      );
    }
    return provider;
  }

  workloads(cluster: string): WorkloadManager {
    let manager = this.managers.get(cluster);
    if (!manager) {
      manager = new KubernetesWorkloadManager(this.clients.forCluster(cluster));
      this.managers.set(cluster, manager);
    }
    return manager;
  }
}
