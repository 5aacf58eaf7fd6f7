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
    // The late reader's query asks only for what it lacks.
    expect(queries[1].selector).toBe('m{workload="c"}');
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
    // A late reader of the last slot (its pass ran late) still finds its read.
    expect((await read('c', T)).map(s => s.labels.workload)).toEqual(['c']);
    expect(queries).toHaveLength(3);
    // The window read has a margin (rounded up to whole minutes, 30 s more).
    expect(queries.map(q => q.window)).toEqual([60, 60, 60]);
    await read('b', T + 5000, 55);
    expect(queries).toHaveLength(3);
    // A reader asking for a longer window than was read gets a query of its own.
    await read('b', T + 5000, 80);
    expect(queries).toHaveLength(4);
    expect(queries[3].window).toBe(120);
  });

  it('reads first readings (long windows) apart, so the next slots stay short', async () => {
    const { prometheus, queries } = fakePrometheus(series);
    let clock = T;
    const batched = new BatchedPrometheus(
      prometheus,
      { collectMs: 5 },
      () => clock,
    );
    const read = (w: string, at: number, window: number) =>
      batched.querySamples(`m{workload="${w}"}`, window, {
        time: new Date(at),
      });
    // Slot 1: two rollouts under way, one just begun (its first reading looks back 35 minutes).
    const [a, b, c] = await Promise.all([
      read('a', T, 70),
      read('b', T, 70),
      read('c', T, 2100),
    ]);
    expect(queries.map(q => [q.selector, q.window])).toEqual([
      ['m{workload=~"a|b"}', 120],
      ['m{workload="c"}', 2160],
    ]);
    expect([a, b, c].map(r => r.map(s => s.labels.workload))).toEqual([
      ['a'],
      ['b'],
      ['c'],
    ]);
    // Slot 2: all three read a minute or so; the first reader's query
    // covers the others, the one that began in slot 1 too.
    clock += 10_000;
    await read('a', T + 10_000, 75);
    await Promise.all(['b', 'c'].map(w => read(w, T + 10_000, 75)));
    expect(queries.slice(2).map(q => [q.selector, q.window])).toEqual([
      ['m{workload=~"a|b|c"}', 120],
    ]);
  });

  it('sends one query of a group at a time: readers that come meanwhile go together in the next', async () => {
    const { prometheus, queries } = fakePrometheus(series);
    const answer = prometheus.querySamples.getMockImplementation()!;
    let release!: () => void;
    const held = new Promise<void>(r => {
      release = r;
    });
    prometheus.querySamples.mockImplementation(async (...a) => {
      await held;
      return answer(...a);
    });
    const batched = new BatchedPrometheus(prometheus, { collectMs: 5 });
    const read = (w: string) =>
      batched.querySamples(`m{workload="${w}"}`, 30, { time: new Date(T) });
    const first = read('a');
    await new Promise(r => setTimeout(r, 20));
    // Trickling in while the first query is on its way, each later than the collect time.
    const late = [read('b')];
    await new Promise(r => setTimeout(r, 20));
    late.push(read('c'));
    await new Promise(r => setTimeout(r, 20));
    expect(prometheus.querySamples).toHaveBeenCalledTimes(1);
    release();
    expect((await first).map(s => s.labels.workload)).toEqual(['a']);
    expect(
      (await Promise.all(late)).map(r => r.map(s => s.labels.workload)),
    ).toEqual([['b'], ['c']]);
    expect(queries.map(q => q.selector)).toEqual([
      'm{workload="a"}',
      'm{workload=~"b|c"}',
    ]);
  });

  it('gives each reader exactly its own series among many', async () => {
    const many = Array.from({ length: 200 }, (_, i) => ({
      labels: { ns: `n${i % 7}`, workload: `w${i}`, code: '200' },
      points: [[T / 1000 - 5, i] as [number, number]],
    }));
    // One series without the namespace label: a reader asking for ns="" gets it.
    many.push({
      labels: { workload: 'bare', code: '200' } as any,
      points: [[T / 1000 - 5, 1]],
    });
    const { prometheus, queries } = fakePrometheus(many);
    const batched = new BatchedPrometheus(prometheus, { collectMs: 5 });
    const reads = await Promise.all(
      [
        ...many.map(s => [s.labels.ns ?? '', s.labels.workload]),
        ['n1', 'w2'],
      ].map(([ns, w]) =>
        batched.querySamples(`m{ns="${ns}",workload="${w}"}`, 30, {
          time: new Date(T),
        }),
      ),
    );
    expect(queries).toHaveLength(1);
    reads.slice(0, -1).forEach((r, i) => {
      expect(r).toEqual([{ labels: many[i].labels, points: many[i].points }]);
    });
    // w2 is in n2, not n1: nothing.
    expect(reads.at(-1)).toEqual([]);
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
