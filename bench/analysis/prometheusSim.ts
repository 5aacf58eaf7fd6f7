import { Random } from '../../plugins/canary-backend/src/analysis/__testUtils__/random';
import { HISTORY, Pod, World } from './world';

/**
 * A simulated Prometheus scraping a World: every series (pod × counter) is
 * scraped every `interval` seconds (the canary's every
 * Scenario.canaryScrapeSeconds when set) at its own random phase; a series exists
 * from the first scrape after its first event (an error series appears with
 * the first error, as Istio's and client libraries' labelled counters do).
 * Queries follow Prometheus 2.x: a range selector holds the samples with
 * start ≤ t ≤ end; rate / increase are `extrapolatedRate` of
 * promql/functions.go (counter-reset correction, extrapolation to the range
 * edges when the first / last sample is within 1.1 average intervals of it,
 * else half an interval, and never below a counter's zero point); irate is
 * the last two samples. Scenario.missedScrapes and Scenario.scrapeOutages
 * leave samples out.
 */

export type Kind = 'requests' | 'errors' | 'slow';

export interface SimSeries {
  pod: Pod;
  kind: Kind;
  /** The scrape job (Scenario.scrapedTwice: two per pod). */
  job: string;
  phase: number;
  /** Its scrape interval (s). */
  every: number;
  /** Time of the first sample (the first scrape after the first event), or Infinity. */
  birth: number;
}

export class SimPrometheus {
  readonly interval: number;
  readonly world: World;
  readonly series: SimSeries[] = [];

  readonly #missed: number;
  readonly #missSeed: number;
  readonly #exact: boolean;
  /** Scrape outages [from, to) (Scenario.scrapeOutages). */
  readonly #outages: Array<[number, number]> = [];

  /** `exact`: every series read every second at whole seconds (the counters themselves). */
  constructor(world: World, interval: number, seed: number, exact = false) {
    this.world = world;
    this.interval = interval;
    const random = new Random(seed);
    this.#missed = exact ? 0 : world.scenario.missedScrapes ?? 0;
    this.#missSeed = seed;
    this.#exact = exact;
    const outages = exact ? undefined : world.scenario.scrapeOutages;
    if (outages) {
      const draw = new Random(seed ^ 0x5eed0);
      let t = 0;
      for (;;) {
        t += -Math.log(1 - draw.next()) * outages.every;
        if (t >= world.horizon) break;
        this.#outages.push([t, t + outages.seconds]);
        t += outages.seconds;
      }
    }
    for (const pod of world.pods) {
      const perPod = !exact && world.scenario.phasePerPod;
      const podPhase = perPod ? random.next() * interval : 0;
      const own =
        !exact && pod.arm === 'canary'
          ? world.scenario.canaryScrapeSeconds
          : undefined;
      const jobs = !exact && world.scenario.scrapedTwice ? 2 : 1;
      for (let job = 0; job < jobs; job++) {
        // A second job scrapes the pod at its own phase.
        const jobPhase = job === 0 ? podPhase : random.next() * interval;
        for (const kind of ['requests', 'errors', 'slow'] as const) {
          let phase = 0;
          if (perPod) phase = jobPhase;
          else if (!exact) phase = random.next() * interval;
          if (own) phase = (phase / interval) * own;
          const every = own ?? interval;
          this.series.push({
            pod,
            kind,
            job: job === 0 ? 'pods' : 'service-monitor',
            phase,
            every,
            birth: this.#birth(pod, kind, phase, every),
          });
        }
      }
    }
  }

