import { CodeSnippet, WarningPanel } from '@backstage/core-components';
import { Typography } from '@material-ui/core';
import type { Rollout } from '@coalmine/backstage-plugin-canary-common';

/**
 * What a person must do when Coalmine could not finish a rollback: the exact
 * commands that send all traffic to stable, and while a rollback is still
 * retrying, since when the cluster has not answered.
 */
export function ManualRestore(props: { rollout: Rollout }) {
  const { rollout } = props;
  if (rollout.phase === 'Failed' && rollout.manualRestore?.length) {
    return (
      <WarningPanel
        severity="error"
        title="Restore stable by hand"
        defaultExpanded
      >
        <Typography variant="body2" gutterBottom>
          The rollback could not finish. These commands send all traffic to
          stable:
        </Typography>
        <div data-testid="canary-manual-restore">
          <CodeSnippet
            text={rollout.manualRestore.join('\n')}
            language="bash"
            showCopyCodeButton
          />
        </div>
      </WarningPanel>
    );
  }
  if (rollout.retrying) {
    return (
      <Typography
        variant="body2"
        color="textSecondary"
        data-testid="canary-retrying"
        gutterBottom
      >
        Cluster unreachable since{' '}
        {new Date(rollout.retrying.since).toLocaleTimeString()}; retrying
        (attempt {rollout.retrying.attempts}).
      </Typography>
    );
  }
  return null;
}
