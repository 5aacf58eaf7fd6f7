/*
 * Count templates read as written: a custom count template that is not a
 * plain sum of increase() of counters (grouping, `rate()`,
 * arithmetic), or a Prometheus client without raw-sample reads, is read as
 * Prometheus computes it — increase() over windows of the gate's interval
 * (1m) that tile time, extrapolated from the samples inside each window
 * (Analyzer.ts). This runs that path as the Analyzer does, against the
 * simulated Prometheus at 15 s and 30 s scrapes, on every healthy scenario
 * of the benchmark and of the robustness suite (false rollbacks) and on the
 * benchmark's regressions (how many are rolled back, and when, beside the
 * raw-sample path on the same worlds).
 *
 *   ./dev bench analysis --as-written   # writes bench/results/analysis-as-written.json
 *   BENCH_RUNS=<n>   # healthy runs per scenario and path (default 200; then writes nothing)
 *   BENCH_ONLY=<a|b> # only scenarios whose label contains a or b (writes nothing)
 *
 * Behind a store that lags (the robustness suite's remote-write
 * scenarios), each window ends at the newest sample the store has of the
 * template's series, as the Analyzer ends it, and is read with what the
 * store has at the reading's time.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ArmCounts } from '../../plugins/canary-backend/src/analysis/judges/SequentialCountJudge';
import { SequentialGateTick } from '../../plugins/canary-backend/src/analysis/judges/SequentialGate';
import {
  groupedWindows,
  StableWindow,
} from '../../plugins/canary-backend/src/analysis/judges/Dispersion';
import {
  HISTORY_BEFORE_START_SECONDS,
  MAX_STORE_LAG_SECONDS,
} from '../../plugins/canary-backend/src/analysis/reading/CounterReader';
import { coalmine, Outcome, runPolicy, TICK } from './methods';
import { Kind, SimPrometheus } from './prometheusSim';
import { ROBUSTNESS_SCENARIOS } from './robustness';
import { scenarios } from './run';
import { Scenario, World } from './world';

const HORIZON = 1800;
const RUNS = 200;
const REGRESSION_RUNS = 40;
/** The gate's interval, the shortest window (Analyzer.ts, DEFAULT_WINDOW). */
const WINDOW = 60;
const SCRAPES = [15, 30] as const;

/** Coalmine's default policy (methods.ts, runPolicy) reading both gates' counts as written. */
function asWritten(world: World, prom: SimPrometheus): Outcome {
  const counted: Partial<
    Record<Kind, { at: number; counts: ArmCounts } | undefined>
  > = {};
  const reads: Array<[keyof ArmCounts, 'canary' | 'stable', 'bad' | 'all']> = [
    ['canaryErrors', 'canary', 'bad'],
    ['canaryRequests', 'canary', 'all'],
    ['stableErrors', 'stable', 'bad'],
    ['stableRequests', 'stable', 'all'],
  ];
  return runPolicy(world, TICK, (bad, t): Partial<SequentialGateTick> => {
    const last = counted[bad];
    const from = last?.at ?? 0;
    if (t - from < WINDOW) {
      // Between windows: the counts as of the last window's end.
      return last
        ? { nowSec: last.at, counts: last.counts }
        : { counts: null, noDataReason: 'first window' };
    }
    // Behind a store that lags, the window ends where the Analyzer ends it:
    // at the newest sample the store has of each arm's series
    // (`max(timestamp(…))`), the earlier arm's, at most 90 s back and never
    // before the last window's end; shorter than a minimum window, it is
    // not due yet.
    let end = t;
    if (world.scenario.visibilityLag) {
      const newest = (['canary', 'stable'] as const)
        .map(side =>
          prom.newestSample(
            reads
              .filter(([, arm]) => arm === side)
              .flatMap(([, arm, what]) =>
                prom.select(arm, what === 'bad' ? bad : 'requests'),
              ),
            t,
          ),
        )
        .filter((v): v is number => v !== undefined);
      const lag = newest.length ? Math.max(0, t - Math.min(...newest)) : 0;
      if (lag > 0 && lag <= MAX_STORE_LAG_SECONDS)
        end = from + Math.floor(Math.max(t - lag, from) - from);
      if (end - from < WINDOW)
        return last
          ? { nowSec: last.at, counts: last.counts }
          : { counts: null, noDataReason: 'first window' };
    }
    const seen = last?.counts;
    const counts: ArmCounts = seen
      ? { ...seen }
      : {
          canaryErrors: 0,
          canaryRequests: 0,
          stableErrors: 0,
          stableRequests: 0,
        };
    let missing = false;
    const window: Partial<ArmCounts> = {};
    for (const [name, arm, what] of reads) {
      const kind: Kind = what === 'bad' ? bad : 'requests';
      let value = prom.increase(arm, kind, end, end - from, t);
      if (!Number.isFinite(value)) {
        // No series: nothing counted, unless the arm had requests.
        const had = (seen?.[`${arm}Requests`] ?? 0) > 0;
        if (had && what === 'all') missing = true;
        value = 0;
      }
      window[name] = Math.max(0, value);
      counts[name] += Math.max(0, value);
    }
    if (missing) return { counts: null, noDataReason: 'series gone' };
    const windows: StableWindow[] = [];
    if (!seen) {
      for (
        let h = -HISTORY_BEFORE_START_SECONDS + WINDOW;
        h <= 0;
        h += WINDOW
      ) {
        const n = prom.increase('stable', 'requests', h, WINDOW, t);
        const e = prom.increase('stable', bad, h, WINDOW, t);
        if (Number.isFinite(n))
          windows.push({
            end: h,
            requests: Math.max(0, n),
            errors: Number.isFinite(e) ? Math.max(0, e) : 0,
          });
      }
    }
    windows.push({
      end,
      errors: window.stableErrors ?? 0,
      requests: window.stableRequests ?? 0,
    });
    counted[bad] = { at: end, counts };
    return {
      nowSec: end,
      counts,
      stableIncrements: groupedWindows(windows, WINDOW),
    };
  });
}

