import { act, renderHook, waitFor } from '@testing-library/react';
import { usePolling } from './usePolling';

function setVisibility(state: 'visible' | 'hidden') {
  Object.defineProperty(document, 'visibilityState', {
    configurable: true,
    get: () => state,
  });
  document.dispatchEvent(new Event('visibilitychange'));
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

describe('usePolling', () => {
  afterEach(() => setVisibility('visible'));

  it('polls on the delay it is given and stops when told', async () => {
    let count = 0;
    const load = jest.fn(async () => ++count);
    const { result } = renderHook(() =>
      usePolling(
        load,
        value => (value !== undefined && value < 3 ? 10 : undefined),
        'k',
      ),
    );
    await waitFor(() => expect(result.current.value).toBe(3));
    await sleep(100);
    expect(load).toHaveBeenCalledTimes(3);
    expect(result.current.loading).toBe(false);
    expect(result.current.updatedAt).toBeDefined();
  });

  it('keeps the last value when a poll fails and recovers on the next', async () => {
    const load = jest
      .fn()
      .mockResolvedValueOnce('first')
      .mockRejectedValueOnce(new Error('gateway timeout'))
      .mockResolvedValue('third');
    // The failed state is held long enough for waitFor to see it.
    const { result } = renderHook(() =>
      usePolling(load, (_value, error) => (error ? 400 : 10), 'k'),
    );
    await waitFor(() =>
      expect(result.current.error?.message).toBe('gateway timeout'),
    );
    expect(result.current.value).toBe('first');
    await waitFor(() => expect(result.current.value).toBe('third'));
    expect(result.current.error).toBeUndefined();
  });

  it('never overlaps polls, and a refresh wins over a slower answer', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let call = 0;
    const load = jest.fn(async () => {
      const mine = ++call;
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await sleep(mine === 1 ? 200 : 5);
      inFlight -= 1;
      return mine;
    });
    const { result } = renderHook(() => usePolling(load, () => 60_000, 'k'));
    act(() => result.current.refresh());
    await waitFor(() => expect(result.current.value).toBe(2));
    await sleep(300);
    // The first, slower answer arrived last but was dropped.
    expect(result.current.value).toBe(2);
    expect(load).toHaveBeenCalledTimes(2);
    expect(maxInFlight).toBeLessThanOrEqual(2);
  });

  it('waits while the browser tab is hidden and catches up when it is shown', async () => {
    const load = jest.fn(async () => 'x');
    renderHook(() => usePolling(load, () => 10, 'k'));
    await waitFor(() => expect(load).toHaveBeenCalled());
    setVisibility('hidden');
    await sleep(50);
    const whileHidden = load.mock.calls.length;
    await sleep(100);
    expect(load.mock.calls.length).toBe(whileHidden);
    setVisibility('visible');
    await waitFor(() =>
      expect(load.mock.calls.length).toBeGreaterThan(whileHidden + 1),
    );
  });

  it('stops on unmount and starts over when the key changes', async () => {
    const load = jest.fn(async (key: string) => key);
    const { result, rerender, unmount } = renderHook(
      ({ key }) =>
        usePolling(
          () => load(key),
          () => 10,
          key,
        ),
      { initialProps: { key: 'a' } },
    );
    await waitFor(() => expect(result.current.value).toBe('a'));
    rerender({ key: 'b' });
    await waitFor(() => expect(result.current.value).toBe('b'));
    unmount();
    const calls = load.mock.calls.length;
    await sleep(100);
    expect(load.mock.calls.length).toBe(calls);
  });
});
