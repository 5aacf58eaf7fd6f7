/*
 * Canary analysis benchmark v2: every method on the very same simulated
 * rollouts, read two ways — exact counters, and through a simulated
 * Prometheus scraping every 15 s and every 30 s — and writes
 * bench/results/analysis.json and the tables in bench/README.md.
 *
 *   ./dev bench analysis            # full run
 *   ./dev bench analysis --quick    # a tenth of the runs, prints only
 *   ./dev bench analysis --robustness  # healthy scenarios not in the benchmark (robustness.ts)
 *   ./dev bench analysis --sweep       # random combinations of their knobs, prints only (sweep.ts)
 *   ./dev bench analysis --canary-scale  # one canary pod or pods sized by the weight (canaryScale.ts)
 *   ./dev bench analysis --as-written    # count templates read as written (increase() windows, asWritten.ts)
 *   BENCH_SUMMARY=<file>            # also writes the whole result there as JSON (with --quick too)
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  argo,
  coalmine,
  flagger,
  kayenta,
  Method,
  oracle,
  Outcome,
  Path,
} from './methods';
import { SimPrometheus } from './prometheusSim';
import { checkAgainstPrometheus } from './realPrometheus';
import { runAsWritten } from './asWritten';
import { runCanaryScale } from './canaryScale';
import { runRobustness } from './robustness';
import { runSweep } from './sweep';
import { Scenario, World } from './world';

const HORIZON = 1800;
const ALPHA = 0.01;
const quick = process.argv.includes('--quick');
const HEALTHY_RUNS = quick ? 40 : 400;
const REGRESSION_RUNS = quick ? 15 : 100;
const PATHS = ['exact', 'prometheus-15s', 'prometheus-30s'] as const;
type PathId = (typeof PATHS)[number];
const REPORT_ORDER: readonly PathId[] = [
  'prometheus-15s',
  'prometheus-30s',
  'exact',
];

const root = path.resolve(__dirname, '..');

const STANDARD = { weights: [5, 25, 50], stepSeconds: 200 };

function scenario(
  partial: Partial<Scenario> & Pick<Scenario, 'group' | 'label'>,
): Scenario {
  const s: Scenario = {
    id: '',
    baseline: 0.01,
    canaryErrorRate: partial.baseline ?? 0.01,
    latencyFactor: 1,
    rps: 100,
    ...STANDARD,
    clump: 1,
    burstAtSteps: false,
    swing: false,
    runs: partial.group === 'healthy' ? HEALTHY_RUNS : REGRESSION_RUNS,
    ...partial,
  };
  s.id = `${s.group}/${s.label}`;
  return s;
}

export function scenarios(): Scenario[] {
  return [
    // Healthy canaries: every false rollback counts.
    scenario({ group: 'healthy', label: 'base 1 %, 100 rps, 5→25→50 %' }),
    scenario({
      group: 'healthy',
      label: 'base 0.1 %, 10 rps, 1→5→25→50 %',
      baseline: 0.001,
      rps: 10,
      weights: [1, 5, 25, 50],
      stepSeconds: 150,
    }),
    scenario({ group: 'healthy', label: 'base 20 %, 100 rps', baseline: 0.2 }),
    scenario({
      group: 'healthy',
      label: 'errors in clumps of 2, base 1 %',
      clump: 2,
    }),
    scenario({
      group: 'healthy',
      label: 'errors in clumps of 5, base 1 %',
      clump: 5,
    }),
    scenario({
      group: 'healthy',
      label: 'burst on both arms after each step',
      burstAtSteps: true,
    }),
    scenario({
      group: 'healthy',
      label: 'night: 0.05 rps, 5→50 %',
      rps: 0.05,
      weights: [5, 50],
      stepSeconds: 300,
    }),
    scenario({
      group: 'healthy',
      label: 'swinging traffic ±80 %',
      swing: true,
    }),
    scenario({
      group: 'healthy',
      label: 'base 0.5 %, 300 rps, 1→2→5→10→25→50 %',
      baseline: 0.005,
      rps: 300,
      weights: [1, 2, 5, 10, 25, 50],
      stepSeconds: 100,
    }),
    // Added after the slices began at the first sample after each weight
    // change (not tuned on): longer common bursts, clumps at low traffic.
    scenario({
      group: 'healthy',
      label: 'burst of 45 s on both arms after each step, 1→10→50 %',
      burstAtSteps: true,
      burstSeconds: 45,
      weights: [1, 10, 50],
    }),
    scenario({
      group: 'healthy',
      label: 'clumps of 3, base 5 %, 1 rps, 5→50 %',
      baseline: 0.05,
      clump: 3,
      rps: 1,
      weights: [5, 50],
      stepSeconds: 300,
    }),
    scenario({
      group: 'healthy',
      label: 'clumps of 2 and bursts at steps, base 0.1 %, 20 rps, 2→20→50 %',
      baseline: 0.001,
      clump: 2,
      burstAtSteps: true,
      rps: 20,
      weights: [2, 20, 50],
    }),
    // Regressions: bad requests served before the rollback.
    scenario({
      group: 'errors',
      label: '50 % outage, base 0.1 %, 100 rps, 5 %',
      baseline: 0.001,
      canaryErrorRate: 0.5,
      weights: [5, 25, 50],
    }),
    scenario({
      group: 'errors',
      label: '2×, base 1 %, 100 rps',
      canaryErrorRate: 0.02,
    }),
    scenario({
      group: 'errors',
      label: '5×, base 0.1 %, 100 rps',
      baseline: 0.001,
      canaryErrorRate: 0.005,
    }),
    scenario({
      group: 'errors',
      label: '1.5×, base 1 %, 1000 rps',
      canaryErrorRate: 0.015,
      rps: 1000,
    }),
    scenario({
      group: 'errors',
      label: '1.5×, base 20 %, 100 rps',
      baseline: 0.2,
      canaryErrorRate: 0.3,
    }),
    scenario({
      group: 'errors',
      label: '5×, base 1 %, clumps of 5',
      canaryErrorRate: 0.05,
      clump: 5,
    }),
    scenario({
      group: 'errors',
      label: '50 % outage, 1 rps',
      baseline: 0.001,
      canaryErrorRate: 0.5,
      rps: 1,
    }),
    scenario({
      group: 'latency',
      label: 'latency 3×, 100 rps',
      baseline: 0.005,
      latencyFactor: 3,
    }),
    scenario({
      group: 'latency',
      label: 'p99 +30 %, 100 rps',
      baseline: 0.005,
      latencyFactor: 1.3,
    }),
  ];
}

const METHODS: Method[] = [
  oracle(),
  oracle(false),
  // Is the naive oracle a valid α-level test on clumped errors? Both
  // oracles, testing 5 × the baseline, on healthy clumped canaries.
  oracle(true, 5),
  oracle(false, 5),
  coalmine(),
  flagger(1),
  flagger(5),
  argo(),
  kayenta(),
];

interface Stats {
  runs: number;
  rollbackRate: number;
  promoteRate: number;
  badMean: number;
  badP95: number;
  rollbackSecondsMean: number | null;
  promoteSecondsMean: number | null;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function summarize(outcomes: Array<Outcome & { bad: number }>): Stats {
  const bad = outcomes.map(o => o.bad).sort((a, b) => a - b);
  const rollbacks = outcomes
    .filter(o => o.rollbackAt !== null)
    .map(o => o.rollbackAt!);
  const promotes = outcomes
    .filter(o => o.promoteAt !== null)
    .map(o => o.promoteAt!);
  const mean = (v: number[]) =>
    v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
  return {
    runs: outcomes.length,
    rollbackRate: rollbacks.length / outcomes.length,
    promoteRate: promotes.length / outcomes.length,
    badMean: mean(bad) ?? 0,
    badP95: quantile(bad, 0.95),
    rollbackSecondsMean: mean(rollbacks),
    promoteSecondsMean: mean(promotes),
  };
}

type Results = Array<{
  scenario: Scenario;
  paths: Record<PathId, Record<string, Stats>>;
}>;

async function main() {
  const started = Date.now();
  // BENCH_ONLY=<text>: only the scenarios whose label contains it (for quick looks; nothing is written).
  const only = process.env.BENCH_ONLY;
  const list = scenarios().filter(s => !only || s.label.includes(only));
  const results: Results = [];
  list.forEach((sc, index) => {
    const perPath = Object.fromEntries(
      PATHS.map(p => [
        p,
        {} as Record<string, Array<Outcome & { bad: number }>>,
      ]),
    ) as Record<PathId, Record<string, Array<Outcome & { bad: number }>>>;
    for (let run = 0; run < sc.runs; run++) {
      const seed = 1_000_003 * (index + 1) + run * 7919;
      const world = new World(sc, seed, HORIZON);
      for (const pathId of PATHS) {
        const p: Path =
          pathId === 'exact'
            ? { id: 'exact', prom: new SimPrometheus(world, 1, seed, true) }
            : {
                id: pathId,
                prom: new SimPrometheus(
                  world,
                  pathId === 'prometheus-15s' ? 15 : 30,
                  seed + 17,
                ),
              };
        for (const method of METHODS) {
          if (method.regressionsOnly && sc.group === 'healthy') continue;
          // (Not with common bursts: an oracle knowing p0 has no stable arm
          // to tell a burst from a bad canary.)
          if (
            method.healthyClumpedOnly &&
            (sc.group !== 'healthy' || sc.clump <= 1 || sc.burstAtSteps)
          )
            continue;
          const outcome = method.run(world, p);
          // A promoted or undecided regression serves bad requests to the horizon.
          const end = outcome.rollbackAt ?? HORIZON;
          (perPath[pathId][method.id] ??= []).push({
            ...outcome,
            bad: world.badRequests(end),
          });
        }
      }
    }
    const paths = Object.fromEntries(
      PATHS.map(p => [
        p,
        Object.fromEntries(
          Object.entries(perPath[p]).map(([id, o]) => [id, summarize(o)]),
        ),
      ]),
    ) as Record<PathId, Record<string, Stats>>;
    results.push({ scenario: sc, paths });
    process.stderr.write(
      `\r${index + 1}/${list.length} scenarios, ${(
        (Date.now() - started) /
        1000
      ).toFixed(0)} s`,
    );
  });
  process.stderr.write('\n');

  const summary = targets(results);
  const real = await (only
    ? Promise.reject(new Error('BENCH_ONLY'))
    : checkAgainstPrometheus(quick)
  ).catch((e: Error) => ({ skipped: e.message } as const));
  const output = {
    generatedBy: 'bench/analysis/run.ts',
    quick,
    horizonSeconds: HORIZON,
    alpha: ALPHA,
    methods: METHODS.map(m => ({ id: m.id, label: m.label })),
    summary,
    targetsMet: {
      falseRollbackWorst: summary.falseRollbackWorst <= Math.min(0.01, ALPHA),
      badVsOracleWorst: summary.badVsOracleWorst <= 2,
      badVsOracleWorstPrometheus: summary.badVsOracleWorstPrometheus <= 2,
      badVsFlaggerSum: summary.badVsFlaggerSum >= 10,
    },
    details: details(results),
    realPrometheusCheck: real,
    scenarios: results,
    seconds: (Date.now() - started) / 1000,
  };
  const markdown = renderMarkdown(results, output);
  if (!quick && !only) {
    fs.mkdirSync(path.join(root, 'results'), { recursive: true });
    fs.writeFileSync(
      path.join(root, 'results', 'analysis.json'),
      `${JSON.stringify(output, null, 1)}\n`,
    );
    writeReadmeResults(markdown);
  }
  if (process.env.BENCH_SUMMARY) {
    fs.writeFileSync(
      process.env.BENCH_SUMMARY,
      JSON.stringify(output, null, 1),
    );
  }
  process.stdout.write(
    `${markdown}\n\n${list.length} scenarios in ${output.seconds.toFixed(
      0,
    )} s\n`,
  );
}

const regressions = (results: Results) =>
  results.filter(r => r.scenario.group !== 'healthy');

function ratios(results: Results, pathId: PathId) {
  return regressions(results).map(r => {
    const m = r.paths[pathId];
    return {
      scenario: r.scenario.id,
      coalmine: m.coalmine.badMean,
      oracle: m.oracle.badMean,
      ratio: m.coalmine.badMean / Math.max(1, m.oracle.badMean),
      oracleNaive: m['oracle-naive'].badMean,
      ratioToNaive: m.coalmine.badMean / Math.max(1, m['oracle-naive'].badMean),
    };
  });
}

function targets(results: Results) {
  const healthy = results.filter(r => r.scenario.group === 'healthy');
  const falseRollbackWorst = Math.max(
    ...healthy.flatMap(r => PATHS.map(p => r.paths[p].coalmine.rollbackRate)),
  );
  const worst = (p: PathId) =>
    Math.max(...ratios(results, p).map(r => r.ratio));
  const sum = (p: PathId, id: string) =>
    regressions(results).reduce((s, r) => s + r.paths[p][id].badMean, 0);
  const latency = results.find(r => r.scenario.label.startsWith('latency 3×'));
  return {
    falseRollbackWorst,
    badVsOracleWorst: worst('exact'),
    badVsOracleWorstPrometheus: worst('prometheus-15s'),
    badVsNaiveOracleWorst: Math.max(
      ...ratios(results, 'exact').map(r => r.ratioToNaive),
    ),
    badVsNaiveOracleWorstPrometheus: Math.max(
      ...ratios(results, 'prometheus-15s').map(r => r.ratioToNaive),
    ),
    badVsFlaggerSum:
      sum('prometheus-15s', 'flagger-t5') /
      Math.max(1e-9, sum('prometheus-15s', 'coalmine')),
    // The naive oracle on healthy clumped canaries (testing 5 × the
    // baseline at α = 0.5 %): how far from an α-level test it is.
    naiveOracleFalseRollbackWorst: Math.max(
      ...healthy
        .filter(r => r.scenario.clump > 1 && !r.scenario.burstAtSteps)
        .flatMap(r =>
          PATHS.map(p => r.paths[p]['oracle-naive-5x'].rollbackRate),
        ),
    ),
    oracleFalseRollbackWorst: Math.max(
      ...healthy
        .filter(r => r.scenario.clump > 1 && !r.scenario.burstAtSteps)
        .flatMap(r => PATHS.map(p => r.paths[p]['oracle-5x'].rollbackRate)),
    ),
    latencyRollbackSeconds:
      latency?.paths['prometheus-15s'].coalmine.rollbackSecondsMean ?? null,
    scenarios: results.length,
  };
}

function details(results: Results) {
  const sums = (p: PathId) =>
    Object.fromEntries(
      METHODS.filter(m => !m.healthyClumpedOnly).map(m => [
        m.id,
        regressions(results).reduce(
          (s, r) => s + (r.paths[p][m.id]?.badMean ?? 0),
          0,
        ),
      ]),
    );
  const falseRollbacks = (p: PathId) =>
    Object.fromEntries(
      METHODS.filter(m => !m.regressionsOnly && !m.healthyClumpedOnly).map(
        m => [
          m.id,
          Math.max(
            ...results
              .filter(r => r.scenario.group === 'healthy')
              .map(r => r.paths[p][m.id].rollbackRate),
          ),
        ],
      ),
    );
  const oracleFalseRollbacks = (p: PathId) =>
    results
      .filter(
        r =>
          r.scenario.group === 'healthy' &&
          r.scenario.clump > 1 &&
          !r.scenario.burstAtSteps,
      )
      .map(r => ({
        scenario: r.scenario.id,
        oracle: r.paths[p]['oracle-5x'].rollbackRate,
        naiveOracle: r.paths[p]['oracle-naive-5x'].rollbackRate,
      }));
  return Object.fromEntries(
    PATHS.map(p => [
      p,
      {
        oracleFalseRollbacksOnClumps: oracleFalseRollbacks(p),
        badRequestsSummedOverRegressions: sums(p),
        falseRollbackWorstByMethod: falseRollbacks(p),
        ratiosToOracle: ratios(results, p),
      },
    ]),
  );
}

function fmt(value: number | null | undefined, digits = 0): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  return value.toFixed(digits);
}

function pct(value: number | null | undefined): string {
  if (value === null || value === undefined) return '–';
  return `${(value * 100).toFixed(value < 0.1 && value > 0 ? 1 : 0)} %`;
}

const NAMES: Record<string, string> = {
  oracle: 'Oracle',
  'oracle-naive': 'Naive oracle',
  coalmine: 'Coalmine',
  'flagger-t1': 'Flagger t=1',
  'flagger-t5': 'Flagger t=5',
  argo: 'Argo',
  kayenta: 'Kayenta',
};

/** Puts the rendered tables between the README's results markers. */
function writeReadmeResults(markdown: string) {
  const readmePath = path.join(root, 'README.md');
  const readme = fs.readFileSync(readmePath, 'utf8');
  fs.writeFileSync(
    readmePath,
    readme.replace(
      /<!-- results:start -->[\s\S]*<!-- results:end -->/,
      `<!-- results:start -->\n${markdown}\n<!-- results:end -->`,
    ),
  );
}

