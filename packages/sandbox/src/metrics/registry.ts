/**
 * Prometheus counters and histograms in memory, rendered in the text
 * exposition format. Series are created on first use and only ever go up;
 * removing a series (a pod that went away) just stops exporting it.
 */
export type LabelSet = Record<string, string>;

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

export function formatLabels(labels: LabelSet): string {
  const parts = Object.entries(labels).map(
    ([k, v]) => `${k}="${escapeLabelValue(v)}"`,
  );
  return parts.length ? `{${parts.join(',')}}` : '';
}

function formatNumber(n: number): string {
  if (n === Infinity) return '+Inf';
  if (Number.isInteger(n)) return String(n);
  return String(Number(n.toPrecision(15)));
}

export class Counter {
  private readonly series = new Map<
    string,
    { labels: LabelSet; value: number }
  >();
  constructor(readonly name: string, readonly help: string) {}

  inc(labels: LabelSet, by = 1): void {
    const key = formatLabels(labels);
    const s = this.series.get(key);
    if (s) s.value += by;
    else this.series.set(key, { labels: { ...labels }, value: by });
  }

  removeWhere(predicate: (labels: LabelSet) => boolean): void {
    for (const [k, s] of this.series)
      if (predicate(s.labels)) this.series.delete(k);
  }

  render(): string {
    const lines = [
      `# HELP ${this.name} ${this.help}`,
      `# TYPE ${this.name} counter`,
    ];
    for (const s of this.series.values()) {
      lines.push(
        `${this.name}${formatLabels(s.labels)} ${formatNumber(s.value)}`,
      );
    }
    return lines.join('\n');
  }
}

export class Histogram {
  private readonly series = new Map<
    string,
    { labels: LabelSet; counts: number[]; sum: number; count: number }
  >();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: number[],
  ) {}

  observe(labels: LabelSet, value: number): void {
    const key = formatLabels(labels);
    let s = this.series.get(key);
    if (!s) {
      s = {
        labels: { ...labels },
        counts: this.buckets.map(() => 0),
        sum: 0,
        count: 0,
      };
      this.series.set(key, s);
    }
    for (let i = 0; i < this.buckets.length; i++) {
      if (value <= this.buckets[i]) s.counts[i]++;
    }
    s.sum += value;
    s.count++;
  }

  removeWhere(predicate: (labels: LabelSet) => boolean): void {
    for (const [k, s] of this.series)
      if (predicate(s.labels)) this.series.delete(k);
  }

  render(): string {
    const lines = [
      `# HELP ${this.name} ${this.help}`,
      `# TYPE ${this.name} histogram`,
    ];
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => {
        lines.push(
          `${this.name}_bucket${formatLabels({
            ...s.labels,
            le: formatNumber(b),
          })} ${s.counts[i]}`,
        );
      });
      lines.push(
        `${this.name}_bucket${formatLabels({ ...s.labels, le: '+Inf' })} ${
          s.count
        }`,
      );
      lines.push(
        `${this.name}_sum${formatLabels(s.labels)} ${formatNumber(s.sum)}`,
      );
      lines.push(`${this.name}_count${formatLabels(s.labels)} ${s.count}`);
    }
    return lines.join('\n');
  }
}

export class Gauge {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly collect: () => Array<{ labels: LabelSet; value: number }>,
  ) {}

  render(): string {
    const lines = [
      `# HELP ${this.name} ${this.help}`,
      `# TYPE ${this.name} gauge`,
    ];
    for (const s of this.collect()) {
      lines.push(
        `${this.name}${formatLabels(s.labels)} ${formatNumber(s.value)}`,
      );
    }
    return lines.join('\n');
  }
}
