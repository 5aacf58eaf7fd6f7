import { argoPhase } from './argoRollouts';
import { flaggerPhase } from './flagger';

const rollout = (status?: Record<string, unknown>) => ({
  metadata: { name: 'rollouts-demo', namespace: 'demo' },
  spec: {
    strategy: { canary: { steps: [{ setWeight: 20 }, { pause: {} }] } },
  },
  ...(status ? { status } : {}),
});

describe('the phase of another controller’s rollout', () => {
  it('is Pending for an Argo Rollout its controller has not reconciled yet, not Succeeded', () => {
    expect(argoPhase(rollout())).toBe('Pending');
    expect(argoPhase(rollout({}))).toBe('Pending');
    // Reconciled, on its first revision.
    expect(argoPhase(rollout({ currentPodHash: 'a1', stableRS: 'a1' }))).toBe(
      'Succeeded',
    );
    // Updating, paused at a pause step without a duration.
    expect(
      argoPhase(
        rollout({
          currentPodHash: 'b2',
          stableRS: 'a1',
          currentStepIndex: 1,
          pauseConditions: [{ reason: 'CanaryPauseStep' }],
        }),
      ),
    ).toBe('AwaitingApproval');
  });

  it('is Pending for a Flagger Canary Flagger has not initialised yet', () => {
    const canary = (status?: Record<string, unknown>) => ({
      metadata: { name: 'podinfo', namespace: 'demo' },
      ...(status ? { status } : {}),
    });
    expect(flaggerPhase(canary())).toBe('Pending');
    expect(flaggerPhase(canary({ phase: '' }))).toBe('Pending');
    expect(flaggerPhase(canary({ phase: 'Initializing' }))).toBe('Pending');
    expect(flaggerPhase(canary({ phase: 'Initialized' }))).toBe('Succeeded');
    expect(flaggerPhase(canary({ phase: 'Failed' }))).toBe('RolledBack');
  });
});
