import { Box, Button, Typography } from '@material-ui/core';
import type { EventHistory } from '../hooks/useEventHistory';
import { describeError } from '../lib/errors';

/** "Load older events" under the timeline while older pages exist; the outcome of a failed load. */
export function OlderEvents(props: { history: EventHistory }) {
  const { hasOlder, loadingOlder, olderError, loadOlder } = props.history;
  if (!hasOlder && !olderError) return null;
  return (
    <Box mt={1} data-testid="canary-older-events">
      {olderError && (
        <Typography variant="body2" color="error" role="alert">
          Older events could not be loaded: {describeError(olderError)}
        </Typography>
      )}
      {hasOlder && (
        <Button
          size="small"
          variant="outlined"
          disabled={loadingOlder}
          onClick={loadOlder}
        >
          {loadingOlder ? 'Loading older events…' : 'Load older events'}
        </Button>
      )}
    </Box>
  );
}