/** Renders the README's tables again from the committed results file (no runs). */
function renderFromResults() {
  const output = JSON.parse(
    fs.readFileSync(path.join(root, 'results', 'analysis.json'), 'utf8'),
  );
  writeReadmeResults(renderMarkdown(output.scenarios, output));
}

function renderMarkdown(results: Results, output: any): string {
  const lines: string[] = [];
  const ids = METHODS.filter(m => !m.healthyClumpedOnly).map(m => m.id);
  const s = output.summary;
  const met = output.targetsMet;
  const yes = (b: boolean) => (b ? 'met' : '**not met**');
  lines.push('### Summary');
  lines.push('');
  lines.push(`| figure | value | target | |`);
  lines.push(`|---|---|---|---|`);
  lines.push(
    `| false rollbacks, worst healthy scenario, any path | ${pct(
      s.falseRollbackWorst,
    )} | ≤ 1 % and ≤ α | ${yes(met.falseRollbackWorst)} |`,
  );
  lines.push(
    `| bad requests ÷ oracle, worst regression, Prometheus 15 s | ${fmt(
      s.badVsOracleWorstPrometheus,
      2,
    )} | ≤ 2 | ${yes(met.badVsOracleWorstPrometheus)} |`,
  );
  lines.push(
    `| bad requests ÷ oracle, worst regression, exact counters | ${fmt(
      s.badVsOracleWorst,
      2,
    )} | ≤ 2 | ${yes(met.badVsOracleWorst)} |`,
  );
  lines.push(
    `| bad requests ÷ naive oracle (clumps counted as independent errors), worst regression, Prometheus 15 s / exact | ${fmt(
      s.badVsNaiveOracleWorstPrometheus,
      2,
    )} / ${fmt(s.badVsNaiveOracleWorst, 2)} | | |`,
  );
  lines.push(
    `| Flagger (threshold 5) ÷ Coalmine, bad requests summed, Prometheus 15 s | ${fmt(
      s.badVsFlaggerSum,
      1,
    )} | ≥ 10 | ${yes(met.badVsFlaggerSum)} |`,
  );
  lines.push(
    `| oracles on healthy clumped canaries (testing 5 ×, α = 0.5 %): false rollbacks, worst, naive / knowing the clump size | ${pct(
      s.naiveOracleFalseRollbackWorst,
    )} / ${pct(s.oracleFalseRollbackWorst)} | | |`,
  );
  lines.push(
    `| latency 3×: mean time to rollback, Prometheus 15 s | ${fmt(
      s.latencyRollbackSeconds,
    )} s | | |`,
  );
  lines.push('');
  if (output.realPrometheusCheck) {
    const r = output.realPrometheusCheck;
    lines.push(
      r.skipped
        ? `Check against the real Prometheus binary: skipped (${r.skipped}).`
        : `Check against the real Prometheus binary (${r.queries} queries on ${
            r.series
          } backfilled series): largest difference of \`increase()\` ${fmt(
            r.maxIncreaseDifference,
            6,
          )}, of raw-sample counts ${fmt(r.maxRawDifference, 6)}.`,
    );
    lines.push('');
  }
  // The realistic path first: what a user's Prometheus shows.
  for (const p of REPORT_ORDER) {
    lines.push(
      `### Regressions, ${p}: bad requests (mean, p95) · share rolled back · mean time to rollback`,
    );
    lines.push('');
    lines.push(`| scenario | ${ids.map(id => NAMES[id]).join(' | ')} |`);
    lines.push(`|---|${ids.map(() => '---').join('|')}|`);
    for (const r of regressions(results)) {
      const cells = ids.map(id => {
        const m = r.paths[p][id];
        if (!m) return '–';
        return `${fmt(m.badMean, m.badMean < 10 ? 1 : 0)} (${fmt(
          m.badP95,
        )}) · ${pct(m.rollbackRate)} · ${fmt(m.rollbackSecondsMean)} s`;
      });
      lines.push(`| ${r.scenario.label} | ${cells.join(' | ')} |`);
    }
    lines.push('');
    const healthyIds = ids.filter(id => !id.startsWith('oracle'));
    lines.push(
      `### Healthy canaries, ${p}: false rollbacks · promoted (mean time)`,
    );
    lines.push('');
    lines.push(`| scenario | ${healthyIds.map(id => NAMES[id]).join(' | ')} |`);
    lines.push(`|---|${healthyIds.map(() => '---').join('|')}|`);
    for (const r of results.filter(x => x.scenario.group === 'healthy')) {
      const cells = healthyIds.map(id => {
        const m = r.paths[p][id];
        return `${pct(m.rollbackRate)} · ${pct(m.promoteRate)} (${fmt(
          m.promoteSecondsMean,
        )} s)`;
      });
      lines.push(
        `| ${r.scenario.label} (${r.scenario.runs} runs) | ${cells.join(
          ' | ',
        )} |`,
      );
    }
    lines.push('');
  }
  return lines.join('\n');
}

if (require.main === module && process.argv.includes('--render')) {
  renderFromResults();
} else if (require.main === module && process.argv.includes('--robustness')) {
  runRobustness(root);
} else if (require.main === module && process.argv.includes('--sweep')) {
  runSweep();
} else if (require.main === module && process.argv.includes('--canary-scale')) {
  runCanaryScale(root);
} else if (require.main === module && process.argv.includes('--as-written')) {
  runAsWritten(root);
} else if (require.main === module) {
  main().catch(e => {
    process.stderr.write(`${e.stack ?? e}\n`);
    process.exit(1);
  });
}
