import { useMemo, useState } from 'react';
import { Progress } from '@backstage/core-components';
import { Box } from '@material-ui/core';
import { Alert } from '@material-ui/lab';
import { isTerminalPhase } from '@coalmine/backstage-plugin-canary-common';
import type { CanaryPollIntervals } from '../hooks/pollIntervals';
import { useOrganizationRollouts } from '../hooks/useOrganizationRollouts';
import { describeError } from '../lib/errors';
import { LoadErrorPanel } from './LoadErrorPanel';
import { RolloutFilterValues, RolloutFilters } from './RolloutFilters';
import { RolloutRow, RolloutsTable } from './RolloutsTable';
import { RolloutSummary } from './RolloutSummary';

/**
 * Active and recent rollouts of the whole organisation, filterable by
 * phase, owner and cluster. The body of the Canary page.
 * @public
 */
export function CanaryRollouts(props: {
  pollIntervals?: Partial<CanaryPollIntervals>;
}) {
  const { value, error, loading, refresh, pushed } = useOrganizationRollouts(
    props.pollIntervals,
  );
  const [filters, setFilters] = useState<RolloutFilterValues>({
    phase: '',
    owner: '',
    cluster: '',
  });

  const rows = useMemo<RolloutRow[]>(
    () =>
      (value?.rollouts ?? []).map(rollout => ({
        id: rollout.id,
        rollout,
        owner: value?.owners[rollout.entityRef],
      })),
    [value],
  );
  const owners = useMemo(
    () =>
      [...new Set(rows.flatMap(row => (row.owner ? [row.owner] : [])))].sort(),
    [rows],
  );
  const clusters = useMemo(
    () => [...new Set(rows.map(row => row.rollout.cluster))].sort(),
    [rows],
  );
  const visible = rows.filter(({ rollout, owner }) => {
    if (filters.phase === 'active' && isTerminalPhase(rollout.phase)) {
      return false;
    }
    if (
      filters.phase &&
      filters.phase !== 'active' &&
      rollout.phase !== filters.phase
    ) {
      return false;
    }
    if (filters.owner && owner !== filters.owner) {
      return false;
    }
    return !filters.cluster || rollout.cluster === filters.cluster;
  });

  if (loading && !value) {
    return <Progress />;
  }
  if (!value) {
    return (
      <LoadErrorPanel
        error={error ?? new Error('No answer')}
        onRetry={refresh}
      />
    );
  }
  return (
    <Box
      data-testid="canary-org-rollouts"
      data-pushed={pushed ? 'true' : 'false'}
    >
      {error && (
        <Alert severity="warning" style={{ marginBottom: 16 }}>
          Live updates failed ({describeError(error)}); showing the last known
          state and retrying.
        </Alert>
      )}
      {value.ownersError && (
        <Alert severity="info" style={{ marginBottom: 16 }}>
          Owners could not be read from the catalog: {value.ownersError}
        </Alert>
      )}
      <RolloutSummary
        rollouts={value.rollouts}
        onFilter={phase => setFilters({ ...filters, phase })}
      />
      <RolloutFilters
        value={filters}
        owners={owners}
        clusters={clusters}
        onChange={setFilters}
      />
      <RolloutsTable rows={visible} />
    </Box>
  );
}
