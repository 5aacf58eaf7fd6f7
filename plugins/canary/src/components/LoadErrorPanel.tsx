import { ResponseErrorPanel } from '@backstage/core-components';
import { ResponseError } from '@backstage/errors';
import { Box, Button } from '@material-ui/core';

/** What went wrong, in the words that tell the reader what to do. */
function explain(error: Error): { title: string; testId: string } {
  const status = error instanceof ResponseError ? error.statusCode : undefined;
  if (status === 401 || status === 403) {
    return {
      title:
        'You may not see the rollouts of this component (canary.rollout.read)',
      testId: 'canary-forbidden',
    };
  }
  if (status === 404) {
    return {
      title: 'The Coalmine backend does not know this component',
      testId: 'canary-not-found',
    };
  }
  return {
    title: 'Could not reach the Coalmine backend',
    testId: 'canary-unreachable',
  };
}

/**
 * The first load failed: the error with a title that says whether it is
 * access, an unknown entity or the backend being away, and a way to retry.
 */
export function LoadErrorPanel(props: { error: Error; onRetry: () => void }) {
  const { title, testId } = explain(props.error);
  return (
    <Box data-testid={testId}>
      <ResponseErrorPanel title={title} error={props.error} />
      <Box mt={2}>
        <Button variant="outlined" color="primary" onClick={props.onRetry}>
          Try again
        </Button>
      </Box>
    </Box>
  );
}
