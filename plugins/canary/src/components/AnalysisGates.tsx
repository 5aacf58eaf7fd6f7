import { InfoCard } from '@backstage/core-components';
import { Typography } from '@material-ui/core';
import type { AnalysisResult } from '@coalmine/backstage-plugin-canary-common';
import { latestGateStates, newestResult } from '../lib/analysis';
import { DecisionStrip } from './DecisionStrip';
import { DecisionSummary } from './DecisionSummary';
import { GateTable } from './GateTable';
import { OlderPages } from './OlderEvents';
import type { AnalysisHistory } from '../hooks/useEventHistory';

/**
 * Every gate with its latest verdict, the values it compared, the bound and
 * the evidence as a sentence ending in what it meant for the rollout.
 */
export function AnalysisGates(props: {
  analysis: AnalysisResult[];
  /** Older analysis rows on demand (the tick strip grows to the left). */
  history?: AnalysisHistory;
}) {
  const gates = latestGateStates(props.analysis);
  const newest = newestResult(props.analysis);
  return (
    <InfoCard title="Analysis" subheader="Canary against stable, gate by gate">
      {newest && <DecisionSummary result={newest} />}
      <DecisionStrip analysis={props.analysis} />
      {props.history && (
        <OlderPages
          history={props.history}
          what="analysis checks"
          testId="canary-older-analysis"
        />
      )}
      {gates.length === 0 ? (
        <Typography variant="body2" data-testid="canary-no-analysis">
          No analysis yet: the first check runs after the first step's interval.
        </Typography>
      ) : (
        <GateTable gates={gates} />
      )}
    </InfoCard>
  );
}
