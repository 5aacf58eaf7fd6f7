import { InfoCard } from '@backstage/core-components';
import { useEntity, useEntityRefLink } from '@backstage/plugin-catalog-react';
import { Typography } from '@material-ui/core';
import {
  CANARY_POLICY_ANNOTATION,
  isCanaryAvailable,
} from '@coalmine/backstage-plugin-canary-common';
import type { CanaryPollIntervals } from '../hooks/pollIntervals';
import { CanaryCardSummary } from './CanaryCardSummary';

/**
 * Props of {@link EntityCanaryCard}.
 * @public
 */
export interface EntityCanaryCardProps {
  /** Path of the Canary tab under the entity page. Default `canary`. */
  tabPath?: string;
  pollIntervals?: Partial<CanaryPollIntervals>;
}

/**
 * Overview card: phase, weight and last verdict of the component's canary,
 * with a link to the Canary tab.
 * @public
 */
export function EntityCanaryCard(props: EntityCanaryCardProps) {
  const { entity } = useEntity();
  const entityLink = useEntityRefLink();
  const tabLink = `${entityLink(entity).replace(/\/$/, '')}/${
    props.tabPath ?? 'canary'
  }`;
  return (
    <InfoCard title="Canary">
      {isCanaryAvailable(entity) ? (
        <CanaryCardSummary
          tabLink={tabLink}
          pollIntervals={props.pollIntervals}
        />
      ) : (
        <Typography variant="body2">
          Add the annotation <code>{CANARY_POLICY_ANNOTATION}</code> to use
          canary releases for this component.
        </Typography>
      )}
    </InfoCard>
  );
}
