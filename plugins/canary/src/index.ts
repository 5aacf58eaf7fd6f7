/**
 * Coalmine's frontend: the Canary tab, overview card and page for Backstage.
 * The new frontend system is under `/alpha`.
 *
 * @packageDocumentation
 */
export {
  canaryPlugin,
  CanaryPage,
  EntityCanaryCard,
  EntityCanaryContent,
} from './plugin';
export { rootRouteRef, entityContentRouteRef } from './routes';
export { canaryApiRef, CanaryClient } from './api';
export type { CanaryApi, EntityStatusOptions, ListRolloutsQuery } from './api';
export type { CanaryPollIntervals } from './hooks/pollIntervals';
export type { EntityCanaryContentProps } from './components/EntityCanaryContent';
export type { EntityCanaryCardProps } from './components/EntityCanaryCard';
export {
  isCanaryAvailable,
  CANARY_POLICY_ANNOTATION,
} from '@coalmine/backstage-plugin-canary-common';
