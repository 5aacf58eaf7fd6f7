export { canaryApiRef } from './CanaryApi';
export type {
  CanaryApi,
  EntityStatusOptions,
  ListRolloutsQuery,
} from './CanaryApi';
export { CanaryClient } from './CanaryClient';
