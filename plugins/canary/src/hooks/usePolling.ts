import { useCallback, useEffect, useRef, useState } from 'react';
import { toError } from '../lib/errors';

/** What {@link usePolling} knows so far. */
export interface PollingState<T> {
  /** The latest value that loaded, kept while later polls fail. */
  value?: T;
  /** The error of the latest poll, cleared by the next success. */
  error?: Error;
  /** When the latest value arrived (epoch milliseconds). */
  updatedAt?: number;
  /** True until the first poll after a (re)start has finished. */
  loading: boolean;
  /** Poll now (and restart the schedule from here). */
  refresh: () => void;
  /**
   * Poll now, or, when a poll is in flight, once more as soon as it has
   * answered (its answer is shown too). For pushed changes, which come in
   * bursts: a refresh per change would drop every answer but the last.
   */
  refreshSoon: () => void;
}

/**
 * Loads a value and loads it again after a delay that depends on what came
 * back, so a screen can follow a running rollout quickly and fall quiet
 * when nothing runs.
 *
 * Polls never overlap: the next one is scheduled only when the previous one
 * has answered. Nothing runs after unmount, and a change of `key` starts
 * over (a different entity). While the browser tab is hidden, scheduled
 * polls wait and the next one runs as soon as it is visible again.
 *
 * @param load - fetches the value; read at call time, so it may change freely
 * @param nextDelayMs - milliseconds until the next poll, or undefined to stop
 * @param key - restart when this changes
 */
export function usePolling<T>(
  load: () => Promise<T>,
  nextDelayMs: (value: T | undefined, error?: Error) => number | undefined,
  key: string,
): PollingState<T> {
  const [state, setState] = useState<
    Omit<PollingState<T>, 'refresh' | 'refreshSoon'>
  >({
    loading: true,
  });
  const loadRef = useRef(load);
  loadRef.current = load;
  const delayRef = useRef(nextDelayMs);
  delayRef.current = nextDelayMs;
  const pollNowRef = useRef<() => void>();
  const pollSoonRef = useRef<() => void>();

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let generation = 0;
    let lastValue: T | undefined;
    let waitingForVisibility = false;
    let inFlight = false;
    let again = false;

    const poll = async (scheduled: boolean) => {
      if (timer) {
        clearTimeout(timer);
        timer = undefined;
      }
      if (scheduled && document.visibilityState === 'hidden') {
        // Nobody is looking; ask again when somebody is.
        waitingForVisibility = true;
        return;
      }
      waitingForVisibility = false;
      generation += 1;
      const mine = generation;
      inFlight = true;
      let value: T | undefined;
      let error: Error | undefined;
      try {
        value = await loadRef.current();
      } catch (e) {
        error = toError(e);
      }
      // A refresh or an unmount happened while this poll was in flight.
      if (stopped || mine !== generation) {
        return;
      }
      inFlight = false;
      if (error) {
        setState(previous => ({
          value: previous.value,
          updatedAt: previous.updatedAt,
          error,
          loading: false,
        }));
      } else {
        lastValue = value;
        setState({ value, updatedAt: Date.now(), loading: false });
      }
      if (again) {
        again = false;
        poll(false);
        return;
      }
      const delay = delayRef.current(lastValue, error);
      if (delay !== undefined) {
        timer = setTimeout(() => poll(true), delay);
      }
    };

    const onVisibilityChange = () => {
      if (waitingForVisibility && document.visibilityState === 'visible') {
        poll(true);
      }
    };
    document.addEventListener('visibilitychange', onVisibilityChange);
    pollNowRef.current = () => {
      again = false;
      poll(false);
    };
    pollSoonRef.current = () => {
      if (inFlight) again = true;
      else poll(false);
    };
    setState({ loading: true });
    poll(false);

    return () => {
      stopped = true;
      pollNowRef.current = undefined;
      pollSoonRef.current = undefined;
      document.removeEventListener('visibilitychange', onVisibilityChange);
      if (timer) {
        clearTimeout(timer);
      }
    };
  }, [key]);

  const refresh = useCallback(() => pollNowRef.current?.(), []);
  const refreshSoon = useCallback(() => pollSoonRef.current?.(), []);
  return { ...state, refresh, refreshSoon };
}
