import { Box, Typography, makeStyles } from '@material-ui/core';
import type { Rollout } from '@coalmine/backstage-plugin-canary-common';
import { formatValue } from '../lib/format';

const useStyles = makeStyles(theme => ({
  bar: {
    display: 'flex',
    height: 14,
    borderRadius: 7,
    overflow: 'hidden',
    background: theme.palette.primary.main,
    position: 'relative',
  },
  canary: {
    background: theme.palette.warning.main,
    transition: 'width 0.5s ease',
  },
  measured: {
    position: 'absolute',
    top: 0,
    bottom: 0,
    width: 2,
    background: theme.palette.text.primary,
  },
}));

/**
 * The split between canary and stable: the weight the engine set, and the
 * one actually measured (replica ratio or observed traffic) as a tick.
 */
export function TrafficSplitBar(props: { rollout: Rollout }) {
  const { rollout } = props;
  const classes = useStyles();
  const weight = Math.min(100, Math.max(0, rollout.weight));
  const actual =
    rollout.actualWeight === null || rollout.actualWeight === undefined
      ? undefined
      : Math.min(100, Math.max(0, rollout.actualWeight));
  return (
    <Box>
      <div
        className={classes.bar}
        role="img"
        aria-label={`Traffic split: canary ${weight} %, stable ${
          100 - weight
        } %`}
      >
        <div className={classes.canary} style={{ width: `${weight}%` }} />
        {actual !== undefined && (
          <div
            className={classes.measured}
            style={{ left: `calc(${actual}% - 1px)` }}
            title={`measured ${formatValue(actual, '%')}`}
          />
        )}
      </div>
      <Box display="flex" justifyContent="space-between" mt={0.5}>
        <Typography variant="body2">
          Canary{' '}
          <strong data-testid="canary-weight" data-weight={weight}>
            {weight} %
          </strong>
          {actual !== undefined && (
            <>
              {' '}
              (measured{' '}
              <span data-testid="canary-actual-weight" data-weight={actual}>
                {formatValue(actual, '%')}
              </span>
              )
            </>
          )}
        </Typography>
        <Typography variant="body2">
          Stable <strong>{100 - weight} %</strong>
        </Typography>
      </Box>
    </Box>
  );
}
