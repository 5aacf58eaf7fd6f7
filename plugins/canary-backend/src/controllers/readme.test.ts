import fs from 'fs';
import path from 'path';
import { parseAllDocuments } from 'yaml';
import { FLAGGER_GATE_PATH, flaggerControls, flaggerSteps } from './flagger';
import { argoPatches } from './argoRollouts';
import { yamlBlocks } from '../__testUtils__/readmeBlocks';

const readme = fs.readFileSync(
  path.resolve(__dirname, '../../../../README.md'),
  'utf8',
);
const section = readme
  .split('## Teams already running Flagger or Argo Rollouts')[1]
  .split('\n## ')[0];
const objects = yamlBlocks(section).flatMap(part =>
  parseAllDocuments(part).map(d => d.toJS()),
);

describe('the README section for Flagger and Argo Rollouts', () => {
  it("shows a Canary whose gating webhooks reach Coalmine's gates", () => {
    const canary = objects.find(o => o?.kind === 'Canary');
    expect(canary.apiVersion).toBe('flagger.app/v1beta1');
    for (const hook of canary.spec.analysis.webhooks) {
      expect(hook.url).toContain(
        `/api/canary${FLAGGER_GATE_PATH}/production/${hook.type}`,
      );
    }
    expect(flaggerSteps(canary).map(s => s.weight)).toEqual([
      10, 20, 30, 40, 50,
    ]);
    // Waiting for promotion, every gate control is available with these webhooks.
    const controls = flaggerControls(
      {
        ...canary,
        status: { phase: 'WaitingPromotion', lastAppliedSpec: 'x' },
      },
      [],
    );
    expect(controls.filter(c => c.enabled).map(c => c.control)).toEqual([
      'approve',
      'abort',
      'pause',
    ]);
  });

  it('describes the patches the kubectl plugin sends', () => {
    const ro = {
      metadata: { name: 'guestbook' },
      spec: {
        paused: true,
        strategy: { canary: { steps: [{ setWeight: 20 }, { pause: {} }] } },
      },
      status: {
        pauseConditions: [{ reason: 'CanaryPauseStep' }],
        currentPodHash: 'a',
        stableRS: 'b',
      },
    };
    expect(argoPatches(ro, 'promote')).toEqual({
      spec: { paused: false },
      status: { pauseConditions: null },
    });
    expect(argoPatches(ro, 'promote-full')).toEqual({
      status: { promoteFull: true },
    });
    expect(argoPatches(ro, 'abort')).toEqual({ status: { abort: true } });
    expect(argoPatches(ro, 'retry')).toEqual({ status: { abort: false } });
    expect(argoPatches(ro, 'pause')).toEqual({ spec: { paused: true } });
    expect(argoPatches(ro, 'resume')).toEqual({ spec: { paused: false } });
    // Promote in the middle of a step (no pause conditions): skip to the next step.
    const running = {
      ...ro,
      spec: { ...ro.spec, paused: false },
      status: { ...ro.status, pauseConditions: [], currentStepIndex: 0 },
    };
    expect(argoPatches(running, 'promote')).toEqual({
      status: { pauseConditions: null, currentStepIndex: 1 },
    });
    for (const text of [
      'status.pauseConditions: null',
      'status.promoteFull: true',
      'status.abort: true',
      'status.abort: false',
      'spec.paused: true',
    ]) {
      expect(section).toContain(text);
    }
  });
});
