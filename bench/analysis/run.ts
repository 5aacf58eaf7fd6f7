/*
 * Canary analysis benchmark: runs every method on the very same simulated
 * request streams and writes bench/results/analysis.json, a markdown table
 * into bench/README.md (between the results markers) and a table on stdout.
 *
 *   node -r @backstage/cli/config/nodeTransform.cjs bench/analysis/run.ts [--quick]
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
  PROMOTE_AFTER_SECONDS,
} from './methods';
import { Scenario, slowShare, Stream } from './stream';

const HORIZON = 3600;
const ALPHA = 0.01;
const quick = process.argv.includes('--quick');
const HEALTHY_RUNS = quick ? 100 : 1000;
const REGRESSION_RUNS = quick ? 40 : 200;

const root = path.resolve(__dirname, '..');

function scenarios(): Scenario[] {
  const list: Scenario[] = [];
  const traffic = [
    { rps: 1, weight: 0.05 },
    { rps: 10, weight: 0.01 },
    { rps: 10, weight: 0.05 },
    { rps: 100, weight: 0.01 },
    { rps: 100, weight: 0.05 },
    { rps: 100, weight: 0.1 },
    { rps: 1000, weight: 0.01 },
    { rps: 1000, weight: 0.1 },
  ];
  const effects = [
    { effect: '1×', group: 'healthy' as const, rate: (b: number) => b },
    { effect: '1.5×', group: 'errors' as const, rate: (b: number) => 1.5 * b },
    { effect: '2×', group: 'errors' as const, rate: (b: number) => 2 * b },
    { effect: '5×', group: 'errors' as const, rate: (b: number) => 5 * b },
    { effect: '50 % outage', group: 'errors' as const, rate: () => 0.5 },
  ];
  for (const baseline of [0.001, 0.01]) {
    for (const e of effects) {
      for (const t of traffic) {
        list.push(
          scenario(
            e.group,
            e.effect,
            baseline,
            e.rate(baseline),
            1,
            t.rps,
            t.weight,
            false,
          ),
        );
      }
      if (e.effect !== '50 % outage' && e.effect !== '1.5×') {
        list.push(
          scenario(
            e.group,
            e.effect,
            baseline,
            e.rate(baseline),
            1,
            100,
            0.05,
            true,
          ),
        );
      }
    }
  }
  for (const factor of [1.3, 2]) {
    for (const t of [
      { rps: 10, weight: 0.05 },
      { rps: 100, weight: 0.05 },
      { rps: 1000, weight: 0.1 },
    ]) {
      list.push(
        scenario(
          'latency',
          `p99 +${Math.round((factor - 1) * 100)} %`,
          0.005,
          0.005,
          factor,
          t.rps,
          t.weight,
          false,
        ),
      );
    }
  }
  return list;
}

function scenario(
  group: Scenario['group'],
  effect: string,
  baseline: number,
  canaryErrorRate: number,
  latencyFactor: number,
  rps: number,
  weight: number,
  swing: boolean,
): Scenario {
  const id = `${group}/${effect.replace(/ /g, '')}/base${
    baseline * 100
  }%/${rps}rps/w${Math.round(weight * 100)}%${swing ? '/swing' : ''}`;
  return {
    id,
    group,
    effect,
    baseline,
    canaryErrorRate,
    latencyFactor,
    rps,
    weight,
    swing,
    runs: group === 'healthy' ? HEALTHY_RUNS : REGRESSION_RUNS,
  };
}

const METHODS: Method[] = [
  oracle(),
  coalmine(),
  coalmine({ tickSeconds: 1 }),
  coalmine({ p99Gate: true }),
  flagger(1),
  flagger(5),
  argo(3),
  kayenta(),
];

interface Stats {
  runs: number;
  rollbackRate: number;
  promoteRate: number;
  badMean: number;
  badP95: number;
  rollbackSecondsMean: number | null;
  rollbackSecondsP95: number | null;
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
    .map(o => o.rollbackAt!)
    .sort((a, b) => a - b);
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
    rollbackSecondsP95: rollbacks.length ? quantile(rollbacks, 0.95) : null,
    promoteSecondsMean: mean(promotes),
  };
}

function main() {
  const started = Date.now();
  const list = scenarios();
  const results: Array<{ scenario: Scenario; methods: Record<string, Stats> }> =
    [];
  list.forEach((sc, index) => {
    const perMethod: Record<string, Array<Outcome & { bad: number }>> = {};
    for (let run = 0; run < sc.runs; run++) {
      const stream = new Stream(
        sc,
        1_000_003 * (index + 1) + run * 7919,
        HORIZON,
      );
      for (const method of METHODS) {
        if (method.regressionsOnly && sc.group === 'healthy') continue;
        const outcome = method.run(stream);
        const end = outcome.rollbackAt ?? outcome.promoteAt ?? HORIZON;
        (perMethod[method.id] ??= []).push({
          ...outcome,
          bad: stream.badRequests(end),
        });
      }
    }
    const methods: Record<string, Stats> = {};
    for (const [id, outcomes] of Object.entries(perMethod))
      methods[id] = summarize(outcomes);
    results.push({ scenario: sc, methods });
    process.stderr.write(
      `\r${index + 1}/${list.length} scenarios, ${(
        (Date.now() - started) /
        1000
      ).toFixed(0)} s`,
    );
  });
  process.stderr.write('\n');

  const summary = targets(results);
  const output = {
    generatedBy: 'bench/analysis/run.ts',
    quick,
    horizonSeconds: HORIZON,
    promoteAfterSeconds: PROMOTE_AFTER_SECONDS,
    alpha: ALPHA,
    methods: METHODS.map(m => ({ id: m.id, label: m.label })),
    summary,
    scenarios: results,
    seconds: (Date.now() - started) / 1000,
  };
  const markdown = renderMarkdown(results, summary);
  if (!quick) {
    fs.mkdirSync(path.join(root, 'results'), { recursive: true });
    fs.writeFileSync(
      path.join(root, 'results', 'analysis.json'),
      `${JSON.stringify(output, null, 1)}\n`,
    );
    const readmePath = path.join(root, 'README.md');
    if (fs.existsSync(readmePath)) {
      const readme = fs.readFileSync(readmePath, 'utf8');
      const updated = readme.replace(
        /<!-- results:start -->[\s\S]*<!-- results:end -->/,
        `<!-- results:start -->\n${markdown}\n<!-- results:end -->`,
      );
      fs.writeFileSync(readmePath, updated);
    }
  }
  process.stdout.write(`${markdown}\n`);
  process.stdout.write(
    `\n${list.length} scenarios in ${output.seconds.toFixed(0)} s\n`,
  );
}

type Results = Array<{ scenario: Scenario; methods: Record<string, Stats> }>;

function targets(results: Results) {
  const regressions = results.filter(r => r.scenario.group !== 'healthy');
  const healthy = results.filter(r => r.scenario.group === 'healthy');
  const withinRollout = regressions.filter(
    r =>
      (r.methods.oracle?.rollbackRate ?? 0) >= 0.9 &&
      (r.methods.oracle?.rollbackSecondsP95 ?? Infinity) <=
        PROMOTE_AFTER_SECONDS,
  );
  const ratiosFor = (id: string) =>
    withinRollout.map(r => ({
      scenario: r.scenario.id,
      oracle: r.methods.oracle.badMean,
      method: r.methods[id].badMean,
      ratio: r.methods[id].badMean / Math.max(1e-9, r.methods.oracle.badMean),
    }));
  const ratios = ratiosFor('coalmine');
  const ratios1s = ratiosFor('coalmine-1s');
  const sumBad = (id: string) =>
    regressions.reduce((s, r) => s + (r.methods[id]?.badMean ?? 0), 0);
  const falseRollback = (id: string) =>
    Math.max(...healthy.map(r => r.methods[id]?.rollbackRate ?? 0));
  const meanFalseRollback = (id: string) =>
    healthy.reduce((s, r) => s + (r.methods[id]?.rollbackRate ?? 0), 0) /
    healthy.length;
  const ids = METHODS.filter(m => !m.regressionsOnly).map(m => m.id);
  return {
    oracleStopsWithinRollout: withinRollout.length,
    coalmineWithin2xOracle: ratios.filter(r => r.ratio <= 2).length,
    coalmine1sWithin2xOracle: ratios1s.filter(r => r.ratio <= 2).length,
    ratiosToOracle: ratios,
    ratiosToOracle1s: ratios1s,
    badRequestsSummedOverRegressions: Object.fromEntries(
      ['oracle', ...ids].map(id => [id, sumBad(id)]),
    ),
    flaggerDefaultOverCoalmine:
      sumBad('flagger-t1') / Math.max(1e-9, sumBad('coalmine')),
    flaggerDefaultOverCoalmine1s:
      sumBad('flagger-t1') / Math.max(1e-9, sumBad('coalmine-1s')),
    falseRollbackWorstScenario: Object.fromEntries(
      ids.map(id => [id, falseRollback(id)]),
    ),
    falseRollbackMean: Object.fromEntries(
      ids.map(id => [id, meanFalseRollback(id)]),
    ),
  };
}

function fmt(value: number | null | undefined, digits = 0): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  return value.toFixed(digits);
}

function pct(value: number | null | undefined): string {
  if (value === null || value === undefined) return '–';
  return `${(value * 100).toFixed(value < 0.1 && value > 0 ? 1 : 0)} %`;
}

function renderMarkdown(
  results: Results,
  summary: ReturnType<typeof targets>,
): string {
  const ids = [
    'oracle',
    'coalmine',
    'coalmine-1s',
    'coalmine-p99',
    'flagger-t1',
    'flagger-t5',
    'argo-f3',
    'kayenta',
  ];
  const names: Record<string, string> = {
    oracle: 'Oracle SPRT',
    coalmine: 'Coalmine',
    'coalmine-1s': 'Coalmine 1s',
    'coalmine-p99': 'Coalmine +p99 gate',
    'flagger-t1': 'Flagger t=1',
    'flagger-t5': 'Flagger t=5',
    'argo-f3': 'Argo f=3',
    kayenta: 'Kayenta',
  };
  const lines: string[] = [];
  const label = (s: Scenario) =>
    `${s.effect}, base ${s.baseline * 100} %, ${s.rps} rps, w ${Math.round(
      s.weight * 100,
    )} %${s.swing ? ', swinging' : ''}`;

  lines.push(
    '### Regressions: bad requests served before rollback — mean (p95), share rolled back, mean time to rollback',
  );
  lines.push('');
  lines.push(`| scenario | ${ids.map(id => names[id]).join(' | ')} |`);
  lines.push(`|---|${ids.map(() => '---').join('|')}|`);
  for (const r of results.filter(x => x.scenario.group !== 'healthy')) {
    const cells = ids.map(id => {
      const m = r.methods[id];
      if (!m) return '–';
      return `${fmt(m.badMean, m.badMean < 10 ? 1 : 0)} (${fmt(
        m.badP95,
      )}) · ${pct(m.rollbackRate)} · ${fmt(m.rollbackSecondsMean)} s`;
    });
    lines.push(`| ${label(r.scenario)} | ${cells.join(' | ')} |`);
  }
  lines.push('');
  lines.push(
    `### Healthy canaries (${HEALTHY_RUNS} runs each): false rollbacks, and mean time to promote`,
  );
  lines.push('');
  const healthyIds = ids.filter(id => id !== 'oracle');
  lines.push(`| scenario | ${healthyIds.map(id => names[id]).join(' | ')} |`);
  lines.push(`|---|${healthyIds.map(() => '---').join('|')}|`);
  for (const r of results.filter(x => x.scenario.group === 'healthy')) {
    const cells = healthyIds.map(id => {
      const m = r.methods[id];
      const stuck = 1 - m.rollbackRate - m.promoteRate;
      return `${pct(m.rollbackRate)} · ${fmt(m.promoteSecondsMean)} s${
        stuck > 0.005 ? ` · ${pct(stuck)} stuck` : ''
      }`;
    });
    lines.push(`| ${label(r.scenario)} | ${cells.join(' | ')} |`);
  }
  lines.push('');
  lines.push('### Targets');
  lines.push('');
  const sums = summary.badRequestsSummedOverRegressions;
  for (const [name, within, list] of [
    [
      'Coalmine (10s ticks)',
      summary.coalmineWithin2xOracle,
      summary.ratiosToOracle,
    ],
    ['Coalmine 1s', summary.coalmine1sWithin2xOracle, summary.ratiosToOracle1s],
  ] as const) {
    lines.push(
      `- ${name}: within 2 × the oracle's bad requests in **${within} of ${summary.oracleStopsWithinRollout}** regression scenarios where the oracle rolls back within the 10-minute rollout (≥ 90 % of runs, p95 ≤ 600 s).`,
    );
    const misses = list.filter(r => r.ratio > 2);
    if (misses.length) {
      lines.push(
        `  Missed: ${misses
          .map(
            m =>
              `${m.scenario} (${m.method.toFixed(1)} vs ${m.oracle.toFixed(
                1,
              )}, ${m.ratio.toFixed(1)} ×)`,
          )
          .join('; ')}.`,
      );
    }
  }
  lines.push(
    `- Bad requests summed over all regression scenarios: ${Object.entries(sums)
      .map(([id, v]) => `${names[id]} ${Math.round(v)}`)
      .join(
        ', ',
      )}. Flagger (default) / Coalmine = **${summary.flaggerDefaultOverCoalmine.toFixed(
      1,
    )} ×**; Flagger (default) / Coalmine 1s = **${summary.flaggerDefaultOverCoalmine1s.toFixed(
      1,
    )} ×**.`,
  );
  lines.push(
    `- False rollbacks of healthy canaries, worst scenario (mean over healthy scenarios): ${Object.entries(
      summary.falseRollbackWorstScenario,
    )
      .map(
        ([id, v]) =>
          `${names[id]} ${pct(v)} (${pct(summary.falseRollbackMean[id])})`,
      )
      .join(', ')}. Target for Coalmine: ≤ α = ${ALPHA * 100} %.`,
  );
  lines.push(
    `- Oracle "bad" share in latency scenarios: requests slower than the stable p99 (250 ms): p99 +30 % → ${pct(
      slowShare(1.3),
    )}, +100 % → ${pct(slowShare(2))}.`,
  );
  return lines.join('\n');
}

main();
