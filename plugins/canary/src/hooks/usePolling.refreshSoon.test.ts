import { act, renderHook, waitFor } from '@testing-library/react';
import { usePolling } from './usePolling';

/** A load whose answers the test releases one by one. */
function manualLoad() {
  const pending: Array<(value: string) => void> = [];
  const load = jest.fn(
    () => new Promise<string>(resolve => pending.push(resolve)),
  );
  return { load, answer: (i: number, value: string) => pending[i](value) };
}

describe('usePolling refreshSoon', () => {
  it('shows the answer in flight, then asks once more for a burst of pushes', async () => {
    const { load, answer } = manualLoad();
    const { result } = renderHook(() => usePolling(load, () => undefined, 'k'));
    await waitFor(() => expect(load).toHaveBeenCalledTimes(1));
    act(() => answer(0, 'first'));
    await waitFor(() => expect(result.current.value).toBe('first'));

    // A push: asked at once.
    act(() => result.current.refreshSoon());
    expect(load).toHaveBeenCalledTimes(2);
    // Three more pushes while that answer is on its way: no new request yet.
    act(() => {
      result.current.refreshSoon();
      result.current.refreshSoon();
      result.current.refreshSoon();
    });
    expect(load).toHaveBeenCalledTimes(2);

    // The answer in flight is shown (a hard refresh would have dropped it) ...
    act(() => answer(1, 'second'));
    await waitFor(() => expect(result.current.value).toBe('second'));
    // ... and one more request covers the pushes that came meanwhile.
    await waitFor(() => expect(load).toHaveBeenCalledTimes(3));
    act(() => answer(2, 'third'));
    await waitFor(() => expect(result.current.value).toBe('third'));
    expect(load).toHaveBeenCalledTimes(3);
  });
});
