import { detectSplitDrift } from './drift';

describe('detectSplitDrift', () => {
  it('is quiet when the cluster has what was set', () => {
    expect(
      detectSplitDrift(
        { canaryWeight: 25, headerRoute: true },
        { canaryWeight: 25, actualWeight: 10, headerRoute: true },
      ),
    ).toMatchObject({ drifted: false, message: undefined });
  });

  it('reports a weight changed by hand', () => {
    const drift = detectSplitDrift(
      { canaryWeight: 25 },
      { canaryWeight: 40, headerRoute: false },
    );
    expect(drift.drifted).toBe(true);
    expect(drift.message).toBe(
      'canary weight is 40 %, the rollout set 25 % — changed outside Coalmine',
    );
  });

  it('reports a removed header route', () => {
    const drift = detectSplitDrift(
      { canaryWeight: 5, headerRoute: true },
      { canaryWeight: 5, headerRoute: false },
    );
    expect(drift.drifted).toBe(true);
    expect(drift.message).toContain(
      'sticky header route to the canary was removed',
    );
  });
});
