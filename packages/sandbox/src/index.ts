export {
  startSandbox,
  startApiSandbox,
  DEMO_DIR,
  SANDBOX_TRAFFIC_ANNOTATION,
} from './sandbox';
export type { Sandbox, SandboxOptions } from './sandbox';
export { backstageKubernetesConfig } from './kubeconfig';
export type { TrafficSpec, WorkloadCounters } from './traffic/loadGenerator';
export type { FaultRule } from './api/faults';
export type { K8sObject } from './api/store';
export { behaviourOf, HEALTHY } from './workloads/behaviour';
export type { PodBehaviour } from './workloads/behaviour';
export {
  findPrometheusBinary,
  PrometheusNotInstalledError,
} from './prometheus/prometheus';
export { FaultProxy } from './faults/FaultProxy';
export { argoRolloutsDemo } from './controllers/examples';
export type { FaultMode, FaultChange } from './faults/FaultProxy';
export {
  ScaleWorld,
  scaleManifests,
  scaleServiceName,
} from './scale/ScaleWorld';
export type { ScaleService, ScaleWorldOptions } from './scale/ScaleWorld';
