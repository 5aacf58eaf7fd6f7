import type { PrometheusQuerier } from '../Analyzer';
import type {
  PrometheusHistogramSeries,
  PrometheusRangeSeries,
  PrometheusSample,
} from '../PrometheusClient';
import { escapePromQLString, escapeRegex } from '../promql';
import { raceSignal } from '../../domain/passScope';

/** One label matcher of a selector, its value unescaped. */
interface Matcher {
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

interface ParsedSelector {
  metric: string;
  matchers: Matcher[];
  /** Same for every selector that may share a query: metric, labels, operators and the values of non-equality matchers. */
  group: string;
}

const NAME = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
const LABEL = /[a-zA-Z_][a-zA-Z0-9_]*/y;
const OP = /\s*(=~|!~|!=|=)\s*/y;
const STRING = /"(?:[^"\\]|\\.)*"/y;

function sticky(re: RegExp, text: string, at: number): string | undefined {
  re.lastIndex = at;
  const m = re.exec(text);
  return m ? m[0] : undefined;
}

/**
 * `metric{a="x",b=~"y"}` into its parts; undefined for anything else (such
 * selectors are read on their own, never batched).
 */
export function parseSelector(selector: string): ParsedSelector | undefined {
  const text = selector.trim();
  let i = 0;
  const metric = sticky(NAME, text, i) ?? '';
  i += metric.length;
  const matchers: Matcher[] = [];
  if (i < text.length) {
    if (text[i] !== '{' || !text.endsWith('}')) return undefined;
    i++;
    const end = text.length - 1;
    while (i < end) {
      while (text[i] === ' ' || text[i] === ',') i++;
      if (i >= end) break;
      const label = sticky(LABEL, text, i);
      if (!label) return undefined;
      i += label.length;
      OP.lastIndex = i;
      const op = OP.exec(text);
      if (!op) return undefined;
      i += op[0].length;
      const quoted = sticky(STRING, text, i);
      if (!quoted) return undefined;
      i += quoted.length;
      let value: string;
      try {
        // PromQL's double-quoted strings use Go's escapes; the ones a
        // template renders (\\, \", \n, \t, \uXXXX) read the same as JSON.
        value = JSON.parse(quoted);
      } catch {
        return undefined;
      }
      matchers.push({ label, op: op[1] as Matcher['op'], value });
      while (text[i] === ' ') i++;
      if (i < end && text[i] !== ',') return undefined;
    }
  }
  if (!metric && matchers.length === 0) return undefined;
  const labels = new Set<string>();
  for (const m of matchers) {
    // A label matched twice cannot be widened to one alternation safely.
    if (m.op === '=' && labels.has(m.label)) return undefined;
    labels.add(m.label);
  }
  const group = [
    metric,
    ...[...matchers]
      .sort((a, b) =>
        a.label === b.label
          ? a.op.localeCompare(b.op)
          : a.label.localeCompare(b.label),
      )
      .map(m =>
        m.op === '='
          ? `${m.label}=`
          : `${m.label}${m.op}${JSON.stringify(m.value)}`,
      ),
  ].join('\u0000');
  return { metric, matchers, group };
}

/** The values of a selector's equality matchers, by label. */
function equalities(p: ParsedSelector): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of p.matchers) if (m.op === '=') out[m.label] = m.value;
  return out;
}

interface Read {
  values: Record<string, string>;
  windowSeconds: number;
  resolve(series: PrometheusRangeSeries[]): void;
  reject(error: unknown): void;
}

interface Fetched {
  /** Values each equality label had in the query. */
  covered: Map<string, Set<string>>;
  windowSeconds: number;
  /** The answer's series by their equality labels' values: each reader finds its own without a scan. */
  result: Promise<Map<string, PrometheusRangeSeries[]>>;
}

/**
 * Windows longer than this (a gate's first reading, which looks back half
 * an hour before the start) are read in queries of their own, so the
 * readers of the next slots, which ask for a minute or two, do not read
 * hours of samples for every workload because one rollout just began.
 */
