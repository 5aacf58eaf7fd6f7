import {
  useEntity,
  MissingAnnotationEmptyState,
} from '@backstage/plugin-catalog-react';
import {
  CANARY_POLICY_ANNOTATION,
  isCanaryAvailable,
} from '@coalmine/backstage-plugin-canary-common';
import type { CanaryPollIntervals } from '../hooks/pollIntervals';
import { CanaryTab } from './CanaryTab';

/**
 * Props of {@link EntityCanaryContent}.
 * @public
 */
export interface EntityCanaryContentProps {
  /** How often to poll; defaults to 2 s while a rollout runs and 15 s otherwise. */
  pollIntervals?: Partial<CanaryPollIntervals>;
}

/**
 * The Canary tab of an entity: asks for the annotation when it is missing,
 * otherwise shows the component's rollouts live.
 * @public
 */
export function EntityCanaryContent(props: EntityCanaryContentProps) {
  const { entity } = useEntity();
  if (!isCanaryAvailable(entity)) {
    return (
      <MissingAnnotationEmptyState annotation={CANARY_POLICY_ANNOTATION} />
    );
  }
  return <CanaryTab pollIntervals={props.pollIntervals} />;
}
