/*
 * False rollbacks of healthy canaries in scenarios that are not in the
 * benchmark and that Coalmine was not developed on: common bursts of other
 * lengths after big weight steps, bursts with clumps and swinging traffic,
 * clumps of 10, a 20 % baseline at 5 requests/s, night traffic with a 10 %
 * baseline, several pods per arm, a canary scraped at another interval than
 * the stable. Coalmine only, on the three reading paths.
 *
 *   ./dev bench analysis --robustness   # writes bench/results/analysis-robustness.json
 */
import fs from 'node:fs';
import path from 'node:path';
import { coalmine, Path } from './methods';
import { SimPrometheus } from './prometheusSim';
import { Scenario, World } from './world';

const RUNS = 200;
const HORIZON = 1800;

const base: Scenario = {
  id: '',
  group: 'healthy',
  label: '',
  baseline: 0.01,
  canaryErrorRate: 0.01,
  latencyFactor: 1,
  rps: 100,
  weights: [5, 25, 50],
  stepSeconds: 200,
  clump: 1,
  burstAtSteps: false,
  swing: false,
  runs: RUNS,
};

function healthy(part: Partial<Scenario> & { label: string }): Scenario {
  const s = { ...base, ...part };
  return { ...s, canaryErrorRate: s.baseline, id: `robustness/${s.label}` };
}

