import { CodeSnippet } from '@backstage/core-components';
import { discoveryApiRef, useApi } from '@backstage/core-plugin-api';
import { Box, Typography } from '@material-ui/core';
import useAsync from 'react-use/esm/useAsync';

/**
 * How a pipeline starts the same rollout through the REST API, ready to
 * copy, with this backend's address and this component's ref filled in.
 */
export function PipelineStartSnippet(props: { entityRef: string }) {
  const discoveryApi = useApi(discoveryApiRef);
  const { value: baseUrl } = useAsync(
    () => discoveryApi.getBaseUrl('canary'),
    [discoveryApi],
  );
  if (!baseUrl) {
    return null;
  }
  const text = [
    `curl -fsS -X POST ${baseUrl}/rollouts \\`,
    `  -H "Authorization: Bearer $BACKSTAGE_TOKEN" \\`,
    `  -H 'Content-Type: application/json' \\`,
    `  -d '{`,
    `    "entityRef": "${props.entityRef}",`,
    `    "image": "registry.example.com/team/app:NEW_TAG"`,
    `  }'`,
  ].join('\n');
  return (
    <Box mt={2} data-testid="canary-pipeline-snippet">
      <Typography variant="subtitle2" gutterBottom>
        From a pipeline
      </Typography>
      <CodeSnippet text={text} language="bash" showCopyCodeButton />
    </Box>
  );
}
