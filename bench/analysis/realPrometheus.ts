import { spawnSync } from 'node:child_process';
import { startPrometheus } from '../../plugins/canary-backend/src/analysis/__testUtils__/startPrometheus';
import { extrapolatedIncrease, SimPrometheus } from './prometheusSim';
import { World } from './world';
import { scenarios } from './run';

/**
 * Checks the simulated Prometheus against the real binary: the samples of a
 * few simulated series (15 s scrapes, random phases, late error series) are
 * backfilled into a TSDB with `promtool tsdb create-blocks-from openmetrics`,
 * a real Prometheus serves them (startPrometheus, as the plugin's tests
 * do), and `increase(x[1m])` and the raw range selector `x[2m]` are
 * compared with the simulation at many query times.
 */

export async function checkAgainstPrometheus(quick: boolean) {
  const has = (bin: string) => spawnSync('which', [bin]).status === 0;
  if (!has('prometheus') || !has('promtool')) {
    throw new Error('prometheus / promtool not installed');
  }
  const sc = scenarios().find(s => s.label.startsWith('2×'))!;
  const world = new World(
    { ...sc, baseline: 0.01, canaryErrorRate: 0.02 },
    4242,
    900,
  );
  const prom = new SimPrometheus(world, 15, 99);
  const base = Math.floor(Date.now() / 1000) - 6 * 3600;
  const ms = (t: number) => Math.round(t * 1000) / 1000;
  const series = prom.series.filter(
    s => s.kind !== 'slow' && s.pod.arm !== 'baseline',
  );
  const lines = ['# TYPE bench_counter counter'];
  for (const s of series) {
    for (const [t, v] of prom.samples(s, -600, 900)) {
      lines.push(
        `bench_counter_total{pod="${s.pod.name}",kind="${s.kind}"} ${v} ${(
          base + ms(t)
        ).toFixed(3)}`,
      );
    }
  }
  lines.push('# EOF');
  const prometheus = await startPrometheus([], {
    openMetrics: `${lines.join('\n')}\n`,
  });
  try {
    const url = prometheus.url;
    const query = async (q: string, time: number): Promise<any[]> => {
      const params = new URLSearchParams({ query: q, time: String(time) });
      const res = await fetch(`${url}/api/v1/query?${params}`);
      const body: any = await res.json();
      if (body.status !== 'success') throw new Error(body.error);
      return body.data.result;
    };
    let maxIncrease = 0;
    let maxRaw = 0;
    let queries = 0;
    const step = quick ? 97 : 23;
    for (let t = 20.5; t < 880; t += step) {
      for (const s of series) {
        const sel = `bench_counter_total{pod="${s.pod.name}",kind="${s.kind}"}`;
        const at = base + ms(t);
        const inc = await query(`increase(${sel}[1m])`, at);
        const points = prom
          .samples(s, t - 60, t)
          .map(([pt, v]) => [ms(pt), v] as [number, number]);
        const expected = extrapolatedIncrease(points, ms(t) - 60, ms(t));
        const got = inc.length ? Number(inc[0].value[1]) : undefined;
        if ((expected === undefined) !== (got === undefined)) {
          maxIncrease = Infinity;
        } else if (expected !== undefined && got !== undefined) {
          maxIncrease = Math.max(maxIncrease, Math.abs(expected - got));
        }
        const raw = await query(`${sel}[2m]`, at);
        const rawPoints: Array<[number, number]> = raw.length
          ? raw[0].values.map(([pt, v]: [number, string]) => [
              pt - base,
              Number(v),
            ])
          : [];
        const simRaw = prom
          .samples(s, t - 120, t)
          .map(([pt, v]) => [ms(pt), v]);
        if (rawPoints.length !== simRaw.length) maxRaw = Infinity;
        else
          rawPoints.forEach(([pt, v], i) => {
            maxRaw = Math.max(
              maxRaw,
              Math.abs(v - simRaw[i][1]),
              Math.abs(pt - simRaw[i][0]),
            );
          });
        queries += 2;
      }
    }
    return {
      prometheus:
        spawnSync('prometheus', ['--version'], {
          encoding: 'utf8',
        }).stderr.split('\n')[0] ||
        spawnSync('prometheus', ['--version'], {
          encoding: 'utf8',
        }).stdout.split('\n')[0],
      series: series.length,
      queries,
      maxIncreaseDifference: maxIncrease,
      maxRawDifference: maxRaw,
    };
  } finally {
    await prometheus.stop();
  }
}
