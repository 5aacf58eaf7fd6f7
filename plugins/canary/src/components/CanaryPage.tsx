import { Content, Header, Page } from '@backstage/core-components';
import type { CanaryPollIntervals } from '../hooks/pollIntervals';
import { CanaryRollouts } from './CanaryRollouts';

/**
 * The organisation-wide Canary page for the legacy frontend system.
 * @public
 */
export function CanaryPage(props: {
  pollIntervals?: Partial<CanaryPollIntervals>;
}) {
  return (
    <Page themeId="tool">
      <Header
        title="Canary releases"
        subtitle="Every active and recent rollout across the organisation"
      />
      <Content>
        <CanaryRollouts pollIntervals={props.pollIntervals} />
      </Content>
    </Page>
  );
}
