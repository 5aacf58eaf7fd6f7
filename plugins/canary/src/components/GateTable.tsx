import {
  Box,
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableRow,
  Tooltip,
  Typography,
} from '@material-ui/core';
import InfoOutlinedIcon from '@material-ui/icons/InfoOutlined';
import type { AnalysisCheck } from '@coalmine/backstage-plugin-canary-common';
import { GateState, gateConsequence, judgeWords } from '../lib/analysis';
import { formatTime, formatValue } from '../lib/format';
import { VerdictChip } from './VerdictChip';

function CheckDetails(props: { check: AnalysisCheck }) {
  const { check } = props;
  const details = Object.entries(check.details ?? {});
  if (!check.query && !details.length) {
    return null;
  }
  return (
    <Tooltip
      title={
        <Box>
          {check.query && (
            <Box component="pre" m={0} style={{ whiteSpace: 'pre-wrap' }}>
              {check.query}
            </Box>
          )}
          {details.map(([key, value]) => (
            <div key={key}>
              {key}: {String(value)}
            </div>
          ))}
        </Box>
      }
    >
      <InfoOutlinedIcon
        fontSize="inherit"
        aria-label={`How ${check.metric} was measured`}
        style={{ marginLeft: 4, verticalAlign: 'middle' }}
      />
    </Tooltip>
  );
}

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
          <TableCell>Evidence</TableCell>
        </TableRow>
      </TableHead>
      <TableBody>
        {gates.map(gate => {
          const { check } = gate;
          return (
            <TableRow
              key={check.metric}
              data-testid={`${prefix}${check.metric}`}
              data-verdict={check.verdict}
            >
              <TableCell
                component="th"
                scope="row"
                style={{ whiteSpace: 'nowrap' }}
              >
                <strong>{check.metric}</strong>
                <CheckDetails check={check} />
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
              <TableCell>
                <VerdictChip verdict={check.verdict} />
              </TableCell>
              <TableCell align="right" style={{ whiteSpace: 'nowrap' }}>
                {formatValue(check.canaryValue, check.unit)}
              </TableCell>
              <TableCell align="right" style={{ whiteSpace: 'nowrap' }}>
                {formatValue(check.stableValue, check.unit)}
              </TableCell>
              <TableCell>{check.bound?.text ?? '–'}</TableCell>
              <TableCell data-testid={`${prefix}${check.metric}-evidence`}>
                {check.evidence.replace(/[.\s]+$/, '')}: {gateConsequence(gate)}
              </TableCell>
            </TableRow>
          );
        })}
      </TableBody>
    </Table>
  );
}
