import { K8sObject } from '../api/store';
import { durationMs, timestamp } from './events';

/** Runs an instant PromQL query against the sandbox's Prometheus. */
export type PromQuery = (
  promql: string,
) => Promise<
  Array<{ metric: Record<string, string>; value: [number, string] }>
>;

/** Replaces `{{args.name}}` with the run's argument values, as Argo does. */
export function substituteArgs(
  text: string,
  args: Array<{ name: string; value?: string }>,
): string {
  return text.replace(/\{\{\s*args\.([-\w.]+)\s*\}\}/g, (whole, name) => {
    const arg = args.find(a => a.name === name);
    return arg?.value ?? whole;
  });
}

/**
 * Evaluates Argo's success/failure conditions for the expressions the
 * documented templates use: `result[0] >= 0.95`, `result[0] <= 500`,
 * `len(result) == 0`, joined by `&&` or `||`, with `isNaN(result[0])`.
 * Throws for anything else, which the run records as an Error measurement.
 */
export function evaluateCondition(
  condition: string,
  result: number[],
): boolean {
  const ors = condition.split('||');
  return ors.some(or =>
    or.split('&&').every(term => evaluateTerm(term.trim(), result)),
  );
}

function operand(text: string, result: number[]): number {
  const t = text.trim();
  const index = /^result\[(\d+)\]$/.exec(t);
  if (index) {
    // Argo's expression engine errors on an index past the end (no data yet).
    const i = Number(index[1]);
    if (i >= result.length)
      throw new Error(
        `no value at ${t}: the query returned ${result.length} sample(s)`,
      );
    return result[i];
  }
  if (t === 'result') return result[0] ?? NaN;
  if (t === 'len(result)') return result.length;
  if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t);
  throw new Error(`unsupported operand "${t}" in condition`);
}

function evaluateTerm(term: string, result: number[]): boolean {
  const nan = /^(!)?isNaN\((.+)\)$/.exec(term);
  if (nan) return Boolean(nan[1]) !== Number.isNaN(operand(nan[2], result));
  const m = /^(.+?)\s*(>=|<=|==|!=|>|<)\s*(.+)$/.exec(term);
  if (!m) throw new Error(`unsupported condition "${term}"`);
  const a = operand(m[1], result);
  const b = operand(m[3], result);
  switch (m[2]) {
    case '>=':
      return a >= b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '<':
      return a < b;
    case '==':
      return a === b;
    default:
      return a !== b;
  }
}

/**
 * Takes the measurements that are due for one AnalysisRun and returns its
 * next status (metricResults with measurements, phase, message), the
 * fields `argoproj.io/v1alpha1 AnalysisRun` has. Only the Prometheus
 * provider is measured; other providers end in Error with the reason.
 */
export async function measureAnalysisRun(
  run: K8sObject,
  query: PromQuery | undefined,
  now = Date.now(),
): Promise<K8sObject> {
  const status: K8sObject = JSON.parse(JSON.stringify(run.status ?? {}));
  status.startedAt = status.startedAt ?? timestamp(now);
  status.metricResults = status.metricResults ?? [];
  const args = run.spec?.args ?? [];
  let anyRunning = false;
  for (const metric of run.spec?.metrics ?? []) {
    let result = status.metricResults.find(
      (r: K8sObject) => r.name === metric.name,
    );
    if (!result) {
      result = {
        name: metric.name,
        phase: 'Running',
        measurements: [],
        count: 0,
        successful: 0,
        failed: 0,
        inconclusive: 0,
        error: 0,
      };
      status.metricResults.push(result);
    }
    if (result.phase !== 'Running') continue;
    const interval = durationMs(metric.interval);
    const count = Number(metric.count ?? (interval ? 0 : 1)) || 0;
    const last = result.measurements[result.measurements.length - 1];
    // `initialDelay`: the first measurement waits, e.g. for new series to have samples.
    const delay = durationMs(metric.initialDelay) ?? 0;
    if (!last && now - Date.parse(status.startedAt) < delay) {
      anyRunning = true;
      continue;
    }
    const due =
      !last ||
      (interval !== undefined &&
        now - Date.parse(last.finishedAt ?? last.startedAt) >= interval);
    if (due) {
      const measurement: K8sObject = {
        phase: 'Running',
        startedAt: timestamp(now),
      };
      try {
        const promql = metric.provider?.prometheus?.query;
        if (!promql) {
          throw new Error(
            'the sandbox measures only the prometheus provider (spec.metrics[].provider.prometheus.query)',
          );
        }
        if (!query) throw new Error('the sandbox runs without Prometheus');
        const rendered = substituteArgs(promql, args);
        const samples = await query(rendered);
        const values = samples.map(s => Number(s.value[1]));
        measurement.value = values.length
          ? `[${values.map(v => String(v)).join(' ')}]`
          : '[]';
        const failed = metric.failureCondition
          ? evaluateCondition(metric.failureCondition, values)
          : false;
        const succeeded = metric.successCondition
          ? evaluateCondition(metric.successCondition, values)
          : !failed;
        measurement.phase = !failed && succeeded ? 'Successful' : 'Failed';
      } catch (e) {
        measurement.phase = 'Error';
        measurement.message = (e as Error).message;
      }
      measurement.finishedAt = timestamp(now);
      result.measurements.push(measurement);
      result.measurements = result.measurements.slice(-10);
      result.count += 1;
      if (measurement.phase === 'Successful') result.successful += 1;
      if (measurement.phase === 'Failed') result.failed += 1;
      if (measurement.phase === 'Error') {
        result.error += 1;
        result.consecutiveError = (result.consecutiveError ?? 0) + 1;
        result.message = measurement.message;
      } else {
        result.consecutiveError = 0;
      }
    }
    const failureLimit = Number(metric.failureLimit ?? 0);
    const errorLimit = Number(metric.consecutiveErrorLimit ?? 4);
    if (result.failed > failureLimit) {
      result.phase = 'Failed';
      result.message = `Metric "${metric.name}" assessed Failed due to failed (${result.failed}) > failureLimit (${failureLimit})`;
    } else if ((result.consecutiveError ?? 0) > errorLimit) {
      result.phase = 'Error';
    } else if (count > 0 && result.count >= count) {
      result.phase = 'Successful';
    }
    if (result.phase === 'Running') anyRunning = true;
  }
  const phases: string[] = status.metricResults.map((r: K8sObject) => r.phase);
  if (phases.includes('Failed')) {
    status.phase = 'Failed';
    status.message = status.metricResults.find(
      (r: K8sObject) => r.phase === 'Failed',
    ).message;
  } else if (phases.includes('Error')) {
    status.phase = 'Error';
    status.message = status.metricResults.find(
      (r: K8sObject) => r.phase === 'Error',
    ).message;
  } else if (!anyRunning) {
    status.phase = 'Successful';
  } else {
    status.phase = 'Running';
  }
  return status;
}
