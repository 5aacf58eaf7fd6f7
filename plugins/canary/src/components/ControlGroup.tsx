import { ReactNode } from 'react';
import { Box } from '@material-ui/core';

/**
 * The one place the tab's buttons live, named "Rollout controls" wherever
 * it appears (on a rollout, or in the empty state with Start), so people
 * and scripts always find the controls the same way.
 */
export function ControlGroup(props: { children: ReactNode }) {
  return (
    <Box
      display="flex"
      flexWrap="wrap"
      alignItems="flex-start"
      role="group"
      aria-label="Rollout controls"
      data-testid="canary-controls"
    >
      {props.children}
    </Box>
  );
}
