/**
 * Formatting shared by the components: numbers with units, durations and
 * times in the words people use.
 */

/** A measured value with its unit, with as many digits as carry meaning. */
export function formatValue(
  value: number | null | undefined,
  unit?: string,
): string {
  if (value === null || value === undefined || Number.isNaN(value)) {
    return '–';
  }
  const abs = Math.abs(value);
  let digits: number;
  if (abs === 0 || abs >= 100) {
    digits = 0;
  } else if (abs >= 10) {
    digits = 1;
  } else if (abs >= 1) {
    digits = 2;
  } else {
    digits = Math.min(6, 2 - Math.floor(Math.log10(abs)));
  }
  const text = Number(value.toFixed(digits)).toString();
  if (!unit) {
    return text;
  }
  return unit === '%' ? `${text} %` : `${text} ${unit}`;
}

/** "1 h 4 min", "3 min 20 s", "42 s". */
export function formatDuration(milliseconds: number): string {
  const totalSeconds = Math.max(0, Math.round(milliseconds / 1000));
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  if (hours > 0) {
    return minutes > 0 ? `${hours} h ${minutes} min` : `${hours} h`;
  }
  if (minutes > 0) {
    return seconds > 0 ? `${minutes} min ${seconds} s` : `${minutes} min`;
  }
  return `${seconds} s`;
}

/** Milliseconds between two ISO times, or from one to `now`. */
export function elapsedMs(
  from: string,
  to: string | null | undefined,
  now: number,
): number {
  const end = to ? Date.parse(to) : now;
  return Math.max(0, end - Date.parse(from));
}

/** "in 42 s", or "due now" when the time has passed. */
export function formatDueIn(at: string, now: number): string {
  const remaining = Date.parse(at) - now;
  return remaining <= 0 ? 'due now' : `in ${formatDuration(remaining)}`;
}

/** Local date and time, short. */
export function formatDateTime(iso: string): string {
  return new Date(iso).toLocaleString(undefined, {
    dateStyle: 'medium',
    timeStyle: 'medium',
  });
}

/** Local time of day with seconds. */
export function formatTime(isoOrMillis: string | number): string {
  return new Date(isoOrMillis).toLocaleTimeString(undefined, {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}

/** Version labels that name a role (subset names), not a version. */
const ROLE_NAMES = new Set(['stable', 'canary', 'primary', 'baseline']);

/**
 * A version to show for a workload: its version label, else the image tag
 * (also when the label only names the role, like a `stable` subset).
 */
export function workloadVersion(workload: {
  name: string;
  version?: string;
  image?: string;
}): string {
  const tag = workload.image?.split('/').pop()?.split(':')[1];
  if (workload.version && !(ROLE_NAMES.has(workload.version) && tag)) {
    return workload.version;
  }
  return tag ?? workload.version ?? workload.name;
}
