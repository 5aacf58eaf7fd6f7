import { renderHook } from '@testing-library/react';
import { rollout } from '../__testUtils__/fixtures';
import { useReloadWhenFinished } from './useReloadWhenFinished';

describe('useReloadWhenFinished', () => {
  it('reloads once when the followed rollout finishes, not on every render', () => {
    const reload = jest.fn();
    const { rerender } = renderHook(
      ({ current }) => useReloadWhenFinished(current, reload),
      { initialProps: { current: rollout() } },
    );
    rerender({ current: rollout({ updatedAt: '2026-11-22T10:04:00.000Z' }) });
    expect(reload).not.toHaveBeenCalled();

    const done = rollout({
      phase: 'Succeeded',
      updatedAt: '2026-11-22T10:09:00.000Z',
    });
    rerender({ current: done });
    expect(reload).toHaveBeenCalledTimes(1);
    rerender({ current: { ...done } });
    expect(reload).toHaveBeenCalledTimes(1);
  });

  it('does not reload a rollout that was already finished when it was first shown', () => {
    const reload = jest.fn();
    const { rerender } = renderHook(
      ({ current }) => useReloadWhenFinished(current, reload),
      { initialProps: { current: rollout({ phase: 'RolledBack' }) } },
    );
    rerender({ current: rollout({ phase: 'RolledBack' }) });
    expect(reload).not.toHaveBeenCalled();
  });
});