const LONG_WINDOW_SECONDS = 600;

/** The window a counter reading asks for once it has read before (CounterReader: at least a minute). */
const SHORT_WINDOW_SECONDS = 60;

interface Group {
  parsed: ParsedSelector;
  /** Evaluation time (ms) of the reads below. */
  time: number;
  pending: Read[];
  timer?: NodeJS.Timeout;
  /** A query of this group is on its way: later readers wait for it, then go together. */
  inFlight: boolean;
  fetched: Fetched[];
  /** Equality values seen recently, with when: the next time's query asks for them too. */
  recent: Map<
    string,
    {
      values: Record<string, string>;
      at: number;
      windowSeconds: number;
      /** Asked for only in the queries of later times (a first reading's values). */
      after?: number;
    }
  >;
}

/** Options of {@link BatchedPrometheus}. @public */
export interface BatchedPrometheusOptions {
  /** How long the first read of a batch waits for others to join; default 20 ms. */
  collectMs?: number;
  /**
   * How long the matcher values of a read are remembered and asked for in
   * the next query of its group, so reads of the next time slot that come
   * spread over seconds find their series already read. Default 2 minutes.
   */
  rememberMs?: number;
}

/**
 * Raw-sample reads of many rollouts in one query per metric and time.
 *
 * Every rollout's gate reads its own counters (`querySamples`) with a
 * selector that differs from the other rollouts' only in the values of
 * equality matchers (namespace, workload). Reads at the same evaluation time
 * whose selectors differ only that way share one query: each such label
 * becomes a regular-expression alternation of the values (escaped for the
 * regular expression and for the PromQL string), the window is the largest
 * asked for, and each reader gets back exactly the series and samples its own
 * query would have returned — series whose labels equal its values, samples
 * within its own window. The values read recently are asked for again in the
 * next time's query, so the rollouts of one engine tick cost one query per
 * metric, however many there are.
 *
 * Everything else (instant and range queries) passes through unchanged.
 *
 * @public
 */
export class BatchedPrometheus implements PrometheusQuerier {
  private readonly groups = new Map<string, Group>();
  /** Recently read values per selector group, shared by its times. */
  private readonly recent = new Map<string, Group['recent']>();
  /** The times kept per selector group, oldest first. */
  private readonly times = new Map<string, string[]>();
  private readonly collectMs: number;
  private readonly rememberMs: number;

  constructor(
    private readonly inner: PrometheusQuerier & {
      querySamples: NonNullable<PrometheusQuerier['querySamples']>;
    },
    options: BatchedPrometheusOptions = {},
    private readonly clock: () => number = Date.now,
  ) {
    this.collectMs = options.collectMs ?? 20;
    this.rememberMs = options.rememberMs ?? 120_000;
  }

  query(
    promql: string,
    options?: { time?: Date; signal?: AbortSignal },
  ): Promise<PrometheusSample[]> {
    return this.inner.query(promql, options);
  }

  queryValue(
    promql: string,
    options?: { time?: Date; signal?: AbortSignal },
  ): Promise<number> {
    return this.inner.queryValue(promql, options);
  }

  queryRange(
    promql: string,
    start: Date,
    end: Date,
    stepSeconds: number,
    options?: { signal?: AbortSignal },
  ) {
    return this.inner.queryRange(promql, start, end, stepSeconds, options);
  }

  /** Not batched: read once per gate and tick, only for native histograms. */
  queryHistogramSamples(
    selector: string,
    windowSeconds: number,
    options?: { time?: Date; signal?: AbortSignal },
  ): Promise<PrometheusHistogramSeries[]> {
    if (!this.inner.queryHistogramSamples)
      return Promise.reject(
        new Error('this Prometheus client cannot read native histograms'),
      );
    return this.inner.queryHistogramSamples(selector, windowSeconds, options);
  }

