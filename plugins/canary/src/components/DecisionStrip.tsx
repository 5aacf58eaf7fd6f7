import { Box, Tooltip, Typography, useTheme } from '@material-ui/core';
import type { AnalysisResult } from '@coalmine/backstage-plugin-canary-common';
import { formatTime } from '../lib/format';

/**
 * Every analysis tick as a small square, oldest first: green advanced, grey
 * held, red rolled back. Shows at a glance whether the canary was always
 * healthy or flapped before it failed. Shows every row it is given: the
 * newest page, and older pages the user asked for.
 */
export function DecisionStrip(props: { analysis: AnalysisResult[] }) {
  const theme = useTheme();
  const colours = {
    advance: theme.palette.success.main,
    hold: theme.palette.grey[500],
    rollback: theme.palette.error.main,
  };
  const ticks = [...props.analysis].sort(
    (a, b) => Date.parse(a.time) - Date.parse(b.time) || a.id - b.id,
  );
  if (ticks.length < 2) {
    return null;
  }
  return (
    <Box display="flex" alignItems="center" flexWrap="wrap" mb={1}>
      <Typography
        variant="caption"
        color="textSecondary"
        style={{ marginRight: 8 }}
      >
        Ticks
      </Typography>
      <Box
        display="flex"
        flexWrap="wrap"
        role="list"
        aria-label="Analysis ticks, oldest first"
        data-testid="canary-decision-strip"
      >
        {ticks.map(tick => (
          <Tooltip
            key={tick.id}
            title={`${formatTime(tick.time)} · step ${tick.stepIndex + 1} at ${
              tick.weight
            } % · ${tick.action}${tick.reason ? ` — ${tick.reason}` : ''}`}
          >
            <span
              role="listitem"
              data-testid="canary-tick"
              aria-label={`${formatTime(tick.time)}: ${tick.action}`}
              data-action={tick.action}
              style={{
                width: 10,
                height: 10,
                margin: 1,
                borderRadius: 2,
                display: 'inline-block',
                background: colours[tick.action] ?? colours.hold,
              }}
            />
          </Tooltip>
        ))}
      </Box>
    </Box>
  );
}
