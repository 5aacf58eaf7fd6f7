import type { RolloutEvent } from '@coalmine/backstage-plugin-canary-common';

/** A moment worth a vertical line on the metric charts. */
export interface ChartMarker {
  /** Unix seconds, like the series. */
  t: number;
  label: string;
  /** A person's action rather than the engine's schedule. */
  manual: boolean;
}

/**
 * Weight changes and people's controls, so a jump in a chart lines up with
 * the step (or the button) that caused it.
 */
export function chartMarkers(events: RolloutEvent[]): ChartMarker[] {
  return events.flatMap((event): ChartMarker[] => {
    const t = Date.parse(event.time) / 1000;
    if (!Number.isFinite(t)) {
      return [];
    }
    const weight = event.data?.weight;
    if (
      (event.type === 'step' || event.type === 'weight') &&
      typeof weight === 'number'
    ) {
      return [{ t, label: `${weight} %`, manual: false }];
    }
    const control = event.data?.control;
    if (event.type === 'control' && typeof control === 'string') {
      return [{ t, label: control, manual: true }];
    }
    return [];
  });
}
