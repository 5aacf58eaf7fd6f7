import { analysisResult } from '../__testUtils__/fixtures';
import { gateConsequence, latestGateStates, newestResult } from './analysis';

describe('latestGateStates', () => {
  it('keeps the latest check of every gate in policy order', () => {
    const older = analysisResult({
      id: 1,
      time: '2026-11-22T10:01:00Z',
      action: 'advance',
      checks: analysisResult().checks.map(check => ({
        ...check,
        verdict: 'pass' as const,
      })),
    });
    const newer = analysisResult({
      id: 2,
      time: '2026-11-22T10:02:00Z',
      checks: [analysisResult().checks[0]],
    });
    const gates = latestGateStates([newer, older]);
    expect(gates.map(gate => gate.check.metric)).toEqual([
      'error-rate',
      'latency-p99',
    ]);
    expect(gates[0]).toMatchObject({
      current: true,
      check: { verdict: 'fail' },
    });
    // Not evaluated at the newest tick: the previous verdict, marked as older.
    expect(gates[1]).toMatchObject({
      current: false,
      check: { verdict: 'pass' },
    });
    expect(newestResult([older, newer])?.id).toBe(2);
  });

  it('says what a verdict meant for the rollout', () => {
    const result = analysisResult();
    const [failing, passing] = result.checks;
    expect(gateConsequence({ check: failing, result, current: true })).toBe(
      'rollback',
    );
    expect(
      gateConsequence({
        check: failing,
        result: { ...result, action: 'hold' },
        current: true,
      }),
    ).toBe('hold');
    expect(gateConsequence({ check: passing, result, current: true })).toBe(
      'ok',
    );
    expect(
      gateConsequence({
        check: { ...passing, verdict: 'inconclusive' },
        result,
        current: true,
      }),
    ).toBe('not enough data yet');
  });
});
