import type { PrometheusRangeSeries } from '../PrometheusClient';
import { BatchedPrometheus, parseSelector } from './BatchedPrometheus';

/** A Prometheus stand-in that answers a selector's equality and regex matchers over fixed series. */
function fakePrometheus(series: PrometheusRangeSeries[]) {
  const queries: Array<{ selector: string; window: number; time?: number }> =
    [];
  const querySamples = jest.fn(
    async (
      selector: string,
      windowSeconds: number,
      options?: { time?: Date },
    ) => {
      queries.push({
        selector,
        window: windowSeconds,
        time: options?.time?.getTime(),
      });
      const parsed = parseSelector(selector)!;
      const time = options!.time!.getTime();
      return series
        .filter(s =>
          parsed.matchers.every(m => {
            const v = s.labels[m.label] ?? '';
            return m.op === '='
              ? v === m.value
              : new RegExp(`^(?:${m.value})$`).test(v);
          }),
        )
        .map(s => ({
          labels: s.labels,
          points: s.points.filter(
            ([t]) =>
              t * 1000 >= time - Math.ceil(windowSeconds) * 1000 &&
              t * 1000 <= time,
          ),
        }))
        .filter(s => s.points.length > 0);
    },
  );
  return {
    queries,
    prometheus: {
      query: jest.fn(),
      queryValue: jest.fn(),
      queryRange: jest.fn(),
      querySamples,
    },
  };
}

const T = 1_700_000_000_000;
const series = ['a', 'b', 'c'].map(w => ({
  labels: { workload: w, code: '200' },
  points: Array.from(
    { length: 10 },
    (_, i) => [T / 1000 - 90 + 10 * i, i] as [number, number],
  ),
}));

describe('BatchedPrometheus', () => {
  it('parses selectors and groups them by everything but equality values', () => {
    const a = parseSelector('m{ns="x",w="a\\"b",code=~"5.."}')!;
    const b = parseSelector('m{w="c",ns="y",code=~"5.."}')!;
    const c = parseSelector('m{ns="x",w="a",code=~"4.."}')!;
    expect(a.matchers).toEqual([
      { label: 'ns', op: '=', value: 'x' },
      { label: 'w', op: '=', value: 'a"b' },
      { label: 'code', op: '=~', value: '5..' },
    ]);
    expect(a.group).toBe(b.group);
    expect(a.group).not.toBe(c.group);
    expect(parseSelector('rate(m[5m])')).toBeUndefined();
    expect(parseSelector("m{w='single'}")).toBeUndefined();
  });

  it('asks for the values of the last slot again, so the next slot costs one query', async () => {
    const { prometheus, queries } = fakePrometheus(series);
    let clock = T;
    const batched = new BatchedPrometheus(
      prometheus,
      { collectMs: 5 },
      () => clock,
    );
    const read = (w: string, at: number, window = 30) =>
      batched.querySamples(`m{workload="${w}"}`, window, {
        time: new Date(at),
      });
    // Slot 1: two readers together, one late.
    await Promise.all([read('a', T), read('b', T)]);
    await read('c', T);
    expect(queries).toHaveLength(2);
    // Slot 2: the first reader's query covers the others, read later.
    clock += 5000;
    const first = await read('a', T + 5000);
    const later = await Promise.all([read('b', T + 5000), read('c', T + 5000)]);
    expect(queries).toHaveLength(3);
    expect(queries[2].selector).toBe('m{workload=~"a|b|c"}');
    // Each reader still gets only its own series.
    expect(first.map(s => s.labels.workload)).toEqual(['a']);
    expect(later.map(r => r.map(s => s.labels.workload))).toEqual([
      ['b'],
      ['c'],
    ]);
    // A reader asking for a longer window than was read gets a query of its own.
    await read('b', T + 5000, 80);
    expect(queries).toHaveLength(4);
    expect(queries[3].window).toBe(80);
  });

  it('forgets values not read for a while', async () => {
    const { prometheus, queries } = fakePrometheus(series);
    let clock = T;
    const batched = new BatchedPrometheus(
      prometheus,
      { collectMs: 5, rememberMs: 60_000 },
      () => clock,
    );
    await batched.querySamples('m{workload="a"}', 30, { time: new Date(T) });
    clock += 120_000;
    await batched.querySamples('m{workload="b"}', 30, {
      time: new Date(clock),
    });
    expect(queries.map(q => q.selector)).toEqual([
      'm{workload="a"}',
      'm{workload="b"}',
    ]);
  });

  it('lets a reader give up without failing the others', async () => {
    const { prometheus } = fakePrometheus(series);
    const batched = new BatchedPrometheus(prometheus, { collectMs: 20 });
    const abort = new AbortController();
    const gaveUp = batched.querySamples('m{workload="a"}', 30, {
      time: new Date(T),
      signal: abort.signal,
    });
    const waited = batched.querySamples('m{workload="b"}', 30, {
      time: new Date(T),
    });
    abort.abort(new Error('pass deadline'));
    await expect(gaveUp).rejects.toThrow('pass deadline');
    expect((await waited).map(s => s.labels.workload)).toEqual(['b']);
  });

  it('passes reads without a fixed time through unbatched', async () => {
    const { prometheus } = fakePrometheus(series);
    const batched = new BatchedPrometheus(prometheus);
    prometheus.querySamples.mockResolvedValueOnce([]);
    await batched.querySamples('m{workload="a"}', 30);
    expect(prometheus.querySamples).toHaveBeenCalledWith(
      'm{workload="a"}',
      30,
      undefined,
    );
  });
});