export const ROBUSTNESS_SCENARIOS: Scenario[] = [
  healthy({
    label: 'burst of 10 s after a 1 → 50 % step',
    burstAtSteps: true,
    burstSeconds: 10,
    weights: [1, 50],
  }),
  healthy({
    label: 'burst of 20 s after a 2 → 50 % step',
    burstAtSteps: true,
    weights: [2, 50],
  }),
  healthy({
    label: 'burst of 20 s after a 2 → 50 % step, swinging traffic',
    burstAtSteps: true,
    swing: true,
    weights: [2, 50],
  }),
  healthy({
    label: 'burst of 40 s after each step, 5 → 25 → 50 %',
    burstAtSteps: true,
    burstSeconds: 40,
  }),
  healthy({
    label: 'burst of 90 s after each step, base 0.1 %, 30 rps',
    burstAtSteps: true,
    burstSeconds: 90,
    baseline: 0.001,
    rps: 30,
  }),
  healthy({
    label: 'burst of 30 s and clumps of 3, base 2 %',
    burstAtSteps: true,
    burstSeconds: 30,
    clump: 3,
    baseline: 0.02,
  }),
  healthy({
    label: 'clumps of 10, base 5 %, 50 rps',
    clump: 10,
    baseline: 0.05,
    rps: 50,
  }),
  healthy({
    label: 'base 20 %, clumps of 2, 5 rps, 1 → 10 → 50 %',
    baseline: 0.2,
    clump: 2,
    rps: 5,
    weights: [1, 10, 50],
  }),
  healthy({
    label: 'night: 0.05 rps, base 10 %, 1 → 50 %',
    baseline: 0.1,
    rps: 0.05,
    weights: [1, 50],
    stepSeconds: 300,
  }),
  // Production's rough edges (added in session 5, judge unchanged):
  // restarted containers (counter resets), failed scrapes, one scrape
  // target per pod.
  healthy({
    label: 'container restarts (each pod about every 5 min), base 1 %',
    restartEverySeconds: 300,
  }),
  healthy({
    label: '10 % of scrapes fail, base 1 %, bursts of 20 s at steps',
    missedScrapes: 0.1,
    burstAtSteps: true,
  }),
  healthy({
    label: 'one scrape target per pod, bursts of 20 s at steps, 2 → 50 %',
    phasePerPod: true,
    burstAtSteps: true,
    weights: [2, 50],
  }),
  healthy({
    label:
      'restarts, 5 % failed scrapes and clumps of 3, base 2 %, 20 rps, 1 → 10 → 50 %',
    restartEverySeconds: 600,
    missedScrapes: 0.05,
    clump: 3,
    baseline: 0.02,
    rps: 20,
    weights: [1, 10, 50],
  }),
  // Common bursts inside steps (session 7): a dependency fails both arms
  // for a few seconds at a random moment, errors and latency alike.
  healthy({
    label: 'common bursts mid-step: 10 s at 20 %, about every 2 min, base 1 %',
    midStepBursts: { every: 120, seconds: 10, rate: 0.2 },
  }),
  healthy({
    label:
      'common bursts mid-step: 3 s at 60 %, about every minute, base 0.1 %, 2 → 50 %',
    midStepBursts: { every: 60, seconds: 3, rate: 0.6 },
    baseline: 0.001,
    weights: [2, 50],
  }),
  healthy({
    label:
      'common bursts mid-step from the rollout on (none before): 3 s at 60 %, about every minute, base 0.1 %, 2 → 50 %',
    midStepBursts: { every: 60, seconds: 3, rate: 0.6, fromRollout: true },
    baseline: 0.001,
    weights: [2, 50],
  }),
  healthy({
    label:
      'common bursts mid-step from the rollout on (none before): 10 s at 20 %, about every 2 min, base 1 %',
    midStepBursts: { every: 120, seconds: 10, rate: 0.2, fromRollout: true },
  }),
  healthy({
    label:
      'common bursts mid-step: 45 s at 10 %, about every 5 min, one target per pod',
    midStepBursts: { every: 300, seconds: 45, rate: 0.1 },
    phasePerPod: true,
  }),
  // The mesh not doing as told (session 8): the bounded stretch after a
  // step reads the canary's share from its own requests and never below
  // the configured weight, so a share above the weight, or a step that
  // applies late, must not make a healthy canary look worse.
  healthy({
    label:
      'mesh sends the canary 5 × its weight, bursts of 20 s at steps, 1 → 5 → 10 %',
    shareFactor: 5,
    burstAtSteps: true,
    weights: [1, 5, 10],
  }),
  healthy({
    label:
      'mesh applies each step 12 s late, bursts of 20 s at steps, 1 → 10 → 50 %',
    meshDelaySeconds: 12,
    burstAtSteps: true,
    weights: [1, 10, 50],
  }),
  // Flagger's default schedule (session 10): stepWeight 5, maxWeight 50,
  // interval 1m — ten short steps, each a weight change to cut at.
  healthy({
    label:
      "Flagger's default schedule (5 % steps every minute to 50 %), bursts of 20 s at steps",
    burstAtSteps: true,
    weights: [5, 10, 15, 20, 25, 30, 35, 40, 45, 50],
    stepSeconds: 60,
  }),
  healthy({
    label:
      "Flagger's default schedule, common bursts mid-step from the rollout on (none before): 3 s at 60 %, about every minute, base 0.1 %",
    midStepBursts: { every: 60, seconds: 3, rate: 0.6, fromRollout: true },
    baseline: 0.001,
    weights: [5, 10, 15, 20, 25, 30, 35, 40, 45, 50],
    stepSeconds: 60,
  }),
  // Other shapes of a service (session 11): several pods per arm, an
  // autoscaler adding canary pods mid-rollout, and the canary scraped at
  // another interval than the stable (another scrape config) — at 15 s
  // stable scrapes with the canary at 60 s, 8.5 % of healthy canaries were
  // rolled back before the reader kept the points the lagging common
  // sample time needs and waited for the canary's scrape interval.
  healthy({
    label: '3 canary pods, 10 stable pods, bursts of 20 s at steps',
    canaryPodsFrom: [0, 0, 0],
    stablePods: 10,
    burstAtSteps: true,
  }),
  healthy({
    label:
      'an autoscaler adds canary pods at 230 s and 470 s, bursts of 20 s at steps',
    canaryPodsFrom: [0, 230, 470],
    burstAtSteps: true,
  }),
  healthy({
    label: 'canary scraped every 60 s, bursts of 20 s at steps',
    canaryScrapeSeconds: 60,
    burstAtSteps: true,
  }),
  healthy({
    label: 'canary scraped every 10 s, bursts of 20 s at steps, 2 → 50 %',
    canaryScrapeSeconds: 10,
    burstAtSteps: true,
    weights: [2, 50],
  }),
  healthy({
    label:
      'canary scraped every 60 s, common bursts mid-step: 10 s at 20 %, about every 2 min',
    canaryScrapeSeconds: 60,
    midStepBursts: { every: 120, seconds: 10, rate: 0.2 },
  }),
  healthy({
    label:
      "the stable's scrapes fail for 60 s about every 5 min, canary scraped every 60 s, bursts of 20 s at steps",
    scrapeOutages: { every: 300, seconds: 60, arm: 'stable' },
    canaryScrapeSeconds: 60,
    burstAtSteps: true,
  }),
  healthy({
    label:
      'all scrapes fail for 90 s about every 5 min, bursts of 20 s at steps',
    scrapeOutages: { every: 300, seconds: 90 },
    burstAtSteps: true,
  }),
  healthy({
    label:
      "the canary's scrapes fail for 60 s about every 4 min, common bursts mid-step: 10 s at 20 %, about every 2 min",
    scrapeOutages: { every: 240, seconds: 60, arm: 'canary' },
    midStepBursts: { every: 120, seconds: 10, rate: 0.2 },
  }),
  healthy({
    label:
      'a scale-down deletes 2 of 4 stable pods at 230 s and 430 s, bursts of 20 s at steps',
    stablePodsUntil: [230, 430],
    burstAtSteps: true,
  }),
  healthy({
    label:
      'the canary pod is replaced (evicted, a new one starts) at 250 s and again at 470 s, bursts of 20 s at steps',
    canaryPodsFrom: [0, 250, 470],
    canaryPodsUntil: [250, 470],
    burstAtSteps: true,
  }),
  healthy({
    label:
      'every pod scraped by two jobs (each series stored twice), bursts of 20 s at steps',
    scrapedTwice: true,
    burstAtSteps: true,
  }),
  // The latency gate as it reads a histogram (session 14): `_count −
  // _bucket{le}`, two series per pod.
  healthy({
    label:
      'latency read as count − bucket (two series per pod), bursts of 20 s at steps',
    histogramSeries: true,
    burstAtSteps: true,
  }),
  healthy({
    label:
      'latency read as count − bucket, common bursts mid-step from the rollout on (none before): 3 s at 60 %, about every minute, base 0.1 %, 2 → 50 %',
    histogramSeries: true,
    midStepBursts: { every: 60, seconds: 3, rate: 0.6, fromRollout: true },
    baseline: 0.001,
    weights: [2, 50],
  }),
  // Found by the sweep (session 14, combination 11): bursts most of the
  // time from the rollout on, none in the stable history — each pod's own
  // ratios are the burst level (mended in session 15: CounterReader,
  // stableQuiet).
  healthy({
    label:
      'bursts most of the time from the rollout on (none before): 45 s at 20 % about every minute and 60 s after each 60 s step, 10 % failed scrapes, a second canary pod at 230 s, base 0.1 %, 300 rps',
    midStepBursts: { every: 60, seconds: 45, rate: 0.2, fromRollout: true },
    burstAtSteps: true,
    burstSeconds: 60,
    stepSeconds: 60,
    weights: [10, 20, 30, 40, 50],
    missedScrapes: 0.1,
    stablePods: 4,
    canaryPodsFrom: [0, 230],
    baseline: 0.001,
    rps: 300,
  }),
  // Found in session 16 (one bad pod at a time, every pod alike): rare
  // large clumps the minute-averaged clump index took at half their size
  // (mended: Dispersion, minutes weighted by their bad requests).
  healthy({
    label:
      'one pod at a time fails 30 % for 30 s (each pod about every 30 minutes, the canary too), base 0.1 %',
    podEpisodes: { every: 1800, seconds: 30, rate: 0.3 },
    baseline: 0.001,
    stablePods: 4,
  }),
  healthy({
    label:
      'one pod at a time fails 10 % for 2 minutes (each pod about every 20 minutes, the canary too)',
    podEpisodes: { every: 1200, seconds: 120, rate: 0.1 },
    stablePods: 4,
  }),
  // Found in session 16 by the sweep with episodes, mended in session 17
  // (Dispersion, canaryDispersion): one canary pod serving up to ten times
  // a stable pod's requests, so its spells are that much larger than the
  // stable pods' clumps the A/A measured.
  healthy({
    label:
      'one canary pod at 10 → 50 % beside ten stable pods, each pod slow and failing half its requests for 5 s about every 20 minutes, restarts and scrape outages, 30 rps',
    podEpisodes: { every: 1200, seconds: 5, rate: 0.5 },
    baseline: 0.001,
    rps: 30,
    weights: [10, 20, 30, 40, 50],
    stepSeconds: 200,
    stablePods: 10,
    restartEverySeconds: 300,
    scrapeOutages: { every: 240, seconds: 60 },
  }),
  // Added in session 23, written before any run (judge unchanged): larger
  // clumps, many short steps, outages of the canary's scrapes alone beside
  // common bursts, high traffic with frequent restarts, a small stable arm
  // with episodes and clumps, slow traffic with clumps.
  healthy({ label: 'clumps of 25, base 2 %', clump: 25, baseline: 0.02 }),
  healthy({
    label: 'eight 60 s steps from 1 to 50 %, bursts of 20 s at each step',
    weights: [1, 2, 5, 10, 20, 30, 40, 50],
    stepSeconds: 60,
    burstAtSteps: true,
  }),
  healthy({
    label:
      "outages of the canary's scrapes (45 s, about every 3 minutes) and common bursts mid-step (8 s at 30 %, about every 150 s)",
    scrapeOutages: { every: 180, seconds: 45, arm: 'canary' },
    midStepBursts: { every: 150, seconds: 8, rate: 0.3 },
  }),
  healthy({
    label:
      '500 rps, base 0.5 %, each pod restarting about every 2 minutes, 10 % of scrapes failing',
    rps: 500,
    baseline: 0.005,
    restartEverySeconds: 120,
    missedScrapes: 0.1,
  }),
  healthy({
    label:
      'three stable pods, clumps of 3, one pod at a time failing 40 % for 10 s (each pod about every 10 minutes, the canary too)',
    podEpisodes: { every: 600, seconds: 10, rate: 0.4 },
    stablePods: 3,
    clump: 3,
  }),
  healthy({
    label: '2 rps, base 3 %, clumps of 4, 1 → 20 → 50 % in 300 s steps',
    rps: 2,
    baseline: 0.03,
    clump: 4,
    weights: [1, 20, 50],
    stepSeconds: 300,
  }),
  // Added in session 26, written before any run (judge unchanged since
  // session 20): steps shorter than two 30 s scrapes, a large stable arm
  // beside one canary pod, arms scraped at different intervals with outages
  // and restarts, every Prometheus wrinkle at once under bursts, a late and
  // misrouted mesh, slow traffic with restarts, and the latency gate's two
  // histogram series under one-pod episodes.
  healthy({
    label:
      'six 30 s steps from 1 to 50 %, bursts of 20 s at each step, base 1 %, 50 rps',
    weights: [1, 2, 5, 10, 20, 50],
    stepSeconds: 30,
    burstAtSteps: true,
    rps: 50,
  }),
  healthy({
    label:
      'thirty stable pods and one canary pod, 1 → 5 → 20 %, base 0.5 %, clumps of 2, 300 rps',
    stablePods: 30,
    weights: [1, 5, 20],
    baseline: 0.005,
    clump: 2,
    rps: 300,
  }),
  healthy({
    label:
      "canary scraped every 15 s, the stable's scrapes failing for 60 s about every 3 minutes, each pod restarting about every 4 minutes, 30 rps",
    canaryScrapeSeconds: 15,
    scrapeOutages: { every: 180, seconds: 60, arm: 'stable' },
    restartEverySeconds: 240,
    rps: 30,
  }),
  healthy({
    label:
      'scraped by two jobs, one target per pod, clumps of 3, base 2 %, common bursts mid-step from the rollout on (none before): 10 s at 20 %, about every 2 min',
    scrapedTwice: true,
    phasePerPod: true,
    clump: 3,
    baseline: 0.02,
    midStepBursts: { every: 120, seconds: 10, rate: 0.2, fromRollout: true },
  }),
  healthy({
    label:
      'mesh applies each step 20 s late and sends the canary twice its weight, bursts of 20 s at steps, 2 → 10 → 25 %',
    meshDelaySeconds: 20,
    shareFactor: 2,
    burstAtSteps: true,
    weights: [2, 10, 25],
  }),
  healthy({
    label:
      '0.2 rps, base 5 %, clumps of 2, 1 → 50 % in 600 s steps, each pod restarting about every 10 minutes',
    rps: 0.2,
    baseline: 0.05,
    clump: 2,
    weights: [1, 50],
    stepSeconds: 600,
    restartEverySeconds: 600,
  }),
  healthy({
    label:
      'latency read as count − bucket, one target per pod, one pod at a time slow and failing 30 % for 30 s (each pod about every 10 minutes, the canary too)',
    histogramSeries: true,
    phasePerPod: true,
    podEpisodes: { every: 600, seconds: 30, rate: 0.3 },
  }),
  // Added in session 27, written before any run (judge unchanged): the
  // samples reach the store late, as through remote write (Mimir, Thanos
  // Receive, Cortex, a managed Prometheus) — each series' samples become
  // readable some seconds after their timestamps, a lag drawn per series and
  // minute, so a query sees each series up to another time.
  healthy({
    label:
      'remote-write storage: samples readable 2–20 s after they were scraped (per series and minute), bursts of 20 s at steps',
    visibilityLag: { seconds: [2, 20] },
    burstAtSteps: true,
  }),
  healthy({
    label:
      "remote-write storage with the canary's samples behind the stable's (10–25 s against 0–5 s), common bursts mid-step (8 s at 30 %, about every 150 s)",
    visibilityLag: { seconds: [0, 5], canarySeconds: [10, 25] },
    midStepBursts: { every: 150, seconds: 8, rate: 0.3 },
  }),
  healthy({
    label:
      'remote-write storage (2–20 s), each pod restarting about every 5 minutes, clumps of 3, 1 → 5 → 20 → 50 %',
    visibilityLag: { seconds: [2, 20] },
    restartEverySeconds: 300,
    clump: 3,
    weights: [1, 5, 20, 50],
    stepSeconds: 150,
  }),
  // Added in session 28 (judge unchanged; probed once before with other
  // seeds): remote write in batches — a queue that waits to fill them sends
  // every series' samples at once, so the store jumps forward a batch at a
  // time and between batches every series looks older and older.
  healthy({
    label:
      'remote write in 30 s batches (the store a batch behind at most), bursts of 20 s at steps',
    visibilityLag: { seconds: [0, 0], batchSeconds: 30 },
    burstAtSteps: true,
  }),
  healthy({
    label: 'remote write in 60 s batches, clumps of 3',
    visibilityLag: { seconds: [0, 0], batchSeconds: 60 },
    clump: 3,
  }),
];

