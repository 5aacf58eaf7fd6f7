import { TERMINAL_PHASES } from '@coalmine/backstage-plugin-canary-common';
import { controlsForPhase, controlsForRollout, phaseLabel } from './phases';

describe('controlsForPhase', () => {
  it('offers what each phase allows', () => {
    expect(controlsForPhase('Progressing')).toEqual([
      'pause',
      'promote',
      'abort',
    ]);
    expect(controlsForPhase('Paused')).toEqual(['resume', 'promote', 'abort']);
    expect(controlsForPhase('AwaitingApproval')).toEqual([
      'approve',
      'pause',
      'promote',
      'abort',
    ]);
    expect(controlsForPhase('Pending')).toEqual(['pause', 'abort']);
    expect(controlsForPhase('Promoting')).toEqual([]);
    expect(controlsForPhase('RollingBack')).toEqual([]);
  });

  it('offers only Retry once a rollout has failed, and nothing after success', () => {
    for (const phase of TERMINAL_PHASES) {
      expect(controlsForPhase(phase)).toEqual(
        phase === 'Succeeded' ? [] : ['retry'],
      );
    }
  });

  it('holds Promote back until the canary has traffic', () => {
    expect(controlsForRollout({ phase: 'Progressing', stepIndex: -1 })).toEqual(
      ['pause', 'abort'],
    );
    expect(
      controlsForRollout({ phase: 'Progressing', stepIndex: 0 }),
    ).toContain('promote');
  });

  it('names phases in words', () => {
    expect(phaseLabel('AwaitingApproval')).toBe('Awaiting approval');
    expect(phaseLabel('RolledBack')).toBe('Rolled back');
  });
});
