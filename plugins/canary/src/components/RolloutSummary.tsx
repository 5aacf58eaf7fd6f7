import { Box, Chip } from '@material-ui/core';
import {
  Rollout,
  RolloutPhase,
  isTerminalPhase,
} from '@coalmine/backstage-plugin-canary-common';
import type { RolloutFilterValues } from './RolloutFilters';

/**
 * Counts a platform team looks for first, each a shortcut to its filter:
 * what runs, what waits for a person, what went back to stable.
 */
export function RolloutSummary(props: {
  rollouts: Rollout[];
  onFilter: (phase: RolloutFilterValues['phase']) => void;
}) {
  const count = (test: (phase: RolloutPhase) => boolean) =>
    props.rollouts.filter(rollout => test(rollout.phase)).length;
  const items: Array<{
    label: string;
    value: number;
    phase: RolloutFilterValues['phase'];
    color: 'primary' | 'secondary' | 'default';
  }> = [
    {
      label: 'running',
      value: count(phase => !isTerminalPhase(phase)),
      phase: 'active',
      color: 'primary',
    },
    {
      label: 'awaiting approval',
      value: count(phase => phase === 'AwaitingApproval'),
      phase: 'AwaitingApproval',
      color: 'default',
    },
    {
      label: 'rolled back',
      value: count(phase => phase === 'RolledBack'),
      phase: 'RolledBack',
      color: 'secondary',
    },
    {
      label: 'failed',
      value: count(phase => phase === 'Failed'),
      phase: 'Failed',
      color: 'secondary',
    },
  ];
  return (
    <Box display="flex" flexWrap="wrap" mb={2} data-testid="canary-summary">
      {items.map(item => (
        <Chip
          key={item.label}
          label={`${item.value} ${item.label}`}
          color={item.value ? item.color : 'default'}
          variant={item.value ? 'default' : 'outlined'}
          onClick={() => props.onFilter(item.phase)}
          style={{ marginRight: 8, marginBottom: 8 }}
        />
      ))}
    </Box>
  );
}
