import { Table, TableColumn } from '@backstage/core-components';
import { EntityRefLink } from '@backstage/plugin-catalog-react';
import { Typography } from '@material-ui/core';
import type { Rollout } from '@coalmine/backstage-plugin-canary-common';
import {
  elapsedMs,
  formatDateTime,
  formatDuration,
  workloadVersion,
} from '../lib/format';
import { RolloutPhaseStatus } from './RolloutPhaseStatus';

/** A rollout with the owner of its component. */
export interface RolloutRow {
  rollout: Rollout;
  owner?: string;
  /** Tells material-table rows apart across polls. */
  id: string;
}

function lastVerdict(rollout: Rollout): string {
  const result = rollout.lastAnalysis;
  if (!result) {
    return '–';
  }
  const failing = result.checks.filter(check => check.verdict === 'fail');
  return failing.length
    ? `${result.action} (${failing.map(check => check.metric).join(', ')})`
    : result.action;
}

const columns: TableColumn<RolloutRow>[] = [
  {
    title: 'Component',
    field: 'rollout.entityRef',
    highlight: true,
    render: row => (
      <EntityRefLink
        entityRef={row.rollout.entityRef}
        defaultKind="component"
      />
    ),
  },
  {
    title: 'Owner',
    field: 'owner',
    render: row =>
      row.owner ? (
        <EntityRefLink entityRef={row.owner} defaultKind="group" />
      ) : (
        '–'
      ),
  },
  {
    title: 'Phase',
    field: 'rollout.phase',
    render: row => <RolloutPhaseStatus phase={row.rollout.phase} />,
  },
  {
    title: 'Weight',
    field: 'rollout.weight',
    type: 'numeric',
    render: row => `${row.rollout.weight} %`,
  },
  {
    title: 'Stable → canary',
    render: row =>
      `${workloadVersion(row.rollout.stable)} → ${workloadVersion(
        row.rollout.canary,
      )}`,
  },
  {
    title: 'Cluster / namespace',
    field: 'rollout.cluster',
    render: row => `${row.rollout.cluster} / ${row.rollout.namespace}`,
  },
  {
    title: 'Last verdict',
    render: row => lastVerdict(row.rollout),
  },
  {
    title: 'Started',
    field: 'rollout.createdAt',
    defaultSort: 'desc',
    render: row => (
      <>
        {formatDateTime(row.rollout.createdAt)}
        <br />
        <Typography variant="caption" color="textSecondary">
          {row.rollout.finishedAt
            ? `took ${formatDuration(
                elapsedMs(
                  row.rollout.createdAt,
                  row.rollout.finishedAt,
                  Date.now(),
                ),
              )}`
            : 'running'}
        </Typography>
      </>
    ),
  },
];

/** Every rollout in the filter, sortable and searchable. */
export function RolloutsTable(props: { rows: RolloutRow[] }) {
  return (
    <div data-testid="canary-rollouts">
      <Table<RolloutRow>
        title={`Rollouts (${props.rows.length})`}
        options={{ paging: true, pageSize: 20, search: true, padding: 'dense' }}
        columns={columns}
        data={props.rows}
        emptyContent={<div style={{ padding: 16 }}>No rollouts match.</div>}
      />
    </div>
  );
}
