/*
 * Prometheus' protobuf exposition format (io.prometheus.client.MetricFamily,
 * length-delimited), the only format in which Prometheus 2 scrapes native
 * histograms. Just what the tests need: counters, and histograms carrying
 * both native (exponential) buckets and classic ones, written by hand from
 * the field numbers of prometheus/client_model's metrics.proto.
 */

/** The content type a scraper asks for with `Accept` and gets back. */
export const PROTOBUF_CONTENT_TYPE =
  'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited';

class Writer {
  readonly bytes: number[] = [];

  varint(n: number): this {
    let v = Math.floor(n);
    if (v < 0) throw new RangeError('varint of a negative number');
    while (v >= 0x80) {
      this.bytes.push(v % 0x80 | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.bytes.push(v);
    return this;
  }

  key(field: number, wire: 0 | 1 | 2): this {
    return this.varint(field * 8 + wire);
  }

  uint(field: number, n: number): this {
    return this.key(field, 0).varint(n);
  }

  sint(field: number, n: number): this {
    return this.key(field, 0).varint(zigzag(n));
  }

  double(field: number, d: number): this {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(d);
    this.key(field, 1);
    this.bytes.push(...b);
    return this;
  }

  bytesField(field: number, data: number[]): this {
    this.key(field, 2).varint(data.length);
    this.bytes.push(...data);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytesField(field, [...Buffer.from(s, 'utf8')]);
  }

  message(field: number, m: Writer): this {
    return this.bytesField(field, m.bytes);
  }
}

function zigzag(n: number): number {
  return n >= 0 ? 2 * n : -2 * n - 1;
}

/** One histogram's state: every observation's value, kept as counts per native bucket and per classic bound. */
export class HistogramState {
  count = 0;
  sum = 0;
  /** Native bucket index → observations (bucket i holds (base^(i−1), base^i]). */
  readonly native = new Map<number, number>();
  /** Classic bound → cumulative observations at or below it. */
  readonly classic: Map<number, number>;

  constructor(readonly schema: number, classicBounds: number[]) {
    this.classic = new Map(classicBounds.map(b => [b, 0]));
  }

  observe(value: number): void {
    this.count++;
    this.sum += value;
    const index = Math.ceil(Math.log2(value) * 2 ** this.schema);
    this.native.set(index, (this.native.get(index) ?? 0) + 1);
    for (const [bound, n] of this.classic)
      if (value <= bound) this.classic.set(bound, n + 1);
  }
}

export type ExposedMetric =
  | {
      type: 'counter';
      name: string;
      series: Array<{ labels: Record<string, string>; value: number }>;
    }
  | {
      type: 'histogram';
      name: string;
      series: Array<{ labels: Record<string, string>; value: HistogramState }>;
    };

function labelPairs(m: Writer, labels: Record<string, string>): void {
  for (const [name, value] of Object.entries(labels))
    m.message(1, new Writer().string(1, name).string(2, value));
}

function histogramMessage(h: HistogramState): Writer {
  const w = new Writer().uint(1, h.count).double(2, h.sum);
  for (const [bound, n] of [...h.classic].sort(([a], [b]) => a - b))
    w.message(3, new Writer().uint(1, n).double(2, bound));
  // The Go client's default zero threshold: with it (and spans) the
  // histogram is a native one.
  w.sint(5, h.schema)
    .double(6, 2 ** -128)
    .uint(7, 0);
  const indexes = [...h.native.keys()].sort((a, b) => a - b);
  if (indexes.length > 0) {
    const first = indexes[0];
    const length = indexes[indexes.length - 1] - first + 1;
    w.message(12, new Writer().sint(1, first).uint(2, length));
    const deltas = new Writer();
    let previous = 0;
    for (let i = first; i < first + length; i++) {
      const n = h.native.get(i) ?? 0;
      deltas.varint(zigzag(n - previous));
      previous = n;
    }
    w.bytesField(13, deltas.bytes);
  }
  return w;
}

/** The metric families, length-delimited, as a protobuf scrape answers. */
export function encodeMetricFamilies(families: ExposedMetric[]): Uint8Array {
  const out = new Writer();
  for (const family of families) {
    const f = new Writer()
      .string(1, family.name)
      .uint(3, family.type === 'counter' ? 0 : 4);
    for (const s of family.series) {
      const m = new Writer();
      labelPairs(m, s.labels);
      if (family.type === 'counter')
        m.message(3, new Writer().double(1, s.value as number));
      else m.message(7, histogramMessage(s.value as HistogramState));
      f.message(4, m);
    }
    out.varint(f.bytes.length);
    out.bytes.push(...f.bytes);
  }
  return Uint8Array.from(out.bytes);
}

/** The same families in the text format (classic buckets only, as Prometheus reads text). */
export function renderText(families: ExposedMetric[]): string {
  const lines: string[] = [];
  const text = (labels: Record<string, string>, extra?: [string, string]) =>
    `{${[...Object.entries(labels), ...(extra ? [extra] : [])]
      .map(([k, v]) => `${k}="${v}"`)
      .join(',')}}`;
  for (const family of families) {
    lines.push(`# TYPE ${family.name} ${family.type}`);
    for (const s of family.series) {
      if (family.type === 'counter') {
        lines.push(`${family.name}${text(s.labels)} ${s.value}`);
        continue;
      }
      const h = s.value as HistogramState;
      for (const [bound, n] of [...h.classic].sort(([a], [b]) => a - b))
        lines.push(
          `${family.name}_bucket${text(s.labels, ['le', String(bound)])} ${n}`,
        );
      lines.push(
        `${family.name}_bucket${text(s.labels, ['le', '+Inf'])} ${h.count}`,
        `${family.name}_sum${text(s.labels)} ${h.sum}`,
        `${family.name}_count${text(s.labels)} ${h.count}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
