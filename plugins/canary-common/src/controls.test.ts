import { controlVerdict, controlsForRollout } from './controls';
import { TERMINAL_PHASES } from './types';

describe('the phase → controls rule', () => {
  it('applies, finds in effect, or refuses with a reason', () => {
    expect(
      controlVerdict({ phase: 'Progressing', stepIndex: 1 }, 'pause'),
    ).toEqual({
      verdict: 'apply',
    });
    expect(controlVerdict({ phase: 'Paused', stepIndex: 1 }, 'pause')).toEqual({
      verdict: 'in-effect',
    });
    expect(
      controlVerdict({ phase: 'RollingBack', stepIndex: 1 }, 'abort'),
    ).toEqual({
      verdict: 'in-effect',
    });
    expect(
      controlVerdict({ phase: 'Promoting', stepIndex: 4 }, 'abort'),
    ).toEqual({
      verdict: 'refused',
      reason: 'the promotion is already under way',
    });
    expect(
      controlVerdict({ phase: 'Progressing', stepIndex: -1 }, 'promote'),
    ).toEqual({ verdict: 'refused', reason: 'the canary has no traffic yet' });
  });

  it('allows retry only after a rollout ended without success', () => {
    for (const phase of TERMINAL_PHASES) {
      expect(controlVerdict({ phase, stepIndex: 0 }, 'retry').verdict).toBe(
        phase === 'Succeeded' ? 'refused' : 'apply',
      );
    }
    expect(
      controlVerdict({ phase: 'Progressing', stepIndex: 0 }, 'retry').verdict,
    ).toBe('refused');
  });

  it('offers only controls that would change the rollout', () => {
    expect(
      controlsForRollout({ phase: 'AwaitingApproval', stepIndex: 2 }),
    ).toEqual(['approve', 'pause', 'promote', 'abort']);
    expect(controlsForRollout({ phase: 'Progressing', stepIndex: -1 })).toEqual(
      ['pause', 'abort'],
    );
  });
});