  querySamples(
    selector: string,
    windowSeconds: number,
    options?: { time?: Date; signal?: AbortSignal },
  ): Promise<PrometheusRangeSeries[]> {
    const parsed = parseSelector(selector);
    if (!parsed || !options?.time) {
      // Without a fixed time, reads of "now" are never the same time.
      return this.inner.querySamples(selector, windowSeconds, options);
    }
    const time = options.time.getTime();
    const window = Math.max(1, Math.ceil(windowSeconds));
    const values = equalities(parsed);
    const long = window > LONG_WINDOW_SECONDS;
    const group = this.group(parsed, time, long);
    const read = new Promise<PrometheusRangeSeries[]>((resolve, reject) => {
      // A long window is a first reading: the next reading of these values
      // asks for a minute or so, with the short readers of its slot.
      if (long) {
        this.remember(
          this.recentOf(parsed.group),
          values,
          SHORT_WINDOW_SECONDS,
          time,
        );
      } else {
        this.remember(group.recent, values, window);
      }
      const fetched = group.fetched.find(
        f =>
          f.windowSeconds >= window &&
          Object.entries(values).every(([l, v]) => f.covered.get(l)?.has(v)),
      );
      if (fetched) {
        fetched.result.then(
          index => resolve(select(index, group.parsed, values, time, window)),
          reject,
        );
        return;
      }
      group.pending.push({ values, windowSeconds: window, resolve, reject });
      group.timer ??= setTimeout(() => this.flush(group), this.collectMs);
    });
    // The caller's abort rejects its read; the shared query goes on for the others.
    return raceSignal(read, options.signal);
  }

  private group(parsed: ParsedSelector, time: number, long: boolean): Group {
    // Readers of two slots interleave (a pass of the last slot runs late):
    // each time keeps its own reads, and the last few times are kept.
    // Long windows (first readings) go in groups of their own.
    const kind = long ? `${parsed.group}\u0002long` : parsed.group;
    const key = `${kind}\u0001${time}`;
    let group = this.groups.get(key);
    if (!group) {
      const recent = this.recentOf(kind);
      group = {
        parsed,
        time,
        pending: [],
        inFlight: false,
        fetched: [],
        recent,
      };
      this.groups.set(key, group);
      const times = this.times.get(kind) ?? [];
      times.push(key);
      while (times.length > 3) {
        const oldKey = times.shift()!;
        const old = this.groups.get(oldKey);
        if (old && old.pending.length > 0) this.flush(old);
        this.groups.delete(oldKey);
      }
      this.times.set(kind, times);
    }
    return group;
  }

  private recentOf(kind: string): Group['recent'] {
    let recent = this.recent.get(kind);
    if (!recent) this.recent.set(kind, (recent = new Map()));
    return recent;
  }

  private remember(
    recent: Group['recent'],
    values: Record<string, string>,
    window: number,
    after?: number,
  ) {
    const now = this.clock();
    const key = JSON.stringify(values);
    // Re-inserted, so the map stays ordered by last use and expiry stops early.
    recent.delete(key);
    recent.set(key, { values, at: now, windowSeconds: window, after });
    for (const [k, r] of recent) {
      if (now - r.at <= this.rememberMs) break;
      recent.delete(k);
    }
  }