/**
 * Checks beyond the file, each of which writes nothing:
 * - BENCH_ONLY=<text>: only the scenarios whose label contains it (several
 *   separated by |);
 * - BENCH_RUNS=<n>: runs per scenario and path (default 200);
 * - BENCH_SEED=<n>: other seeds (run k uses n + 137 k), for a second look
 *   that the file's seeds did not pick;
 * - BENCH_TICK=<s>: the analysis interval (default 10 s);
 * - BENCH_SCRAPES=<s,…>: the scrape intervals (1 = exact counters; default
 *   1,15,30).
 */
function options() {
  const env = process.env;
  const custom = [
    'BENCH_ONLY',
    'BENCH_RUNS',
    'BENCH_SEED',
    'BENCH_TICK',
    'BENCH_SCRAPES',
  ].some(name => env[name]);
  const scrapes = (env.BENCH_SCRAPES ?? '1,15,30')
    .split(',')
    .map(Number)
    .filter(n => Number.isFinite(n) && n >= 1);
  return {
    write: !custom,
    only: env.BENCH_ONLY?.split('|'),
    runs: Number(env.BENCH_RUNS) || RUNS,
    seed: env.BENCH_SEED ? Number(env.BENCH_SEED) : undefined,
    tick: Number(env.BENCH_TICK) || undefined,
    paths: scrapes.map(s =>
      s === 1
        ? (['exact', 1] as const)
        : ([`prometheus-${s}s` as const, s] as const),
    ),
  };
}

