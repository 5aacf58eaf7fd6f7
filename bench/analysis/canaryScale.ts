/*
 * What sizing the canary by the weight (the engine's `canaryScale: weight`)
 * buys the analysis: robustness scenario 39 — ten stable pods, each pod
 * (the canary's too) slow and failing half its requests for 5 s about every
 * 20 minutes, 10 → 50 % at 200 s steps, 30 requests/s — run with one canary
 * pod throughout (`fixed`, a one-pod canary) and with ⌈weight × 10⌉ pods,
 * each started 5 s before its step's weight (`weight`), for healthy
 * canaries and for a canary failing 20 × the baseline (2 % against 0.1 %).
 * Coalmine's default policy, exact counters and Prometheus at 15 s and 30 s.
 * Writes bench/results/canary-scale.json.
 *
 *   ./dev bench analysis --canary-scale
 *   BENCH_RUNS=<n>   # runs per case and path (default 200; then writes nothing)
 */
import fs from 'node:fs';
import path from 'node:path';
import { coalmine, Path } from './methods';
import { SimPrometheus } from './prometheusSim';
import { ROBUSTNESS_SCENARIOS } from './robustness';
import { Scenario, STABLE_PODS, World } from './world';

const HORIZON = 1800;
const RUNS = 200;
const PATHS = [
  ['exact', 1],
  ['prometheus-15s', 15],
  ['prometheus-30s', 30],
] as const;

/** The scenario with the canary pods the engine would run: ⌈w × stable pods⌉, each 5 s before its step. */
export function sizedByWeight(sc: Scenario): Scenario {
  const stablePods = sc.stablePods ?? STABLE_PODS;
  const from: number[] = [];
  sc.weights.forEach((weight, step) => {
    const wanted = Math.ceil((weight * stablePods) / 100);
    while (from.length < wanted) {
      from.push(Math.max(0, step * sc.stepSeconds - 5));
    }
  });
  return { ...sc, canaryPodsFrom: from };
}

export function runCanaryScale(root: string) {
  const started = Date.now();
  const runs = Number(process.env.BENCH_RUNS) || RUNS;
  const base = ROBUSTNESS_SCENARIOS.find(s =>
    s.label.startsWith('one canary pod at 10 → 50 % beside ten stable pods'),
  );
  if (!base) throw new Error('robustness scenario 39 not found');
  const method = coalmine();
  const cases = [
    { canary: 'healthy', scenario: base },
    {
      canary: 'failing 20 × the baseline',
      scenario: {
        ...base,
        group: 'errors' as const,
        canaryErrorRate: base.baseline * 20,
      },
    },
  ].flatMap(c => [
    { ...c, canaryScale: 'fixed' },
    { ...c, canaryScale: 'weight', scenario: sizedByWeight(c.scenario) },
  ]);
  const results = cases.map(c => {
    const paths: Record<
      string,
      { rolledBack: number; meanBadRequests: number }
    > = {};
    for (const [id, interval] of PATHS) {
      let rolledBack = 0;
      let bad = 0;
      for (let run = 0; run < runs; run++) {
        const seed = 77_001 * 41 + run * 131;
        const world = new World(c.scenario, seed, HORIZON);
        const p: Path =
          id === 'exact'
            ? { id, prom: new SimPrometheus(world, 1, seed, true) }
            : { id, prom: new SimPrometheus(world, interval, seed + 5) };
        const outcome = method.run(world, p);
        if (outcome.rollbackAt !== null) rolledBack++;
        // A promoted regression serves bad requests to the horizon.
        bad += world.badRequests(outcome.rollbackAt ?? HORIZON);
      }
      paths[id] = {
        rolledBack: rolledBack / runs,
        meanBadRequests: Math.round((bad / runs) * 10) / 10,
      };
    }
    const row = {
      canary: c.canary,
      canaryScale: c.canaryScale,
      canaryPodsFrom: c.scenario.canaryPodsFrom ?? [0],
      runs,
      paths,
    };
    process.stdout.write(`${JSON.stringify(row)}\n`);
    return row;
  });
  const output = {
    generatedBy: 'bench/analysis/canaryScale.ts',
    scenario: base.label,
    results,
    seconds: (Date.now() - started) / 1000,
  };
  if (runs === RUNS) {
    fs.mkdirSync(path.join(root, 'results'), { recursive: true });
    fs.writeFileSync(
      path.join(root, 'results', 'canary-scale.json'),
      `${JSON.stringify(output, null, 1)}\n`,
    );
  }
  process.stdout.write(`${output.seconds.toFixed(0)} s\n`);
}
