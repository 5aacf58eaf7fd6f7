export {
  WorkloadBinding,
  WorkloadNotBoundError,
  boundEntities,
} from './WorkloadBinding';
export type {
  BindingObjectReader,
  BindingRequest,
  BindingVerdict,
} from './WorkloadBinding';
export { KubernetesBindingReader } from './KubernetesBindingReader';
