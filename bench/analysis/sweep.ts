/*
 * Random combinations of the robustness scenarios' knobs, healthy canaries
 * only, Coalmine's default policy: a search for hostile conditions nobody
 * wrote down. Prints one line per combination and the worst rate; writes
 * nothing.
 *
 *   ./dev bench analysis --sweep
 *   SWEEP_COMBOS=60 SWEEP_RUNS=100 SWEEP_SEED=5150   # the defaults
 *   SWEEP_ONLY=11 SWEEP_RUNS=400 SWEEP_RUN_SEED=99991 # one combination again, other run seeds
 *   SWEEP_SCRAPE=30                                   # at another scrape interval (1 = exact counters)
 *   SWEEP_EPISODES=1                                  # half the combinations also with one bad pod at a time
 */
import { Random } from '../../plugins/canary-backend/src/analysis/__testUtils__/random';
import { coalmine, Path } from './methods';
import { SimPrometheus } from './prometheusSim';
import { Scenario, World } from './world';

const HORIZON = 1800;
const FLAGGER = [5, 10, 15, 20, 25, 30, 35, 40, 45, 50];

export function runSweep() {
  const env = process.env;
  const combos = Number(env.SWEEP_COMBOS ?? 60);
  const runs = Number(env.SWEEP_RUNS ?? 100);
  const seed = Number(env.SWEEP_SEED ?? 5150);
  const only = env.SWEEP_ONLY?.split(',').map(Number);
  const runSeed = Number(env.SWEEP_RUN_SEED ?? 0);
  const r = new Random(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r.next() * xs.length)];
  const rates: number[] = [];
  for (let c = 0; c < combos; c++) {
    // Every combination draws the same numbers whether it runs or not, so
    // SWEEP_ONLY finds the one a full sweep printed.
    const weights = pick([
      [5, 25, 50],
      [1, 50],
      [2, 50],
      [1, 10, 50],
      [10, 20, 30, 40, 50],
      FLAGGER,
    ]);
    const stepSeconds =
      weights === FLAGGER
        ? 60
        : pick([60, 120, 200, 300].filter(s => s * weights.length <= 1500));
    const baseline = pick([0.001, 0.01, 0.05, 0.2]);
    const sc: Scenario = {
      id: `sweep-${c}`,
      group: 'healthy',
      label: `sweep-${c}`,
      baseline,
      canaryErrorRate: baseline,
      latencyFactor: 1,
      rps: pick([0.5, 5, 30, 100, 300]),
      weights,
      stepSeconds,
      clump: pick([1, 1, 2, 5]),
      burstAtSteps: r.next() < 0.5,
      burstSeconds: pick([10, 20, 60]),
      swing: r.next() < 0.3,
      runs,
    };
    if (r.next() < 0.3)
      sc.midStepBursts = {
        every: pick([60, 120, 300]),
        seconds: pick([3, 10, 45]),
        rate: pick([0.1, 0.2, 0.6]),
        fromRollout: r.next() < 0.5,
      };
    if (r.next() < 0.2) sc.restartEverySeconds = pick([300, 600]);
    if (r.next() < 0.3) sc.missedScrapes = pick([0.05, 0.1]);
    if (r.next() < 0.5) sc.phasePerPod = true;
    sc.stablePods = pick([1, 2, 4, 4, 10]);
    const pods = pick(['one', 'three', 'scaleup', 'replace']);
    if (pods === 'three') sc.canaryPodsFrom = [0, 0, 0];
    if (pods === 'scaleup') sc.canaryPodsFrom = [0, 230];
    if (pods === 'replace') {
      sc.canaryPodsFrom = [0, 250];
      sc.canaryPodsUntil = [250];
    }
    if (r.next() < 0.25)
      sc.scrapeOutages = {
        every: pick([240, 300]),
        seconds: pick([60, 90]),
        ...(r.next() < 0.5 ? { arm: pick(['canary', 'stable'] as const) } : {}),
      };
    if (r.next() < 0.2) sc.scrapedTwice = true;
    if (r.next() < 0.2) sc.canaryScrapeSeconds = pick([10, 60]);
    if (r.next() < 0.2) sc.meshDelaySeconds = 12;
    if (r.next() < 0.15 && sc.stablePods >= 4) sc.stablePodsUntil = [230];
    let scrape = pick([1, 10, 15, 15, 30, 30, 60]);
    const tick = pick([5, 10, 10, 15, 30]);
    // Drawn last and only when asked, so the sweeps without it keep their
    // combinations.
    if (env.SWEEP_EPISODES && r.next() < 0.5)
      sc.podEpisodes = {
        every: pick([300, 600, 1200, 1800]),
        seconds: pick([5, 20, 60, 120]),
        rate: pick([0.05, 0.2, 0.5]),
      };
    if (only && !only.includes(c)) continue;
    if (env.SWEEP_SCRAPE) scrape = Number(env.SWEEP_SCRAPE);
    const method = coalmine(tick);
    let rolledBack = 0;
    for (let run = 0; run < runs; run++) {
      const s = seed * 7 + c * 10007 + run * 131 + runSeed;
      const world = new World(sc, s, HORIZON);
      const p: Path =
        scrape === 1
          ? { id: 'exact', prom: new SimPrometheus(world, 1, s, true) }
          : {
              id: `prometheus-${scrape}s`,
              prom: new SimPrometheus(world, scrape, s + 5),
            };
      if (method.run(world, p).rollbackAt !== null) rolledBack++;
    }
    const { id, group, label, canaryErrorRate, latencyFactor, ...shape } = sc;
    rates.push(rolledBack / runs);
    process.stdout.write(
      `${JSON.stringify({
        c,
        rate: rolledBack / runs,
        scrape,
        tick,
        ...shape,
      })}\n`,
    );
  }
  process.stdout.write(
    `worst ${Math.max(...rates)}; above 1 %: ${
      rates.filter(x => x > 0.01).length
    } of ${rates.length}\n`,
  );
}