  private flush(group: Group) {
    if (group.timer) clearTimeout(group.timer);
    group.timer = undefined;
    // One query of a group at a time: the readers that come while one is on
    // its way (passes spread over the loop, first readings trickling in)
    // go together in the next, however many they are.
    if (group.inFlight) return;
    const reads = group.pending;
    group.pending = [];
    if (reads.length === 0) return;
    const covered = new Map<string, Set<string>>();
    const add = (values: Record<string, string>) => {
      for (const [l, v] of Object.entries(values)) {
        let set = covered.get(l);
        if (!set) covered.set(l, (set = new Set()));
        set.add(v);
      }
    };
    // The first query of a time also asks for the values read recently
    // (the rest of this slot's readers, most likely); a later one, for a
    // reader that came after it, asks only for what its readers lack.
    const alsoRecent =
      group.fetched.length === 0
        ? [...group.recent.values()].filter(
            r => r.after === undefined || r.after < group.time,
          )
        : [];
    for (const r of reads) add(r.values);
    for (const r of alsoRecent) add(r.values);
    let windowSeconds = 0;
    for (const r of [...reads, ...alsoRecent]) {
      windowSeconds = Math.max(windowSeconds, r.windowSeconds);
    }
    // A reader's window grows a little from one slot to the next: read a
    // margin more, so the later readers of this slot still find theirs here.
    windowSeconds = Math.ceil((windowSeconds + 30) / 60) * 60;
    const time = group.time;
    const result = this.inner
      .querySamples(widened(group.parsed, covered), windowSeconds, {
        time: new Date(time),
      })
      .then(series => indexed(group.parsed, series));
    const fetched: Fetched = { covered, windowSeconds, result };
    group.inFlight = true;
    group.fetched.push(fetched);
    // Keep only the last few queries of this time (the newest cover the most).
    if (group.fetched.length > 4) group.fetched.shift();
    result
      .catch(() => undefined)
      .then(() => {
        group.inFlight = false;
        if (group.pending.length > 0) this.flush(group);
      });
    result.then(
      index => {
        for (const r of reads) {
          r.resolve(
            select(index, group.parsed, r.values, time, r.windowSeconds),
          );
        }
      },
      error => {
        // A failed query is not kept: the next read asks again.
        group.fetched = group.fetched.filter(f => f !== fetched);
        for (const r of reads) r.reject(error);
      },
    );
  }
}

/** The selector with each equality label matching any of the values. */
function widened(
  parsed: ParsedSelector,
  covered: Map<string, Set<string>>,
): string {
  const parts = parsed.matchers.map(m => {
    if (m.op !== '=')
      return `${m.label}${m.op}"${escapePromQLString(m.value)}"`;
    // The group's first selector gave the matcher; the values are the readers'.
    const values = [...(covered.get(m.label) ?? [m.value])].sort();
    if (values.length === 1) {
      return `${m.label}="${escapePromQLString(values[0])}"`;
    }
    const alternation = values.map(escapeRegex).join('|');
    return `${m.label}=~"${escapePromQLString(alternation)}"`;
  });
  return `${parsed.metric}{${parts.join(',')}}`;
}

/** The key of a series or a reader: the values of the selector's equality labels, in its order. */
function keyOf(parsed: ParsedSelector, get: (label: string) => string): string {
  return parsed.matchers
    .filter(m => m.op === '=')
    .map(m => get(m.label))
    .join('\u0000');
}

/** The series of an answer by their key (a missing label is the empty string, as in PromQL). */
function indexed(
  parsed: ParsedSelector,
  series: PrometheusRangeSeries[],
): Map<string, PrometheusRangeSeries[]> {
  const index = new Map<string, PrometheusRangeSeries[]>();
  for (const s of series) {
    const key = keyOf(parsed, l => s.labels[l] ?? '');
    const list = index.get(key);
    if (list) list.push(s);
    else index.set(key, [s]);
  }
  return index;
}

/**
 * What a read of its own would have returned: the series whose labels equal
 * the read's values, and of those the samples within the read's window
 * ending at `time` (a range selector includes both ends); series left
 * without samples are dropped.
 */
function select(
  index: Map<string, PrometheusRangeSeries[]>,
  parsed: ParsedSelector,
  values: Record<string, string>,
  time: number,
  windowSeconds: number,
): PrometheusRangeSeries[] {
  const from = time - windowSeconds * 1000;
  const out: PrometheusRangeSeries[] = [];
  for (const s of index.get(keyOf(parsed, l => values[l] ?? '')) ?? []) {
    const points = s.points.filter(([t]) => Math.round(t * 1000) >= from);
    if (points.length > 0) out.push({ labels: s.labels, points });
  }
  return out;
}