export function runRobustness(root: string) {
  const started = Date.now();
  const o = options();
  const method = coalmine(o.tick);
  const results = ROBUSTNESS_SCENARIOS.flatMap((sc, index) => {
    if (o.only && !o.only.some(part => sc.label.includes(part))) return [];
    const rates: Record<string, number> = {};
    for (const [id, interval] of o.paths) {
      let rolledBack = 0;
      for (let run = 0; run < o.runs; run++) {
        const seed =
          o.seed === undefined
            ? 77_001 * (index + 3) + run * 131
            : o.seed + run * 137;
        const world = new World(sc, seed, HORIZON);
        const p: Path =
          id === 'exact'
            ? { id, prom: new SimPrometheus(world, 1, seed, true) }
            : { id, prom: new SimPrometheus(world, interval, seed + 5) };
        if (method.run(world, p).rollbackAt !== null) rolledBack++;
      }
      rates[id] = rolledBack / o.runs;
    }
    process.stderr.write(
      `\r${index + 1}/${ROBUSTNESS_SCENARIOS.length} scenarios`,
    );
    return [{ scenario: sc.label, runs: o.runs, falseRollbacks: rates }];
  });
  process.stderr.write('\n');
  const worst = Math.max(
    ...results.flatMap(r => Object.values(r.falseRollbacks)),
  );
  const output = {
    generatedBy: 'bench/analysis/robustness.ts',
    falseRollbackWorst: worst,
    results,
    seconds: (Date.now() - started) / 1000,
  };
  if (o.write) {
    fs.mkdirSync(path.join(root, 'results'), { recursive: true });
    fs.writeFileSync(
      path.join(root, 'results', 'analysis-robustness.json'),
      `${JSON.stringify(output, null, 1)}\n`,
    );
  }
  for (const r of results) {
    process.stdout.write(
      `${r.scenario}: ${JSON.stringify(r.falseRollbacks)}\n`,
    );
  }
  process.stdout.write(
    `worst false-rollback rate ${worst} (${output.seconds.toFixed(0)} s)\n`,
  );
}
