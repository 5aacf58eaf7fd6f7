export { canaryApiRef } from './CanaryApi';
export type { CanaryApi, ListRolloutsQuery } from './CanaryApi';
export { CanaryClient } from './CanaryClient';
