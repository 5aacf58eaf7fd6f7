import { Box } from '@material-ui/core';
import type { RolloutPhase } from '@coalmine/backstage-plugin-canary-common';
import { phaseLabel } from '../lib/phases';
import { FilterSelect } from './FilterSelect';

/** The filters of the organisation-wide list; empty means "any". */
export interface RolloutFilterValues {
  /** A phase, `active` for every non-terminal phase, or empty. */
  phase: RolloutPhase | 'active' | '';
  owner: string;
  cluster: string;
}

const PHASES: RolloutPhase[] = [
  'Pending',
  'Progressing',
  'Paused',
  'AwaitingApproval',
  'Promoting',
  'RollingBack',
  'Succeeded',
  'RolledBack',
  'Aborted',
  'Failed',
];

/** Phase, owner and cluster filters for the rollout list. */
export function RolloutFilters(props: {
  value: RolloutFilterValues;
  owners: string[];
  clusters: string[];
  onChange: (value: RolloutFilterValues) => void;
}) {
  const { value, onChange } = props;
  return (
    <Box
      display="flex"
      flexWrap="wrap"
      role="search"
      aria-label="Filter rollouts"
    >
      <FilterSelect
        label="Phase"
        value={value.phase}
        options={[
          { value: 'active', label: 'Any active phase' },
          ...PHASES.map(phase => ({ value: phase, label: phaseLabel(phase) })),
        ]}
        onChange={phase =>
          onChange({ ...value, phase: phase as RolloutFilterValues['phase'] })
        }
      />
      <FilterSelect
        label="Owner"
        value={value.owner}
        options={props.owners.map(owner => ({ value: owner, label: owner }))}
        onChange={owner => onChange({ ...value, owner })}
      />
      <FilterSelect
        label="Cluster"
        value={value.cluster}
        options={props.clusters.map(cluster => ({
          value: cluster,
          label: cluster,
        }))}
        onChange={cluster => onChange({ ...value, cluster })}
      />
    </Box>
  );
}
