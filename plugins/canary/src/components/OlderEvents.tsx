import { Box, Button, Typography } from '@material-ui/core';
import type { PagedHistory } from '../hooks/usePagedHistory';
import { describeError } from '../lib/errors';

/**
 * "Load older <what>" under a list while older pages exist; the outcome of
 * a failed load.
 */
export function OlderPages(props: {
  history: PagedHistory<{ id: number }>;
  /** What the pages hold, in the plural: "events", "analysis checks". */
  what: string;
  testId?: string;
}) {
  const { hasOlder, loadingOlder, olderError, loadOlder } = props.history;
  if (!hasOlder && !olderError) return null;
  return (
    <Box mt={1} data-testid={props.testId}>
      {olderError && (
        <Typography variant="body2" color="error" role="alert">
          {`Older ${props.what} could not be loaded: ${describeError(
            olderError,
          )}`}
        </Typography>
      )}
      {hasOlder && (
        <Button
          size="small"
          variant="outlined"
          disabled={loadingOlder}
          onClick={loadOlder}
        >
          {loadingOlder
            ? `Loading older ${props.what}…`
            : `Load older ${props.what}`}
        </Button>
      )}
    </Box>
  );
}

/** "Load older events" under the timeline. */
export function OlderEvents(props: { history: PagedHistory<{ id: number }> }) {
  return (
    <OlderPages
      history={props.history}
      what="events"
      testId="canary-older-events"
    />
  );
}