interface Row {
  scenario: string;
  group: Scenario['group'];
  runs: number;
  /** Per scrape interval: share rolled back, share promoted, mean rollback time (s). */
  asWritten: Record<
    string,
    { rolledBack: number; promoted: number; rollbackAfter?: number }
  >;
  /** The raw-sample path on the same worlds (regressions only). */
  raw?: Record<string, { rolledBack: number; rollbackAfter?: number }>;
}

export function runAsWritten(root: string) {
  const started = Date.now();
  const env = process.env;
  const only = env.BENCH_ONLY?.split('|');
  const runs = Number(env.BENCH_RUNS) || RUNS;
  const write = runs === RUNS && !only;
  const raw = coalmine();
  // Seeded by the place in the whole list, so BENCH_ONLY repeats its runs.
  // The scenarios behind a lagging store are numbered after the others,
  // so every other scenario keeps the seeds of runs made before they were
  // modelled here.
  const all = [...scenarios(), ...ROBUSTNESS_SCENARIOS];
  const list = [
    ...all.filter(s => !s.visibilityLag),
    ...all.filter(s => s.visibilityLag),
  ]
    .map((sc, index) => ({ sc, index }))
    .filter(({ sc }) => !only || only.some(part => sc.label.includes(part)));
  const rows: Row[] = list.map(({ sc, index }) => {
    const healthy = sc.group === 'healthy';
    const n = healthy ? runs : Math.min(runs, REGRESSION_RUNS);
    const row: Row = {
      scenario: sc.label,
      group: sc.group,
      runs: n,
      asWritten: {},
    };
    if (!healthy) row.raw = {};
    for (const scrape of SCRAPES) {
      let rolledBack = 0;
      let promoted = 0;
      let at = 0;
      let rawRolledBack = 0;
      let rawAt = 0;
      for (let run = 0; run < n; run++) {
        const seed = 5150 + index * 7919 + run * 131;
        const world = new World(sc, seed, HORIZON);
        const outcome = asWritten(
          world,
          new SimPrometheus(world, scrape, seed + 5),
        );
        if (outcome.rollbackAt !== null) {
          rolledBack++;
          at += outcome.rollbackAt;
        }
        if (outcome.promoteAt !== null) promoted++;
        if (!healthy) {
          const again = new World(sc, seed, HORIZON);
          const r = raw.run(again, {
            id: `prometheus-${scrape}s`,
            prom: new SimPrometheus(again, scrape, seed + 5),
          });
          if (r.rollbackAt !== null) {
            rawRolledBack++;
            rawAt += r.rollbackAt;
          }
        }
      }
      row.asWritten[`${scrape}s`] = {
        rolledBack: rolledBack / n,
        promoted: promoted / n,
        ...(rolledBack
          ? { rollbackAfter: Math.round((at / rolledBack) * 10) / 10 }
          : {}),
      };
      if (row.raw)
        row.raw[`${scrape}s`] = {
          rolledBack: rawRolledBack / n,
          ...(rawRolledBack
            ? { rollbackAfter: Math.round((rawAt / rawRolledBack) * 10) / 10 }
            : {}),
        };
    }
    process.stdout.write(`${JSON.stringify(row)}\n`);
    return row;
  });
  const healthyRates = rows
    .filter(r => r.group === 'healthy')
    .flatMap(r => Object.values(r.asWritten).map(p => p.rolledBack));
  const output = {
    generatedBy: 'bench/analysis/asWritten.ts',
    falseRollbackWorst: Math.max(...healthyRates),
    healthyScenarios: rows.filter(r => r.group === 'healthy').length,
    healthyScenariosAboveOnePercent: rows.filter(
      r =>
        r.group === 'healthy' &&
        Object.values(r.asWritten).some(p => p.rolledBack > 0.01),
    ).length,
    results: rows,
    seconds: (Date.now() - started) / 1000,
  };
  if (write) {
    fs.mkdirSync(path.join(root, 'results'), { recursive: true });
    fs.writeFileSync(
      path.join(root, 'results', 'analysis-as-written.json'),
      `${JSON.stringify(output, null, 1)}\n`,
    );
  }
  process.stdout.write(
    `worst false-rollback rate ${output.falseRollbackWorst}, ${
      output.healthyScenariosAboveOnePercent
    } of ${
      output.healthyScenarios
    } healthy scenarios above 1 % (${output.seconds.toFixed(0)} s)\n`,
  );
}
