import { Fragment } from 'react';
import {
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableRow,
  Typography,
} from '@material-ui/core';
import { GateState, gateConsequence, judgeWords } from '../lib/analysis';
import { formatTime, formatValue } from '../lib/format';
import { GateCheckDetails } from './GateCheckDetails';
import { VerdictChip } from './VerdictChip';

/**
 * One row per gate: verdict, the two values, the bound, and the evidence as
 * a sentence ending in what it meant for the rollout. Rows carry
 * `data-testid="gate-<metric>"` and `data-verdict`.
 */
export function GateTable(props: {
  gates: GateState[];
  /** Prefix of the rows' test ids; the history uses its own so ids stay unique. */
  testIdPrefix?: string;
}) {
  const { gates } = props;
  const prefix = props.testIdPrefix ?? 'gate-';
  return (
    <Table size="small" aria-label="Analysis gates">
      <TableHead>
        <TableRow>
          <TableCell>Gate</TableCell>
          <TableCell>Verdict</TableCell>
          <TableCell align="right" style={{ whiteSpace: 'nowrap' }}>
            Canary
          </TableCell>
          <TableCell align="right" style={{ whiteSpace: 'nowrap' }}>
            Stable
          </TableCell>
          <TableCell>Bound</TableCell>
        </TableRow>
      </TableHead>
      <TableBody>
        {gates.map(gate => {
          const { check } = gate;
          // Two rows per gate: the numbers, then the evidence as a sentence
          // across the whole width, since it is what people read first.
          return (
            <Fragment key={check.metric}>
              <TableRow
                data-testid={`${prefix}${check.metric}`}
                data-verdict={check.verdict}
              >
                <TableCell
                  component="th"
                  scope="row"
                  style={{ whiteSpace: 'nowrap', borderBottom: 'none' }}
                >
                  <strong>{check.metric}</strong>
                  <GateCheckDetails check={check} />
                  <Typography
                    variant="caption"
                    display="block"
                    color="textSecondary"
                  >
                    {judgeWords(check.judge)}
                    {gate.current
                      ? ''
                      : ` · as of ${formatTime(gate.result.time)}`}
                  </Typography>
                </TableCell>
                <TableCell style={{ borderBottom: 'none' }}>
                  <VerdictChip verdict={check.verdict} />
                </TableCell>
                <TableCell
                  align="right"
                  style={{ whiteSpace: 'nowrap', borderBottom: 'none' }}
                >
                  {formatValue(check.canaryValue, check.unit)}
                </TableCell>
                <TableCell
                  align="right"
                  style={{ whiteSpace: 'nowrap', borderBottom: 'none' }}
                >
                  {formatValue(check.stableValue, check.unit)}
                </TableCell>
                <TableCell style={{ borderBottom: 'none', minWidth: 160 }}>
                  {check.bound?.text ?? '–'}
                </TableCell>
              </TableRow>
              <TableRow>
                <TableCell
                  colSpan={5}
                  style={{ paddingTop: 0 }}
                  data-testid={`${prefix}${check.metric}-evidence`}
                >
                  <Typography variant="body2">
                    {check.evidence.replace(/[.\s]+$/, '')}:{' '}
                    <strong>{gateConsequence(gate)}</strong>
                  </Typography>
                </TableCell>
              </TableRow>
            </Fragment>
          );
        })}
      </TableBody>
    </Table>
  );
}