  #birth(pod: Pod, kind: Kind, phase: number, every: number): number {
    const counter = pod[kind];
    let first = -1;
    for (let i = 1; i < counter.length; i++) {
      if (counter[i] > 0) {
        first = i - 1 - HISTORY; // the event happened during second i-1-HISTORY
        break;
      }
    }
    if (first < -HISTORY) return Infinity;
    // the first scrape strictly after the event's second
    const k = Math.floor((first + 1 - phase) / every);
    let t = phase + k * every;
    while (t < first + 1) t += every;
    return t;
  }

  /** Sample times of a series in [from, to]. */
  times(s: SimSeries, from: number, to: number): number[] {
    const start = Math.max(from, s.birth, -HISTORY);
    // A deleted pod is scraped no more (Scenario.stablePodsUntil).
    if (s.pod.until !== undefined) to = Math.min(to, s.pod.until);
    if (start > to) return [];
    let t = s.phase + Math.ceil((start - s.phase) / s.every) * s.every;
    const out: number[] = [];
    for (; t <= to; t += s.every) out.push(t);
    return out;
  }

  /**
   * Raw samples [t, value] of a series in [from, to] (failed scrapes left
   * out) that the store has at `readAt` (a query for an earlier time asked
   * later, behind a lag: Scenario.visibilityLag).
   */
  samples(
    s: SimSeries,
    from: number,
    to: number,
    readAt = to,
  ): Array<[number, number]> {
    const series = this.series.indexOf(s);
    const arm = this.world.scenario.scrapeOutages?.arm;
    const outages = !arm || arm === s.pod.arm ? this.#outages : [];
    return this.times(s, from, to)
      .filter(t => !this.#scrapeFailed(series, t))
      .filter(t => !outages.some(([a, b]) => t >= a && t < b))
      .filter(t => this.#readableAt(s, series, t) <= readAt)
      .map(t => [t, this.world.reading(s.pod, s.kind, t)]);
  }

  /**
   * `max(timestamp(…))` of the given series at `readAt`: the newest sample
   * the store has of any of them within Prometheus' 5-minute lookback;
   * undefined when none.
   */
  newestSample(series: SimSeries[], readAt: number): number | undefined {
    let newest: number | undefined;
    for (const s of series) {
      const points = this.samples(s, readAt - 300, readAt);
      if (points.length)
        newest = Math.max(newest ?? -Infinity, points[points.length - 1][0]);
    }
    return newest;
  }

  /**
   * When a sample scraped at t can be read (Scenario.visibilityLag): t plus
   * the lag of its series and minute, and not before any earlier sample of
   * the series (a series is written in order); with batches, the end of its
   * batch. t itself without a lag.
   */
  #readableAt(s: SimSeries, series: number, t: number): number {
    const lag = this.#exact ? undefined : this.world.scenario.visibilityLag;
    if (!lag) return t;
    // In batches: readable when the batch that holds it is sent.
    if (lag.batchSeconds)
      return Math.ceil((t + 0.001) / lag.batchSeconds) * lag.batchSeconds;
    const [min, max] =
      s.pod.arm === 'canary' && lag.canarySeconds
        ? lag.canarySeconds
        : lag.seconds;
    let readable = t;
    // Only samples within `max` before t can be readable after it.
    for (let u = t; u >= t - max; u -= s.every) {
      readable = Math.max(
        readable,
        u + min + (max - min) * this.#draw(series, Math.floor(u / 60)),
      );
    }
    return readable;
  }

  /** A fixed draw in [0, 1) per series and minute. */
  #draw(series: number, minute: number): number {
    return this.#mix(
      Math.imul(series + 1, 0x27d4eb2f) ^
        Math.imul(minute + 100_000, 0x165667b1),
    );
  }

  /** Whether the scrape of a series at time t failed: a fixed draw per (series, scrape), so every query sees the same gaps. */
  #scrapeFailed(series: number, t: number): boolean {
    if (this.#missed <= 0) return false;
    return (
      this.#mix(
        Math.imul(series + 1, 0x9e3779b1) ^
          Math.imul(Math.round(t * 1000), 0x85ebca6b),
      ) < this.#missed
    );
  }

  /** A key mixed with the run's seed into a fixed draw in [0, 1). */
  #mix(key: number): number {
    let h = (key ^ this.#missSeed) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
    h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
    return h / 4294967296;
  }

  select(arm: Pod['arm'], kind: Kind): SimSeries[] {
    return this.series.filter(s => s.pod.arm === arm && s.kind === kind);
  }

  /** sum(increase(<arm kind>[range])) at time t, asked at `readAt`; NaN when no series has two samples. */
  increase(
    arm: Pod['arm'],
    kind: Kind,
    t: number,
    range: number,
    readAt = t,
  ): number {
    let sum = 0;
    let any = false;
    for (const s of this.select(arm, kind)) {
      const v = extrapolatedIncrease(
        this.samples(s, t - range, t, readAt),
        t - range,
        t,
      );
      if (v !== undefined) {
        sum += v;
        any = true;
      }
    }
    return any ? sum : NaN;
  }

  /** sum(irate(<arm kind>[range])) · 1 s at time t (per-second rate from the last two samples). */
  irate(arm: Pod['arm'], kind: Kind, t: number, range: number): number {
    let sum = 0;
    let any = false;
    for (const s of this.select(arm, kind)) {
      const points = this.samples(s, t - range, t);
      if (points.length < 2) continue;
      const [t1, v1] = points[points.length - 2];
      const [t2, v2] = points[points.length - 1];
      sum += (v2 >= v1 ? v2 - v1 : v2) / (t2 - t1);
      any = true;
    }
    return any ? sum : NaN;
  }
}

/** Prometheus' extrapolatedRate for a counter, as increase (not divided by the range). */
export function extrapolatedIncrease(
  points: Array<[number, number]>,
  rangeStart: number,
  rangeEnd: number,
): number | undefined {
  if (points.length < 2) return undefined;
  let result = points[points.length - 1][1] - points[0][1];
  let last = 0;
  for (const [, v] of points) {
    if (v < last) result += last;
    last = v;
  }
  const firstT = points[0][0];
  const lastT = points[points.length - 1][0];
  let durationToStart = firstT - rangeStart;
  const durationToEnd = rangeEnd - lastT;
  const sampled = lastT - firstT;
  const average = sampled / (points.length - 1);
  if (result > 0 && points[0][1] >= 0) {
    const durationToZero = sampled * (points[0][1] / result);
    if (durationToZero < durationToStart) durationToStart = durationToZero;
  }
  const threshold = average * 1.1;
  let extrapolateTo = sampled;
  extrapolateTo += durationToStart < threshold ? durationToStart : average / 2;
  extrapolateTo += durationToEnd < threshold ? durationToEnd : average / 2;
  return result * (extrapolateTo / sampled);
}
