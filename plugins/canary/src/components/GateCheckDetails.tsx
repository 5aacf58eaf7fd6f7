import { Box, Tooltip } from '@material-ui/core';
import InfoOutlinedIcon from '@material-ui/icons/InfoOutlined';
import type { AnalysisCheck } from '@coalmine/backstage-plugin-canary-common';

/** How a gate was measured (its PromQL and the judge's numbers), on hover. */
export function GateCheckDetails(props: { check: AnalysisCheck }) {
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
