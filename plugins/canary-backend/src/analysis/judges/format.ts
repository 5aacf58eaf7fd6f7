/** Formats a number for an evidence sentence: 3 significant digits, no exponent for usual sizes. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) {
    return String(value);
  }
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 0.001 || abs >= 1e7)) {
    return value.toExponential(2);
  }
  if (Number.isInteger(value)) {
    return String(value);
  }
  return String(Number(value.toPrecision(3)));
}

/** A value with its unit: `4.1 %`, `230 ms`, `3 restarts`. */
export function formatValue(
  value: number | null | undefined,
  unit?: string,
): string {
  if (value === null || value === undefined || Number.isNaN(value)) {
    return 'no data';
  }
  return unit ? `${formatNumber(value)} ${unit}` : formatNumber(value);
}

/** A gate name turned into words: `request-success-rate` → `request success rate`. */
export function metricWords(metric: string): string {
  return metric.replace(/[-_/]+/g, ' ');
}
