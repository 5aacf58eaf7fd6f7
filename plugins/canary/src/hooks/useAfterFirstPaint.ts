import { useEffect, useState } from 'react';

/**
 * False until the browser has painted once after `ready` became true, then
 * true for good. A screen renders what people act on first (status and
 * controls) and everything heavier on the next turn, so the first paint
 * never waits for charts, timelines or their requests.
 */
export function useAfterFirstPaint(ready: boolean): boolean {
  const [painted, setPainted] = useState(false);
  useEffect(() => {
    if (!ready || painted) return undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    // A frame callback runs just before the paint; a task queued from it
    // runs after the paint.
    const after = () => {
      timer = setTimeout(() => setPainted(true), 0);
    };
    const frame =
      typeof requestAnimationFrame === 'function'
        ? requestAnimationFrame(after)
        : undefined;
    if (frame === undefined) after();
    return () => {
      if (frame !== undefined) cancelAnimationFrame(frame);
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [ready, painted]);
  return painted;
}
