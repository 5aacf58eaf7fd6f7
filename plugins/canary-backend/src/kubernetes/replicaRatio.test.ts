import { replicaShare, replicasForWeight, replicaTotal } from './replicaRatio';

describe('replica ratio', () => {
  it('counts the canary pod into the total (seed 002: 9 + 1 = 10)', () => {
    expect(replicaTotal(9, 1)).toBe(10);
    expect(replicaTotal(9, 0)).toBe(10);
  });

  it('maps the step schedule onto 10 pods', () => {
    expect(
      [0, 5, 10, 25, 50, 75, 100].map(w => replicasForWeight(10, w)),
    ).toEqual([
      { stable: 9, canary: 0 },
      { stable: 9, canary: 1 },
      { stable: 9, canary: 1 },
      { stable: 7, canary: 3 },
      { stable: 5, canary: 5 },
      { stable: 2, canary: 8 },
      { stable: 0, canary: 10 },
    ]);
  });

  it('reports the canary share of ready pods', () => {
    expect(replicaShare(9, 1)).toBe(10);
    expect(replicaShare(2, 1)).toBe(33.33);
    expect(replicaShare(0, 0)).toBeUndefined();
  });
});
