import { Config } from '@backstage/config';
import { assertValidPromQL, promQLDurationMs } from './promql';

/** How to authenticate to Prometheus. Never logged, never in an error. @public */
export type PrometheusAuth =
  | { type: 'bearer'; token: string }
  | { type: 'basic'; username: string; password: string };

/** @public */
export interface PrometheusClientOptions {
  /** Base URL, e.g. `http://prometheus.monitoring:9090` (a path prefix is kept). */
  url: string;
  auth?: PrometheusAuth;
  /** Per request; default 10 s. */
  timeoutMs?: number;
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
}

/** Labels and value of one series at one time. @public */
export interface PrometheusSample {
  labels: Record<string, string>;
  /** Unix seconds. */
  time: number;
  value: number;
}

/** One series of a range query. @public */
export interface PrometheusRangeSeries {
  labels: Record<string, string>;
  /** [unix seconds, value] */
  points: Array<[number, number]>;
}

/**
 * One native histogram sample as Prometheus' API gives it: its count, and
 * its buckets as [lower, upper, count] (counts per bucket, not cumulative;
 * a positive bucket holds (lower, upper]).
 *
 * @public
 */
export interface NativeHistogramSample {
  count: number;
  buckets: Array<[number, number, number]>;
}

/** One series of native histogram samples. @public */
export interface PrometheusHistogramSeries {
  labels: Record<string, string>;
  /** [unix seconds, sample] */
  points: Array<[number, NativeHistogramSample]>;
}

/** Base class of everything the client throws. @public */
export class PrometheusError extends Error {
  /** The PromQL, when the error concerns a query (never contains credentials). */
  readonly query?: string;
  constructor(message: string, query?: string) {
    super(message);
    this.name = this.constructor.name;
    this.query = query;
  }
}

/** Prometheus could not be reached, timed out, or answered with a server error. @public */
export class PrometheusUnreachableError extends PrometheusError {}

/** Prometheus refused the query (HTTP 400 / 422) and said why. @public */
export class PrometheusQueryRejectedError extends PrometheusError {
  readonly status: number;
  readonly errorType: string;
  /** Prometheus' own error text. */
  readonly prometheusError: string;
  constructor(
    status: number,
    errorType: string,
    prometheusError: string,
    query: string,
  ) {
    super(
      `Prometheus rejected the query (${status} ${errorType}): ${prometheusError}`,
      query,
    );
    this.status = status;
    this.errorType = errorType;
    this.prometheusError = prometheusError;
  }
}

/** The query ran but returned no series (or only NaN). @public */
export class PrometheusNoDataError extends PrometheusError {
  constructor(query: string) {
    super(`Prometheus returned no data for the query`, query);
  }
}

/**
 * The query returned native histogram samples, which are not numbers. A
 * native histogram (Prometheus' `native-histograms` feature, on by default
 * for scrapes in Prometheus 3 with `scrape_native_histograms`) is stored as
 * one series under the metric's own name, without the `_bucket`, `_count`
 * and `_sum` series of a classic histogram.
 *
 * @public
 */
export class PrometheusNativeHistogramError extends PrometheusError {
  /** The metric names whose samples were native histograms. */
  readonly metrics: string[];
  constructor(metrics: string[], query: string) {
    const names = metrics.length ? metrics.join(', ') : 'a series';
    super(
      `the query returned native histogram samples (${names}), which are not numbers — read them through histogram_count(), histogram_sum() or histogram_quantile()`,
      query,
    );
    this.metrics = metrics;
  }
}

/** Throws PrometheusNativeHistogramError when any series of an answer carries native histogram samples. */
function refuseNativeHistograms(
  result: Array<{ metric?: Record<string, string> } & Record<string, unknown>>,
  query: string,
): void {
  const native = result.filter(
    s => s.histogram !== undefined || s.histograms !== undefined,
  );
  if (native.length === 0) return;
  const names = [
    ...new Set(
      native
        .map(s => s.metric?.__name__)
        .filter((n): n is string => typeof n === 'string'),
    ),
  ].sort();
  throw new PrometheusNativeHistogramError(names, query);
}

/** Prometheus' HTTP API answer envelope. */
interface ApiResponse {
  status: 'success' | 'error';
  errorType?: string;
  error?: string;
  data?: {
    resultType: 'vector' | 'matrix' | 'scalar' | 'string';
    result: unknown;
  };
}

type RawVector = Array<{
  metric: Record<string, string>;
  value: [number, string];
  /** Instead of `value`: a native histogram sample. */
  histogram?: unknown;
}>;
type RawMatrix = Array<{
  metric: Record<string, string>;
  /** Absent when every sample in the window is a native histogram. */
  values?: Array<[number, string]>;
  /** Native histogram samples. */
  histograms?: unknown[];
}>;

type RawHistogramPoint = [
  number,
  {
    count: string;
    sum?: string;
    buckets?: Array<[number, string, string, string]>;
  },
];

function nativeSample(h: RawHistogramPoint[1]): NativeHistogramSample {
  return {
    count: Number(h.count),
    buckets: (h.buckets ?? []).map(
      ([, lower, upper, count]) =>
        [Number(lower), Number(upper), Number(count)] as [
          number,
          number,
          number,
        ],
    ),
  };
}

/**
 * Reads Prometheus over its HTTP API (`/api/v1/query`, `/api/v1/query_range`).
 *
 * Credentials live in a private field and only ever go into request headers:
 * error messages name the Prometheus host without user info, and toString /
 * JSON forms of the client show neither token nor password.
 *
 * @public
 */
export class PrometheusClient {
  readonly #base: URL;
  readonly #authHeader?: string;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;

  /**
   * Reads a Prometheus block: `{ url, timeout?: '10s', auth?: { bearerToken } |
   * { username, password } }`. Credentials in the URL (`http://u:p@host`) are
   * taken as basic auth and removed from the URL.
   */
  static fromConfig(
    config: Config,
    options?: { fetch?: typeof fetch },
  ): PrometheusClient {
    const url = config.getString('url');
    const timeout = config.getOptionalString('timeout');
    const authConfig = config.getOptionalConfig('auth');
    let auth: PrometheusAuth | undefined;
    if (authConfig) {
      const token = authConfig.getOptionalString('bearerToken');
      if (token) {
        auth = { type: 'bearer', token };
      } else {
        auth = {
          type: 'basic',
          username: authConfig.getString('username'),
          password: authConfig.getString('password'),
        };
      }
    }
    return new PrometheusClient({
      url,
      auth,
      timeoutMs: timeout ? promQLDurationMs(timeout) : undefined,
      fetch: options?.fetch,
    });
  }

  constructor(options: PrometheusClientOptions) {
    let base: URL;
    try {
      base = new URL(options.url);
    } catch {
      throw new TypeError('Prometheus url is not a valid URL');
    }
    let auth = options.auth;
    if (base.username || base.password) {
      auth ??= {
        type: 'basic',
        username: decodeURIComponent(base.username),
        password: decodeURIComponent(base.password),
      };
      base.username = '';
      base.password = '';
    }
    if (!base.pathname.endsWith('/')) {
      base.pathname += '/';
    }
    this.#base = base;
    if (auth?.type === 'bearer') {
      this.#authHeader = `Bearer ${auth.token}`;
    } else if (auth?.type === 'basic') {
      this.#authHeader = `Basic ${Buffer.from(
        `${auth.username}:${auth.password}`,
      ).toString('base64')}`;
    }
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#fetch = options.fetch ?? ((...args) => fetch(...args));
  }

  /** Where this client points, without credentials. */
  get url(): string {
    return this.#base.toString();
  }

  toString(): string {
    return `PrometheusClient(${this.url})`;
  }

  toJSON(): object {
    return { url: this.url };
  }

  /** Instant query. Returns every series of a vector (a scalar as one sample without labels). */
  async query(
    promql: string,
    options?: { time?: Date; signal?: AbortSignal },
  ): Promise<PrometheusSample[]> {
    const params = new URLSearchParams({ query: promql });
    if (options?.time) {
      params.set('time', String(options.time.getTime() / 1000));
    }
    const data = await this.#call('api/v1/query', params, promql, options);
    if (data.resultType === 'scalar' || data.resultType === 'string') {
      const [time, value] = data.result as [number, string];
      return [{ labels: {}, time, value: Number(value) }];
    }
    if (data.resultType !== 'vector') {
      throw new PrometheusQueryRejectedError(
        400,
        'bad_data',
        `expected an instant vector or scalar, got ${data.resultType}`,
        promql,
      );
    }
    refuseNativeHistograms(data.result as RawVector, promql);
    return (data.result as RawVector).map(s => ({
      labels: s.metric,
      time: s.value[0],
      value: Number(s.value[1]),
    }));
  }

  /** An instant query of `selector[windowSeconds]`: every sample stored in the window, as stored. */
  async #rawSamples(
    selector: string,
    windowSeconds: number,
    options?: { time?: Date; signal?: AbortSignal },
  ): Promise<{ promql: string; result: RawMatrix }> {
    const seconds = Math.max(1, Math.ceil(windowSeconds));
    const promql = `${selector}[${seconds}s]`;
    const params = new URLSearchParams({ query: promql });
    if (options?.time) {
      params.set('time', String(options.time.getTime() / 1000));
    }
    const data = await this.#call('api/v1/query', params, promql, options);
    if (data.resultType !== 'matrix') {
      throw new PrometheusQueryRejectedError(
        400,
        'bad_data',
        `expected a range vector, got ${data.resultType}`,
        promql,
      );
    }
    return { promql, result: data.result as RawMatrix };
  }

  /**
   * The raw samples Prometheus stored for every series of a selector over
   * the last `windowSeconds` before `time` (an instant query of a range
   * selector: no extrapolation, the real sample times).
   */
  async querySamples(
    selector: string,
    windowSeconds: number,
    options?: { time?: Date; signal?: AbortSignal },
  ): Promise<PrometheusRangeSeries[]> {
    const { promql, result } = await this.#rawSamples(
      selector,
      windowSeconds,
      options,
    );
    refuseNativeHistograms(result, promql);
    return result.map(s => ({
      labels: s.metric,
      points: (s.values ?? []).map(
        ([t, v]) => [t, Number(v)] as [number, number],
      ),
    }));
  }

  /**
   * The raw native histogram samples Prometheus stored for every series of a
   * selector over the last `windowSeconds` before `time` (see
   * querySamples); series of plain numbers are left out.
   */
  async queryHistogramSamples(
    selector: string,
    windowSeconds: number,
    options?: { time?: Date; signal?: AbortSignal },
  ): Promise<PrometheusHistogramSeries[]> {
    const { result } = await this.#rawSamples(selector, windowSeconds, options);
    return result
      .filter(s => Array.isArray(s.histograms) && s.histograms.length > 0)
      .map(s => ({
        labels: s.metric,
        points: (s.histograms as RawHistogramPoint[]).map(
          ([t, h]) => [t, nativeSample(h)] as [number, NativeHistogramSample],
        ),
      }));
  }

  /**
   * Instant query expected to give one number (e.g. `sum(...)`). Throws
   * {@link PrometheusNoDataError} when there is no series or its value is NaN.
   */
  async queryValue(
    promql: string,
    options?: { time?: Date; signal?: AbortSignal },
  ): Promise<number> {
    const samples = await this.query(promql, options);
    const values = samples.map(s => s.value).filter(v => !Number.isNaN(v));
    if (values.length === 0) {
      throw new PrometheusNoDataError(promql);
    }
    if (values.length > 1) {
      throw new PrometheusQueryRejectedError(
        422,
        'bad_data',
        `expected one series, got ${values.length}; aggregate the query (e.g. sum(...))`,
        promql,
      );
    }
    return values[0];
  }

  /** Range query between two times with a step in seconds. */
  async queryRange(
    promql: string,
    start: Date,
    end: Date,
    stepSeconds: number,
    options?: { signal?: AbortSignal },
  ): Promise<PrometheusRangeSeries[]> {
    const params = new URLSearchParams({
      query: promql,
      start: String(start.getTime() / 1000),
      end: String(end.getTime() / 1000),
      step: String(Math.max(1, Math.round(stepSeconds))),
    });
    const data = await this.#call(
      'api/v1/query_range',
      params,
      promql,
      options,
    );
    refuseNativeHistograms(data.result as RawMatrix, promql);
    return (data.result as RawMatrix).map(s => ({
      labels: s.metric,
      points: (s.values ?? []).map(
        ([t, v]) => [t, Number(v)] as [number, number],
      ),
    }));
  }

  async #call(
    path: string,
    params: URLSearchParams,
    promql: string,
    options?: { signal?: AbortSignal },
  ): Promise<NonNullable<ApiResponse['data']>> {
    // Never send what Prometheus would parse differently from us.
    assertValidPromQL(promql);

    const url = new URL(path, this.#base);
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    if (this.#authHeader) {
      headers.authorization = this.#authHeader;
    }
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const signal = options?.signal
      ? AbortSignal.any([timeout, options.signal])
      : timeout;
    const where = `${this.#base.origin}${this.#base.pathname}`;

    let response: Response;
    try {
      response = await this.#fetch(url, {
        method: 'POST',
        headers,
        body: params.toString(),
        signal,
      });
    } catch (error) {
      if (timeout.aborted) {
        throw new PrometheusUnreachableError(
          `Prometheus at ${where} did not answer within ${this.#timeoutMs} ms`,
          promql,
        );
      }
      if (options?.signal?.aborted) {
        throw new PrometheusUnreachableError(
          `request to Prometheus at ${where} was cancelled`,
          promql,
        );
      }
      throw new PrometheusUnreachableError(
        `Prometheus at ${where} is unreachable: ${describeNetworkError(error)}`,
        promql,
      );
    }

    let body: ApiResponse | undefined;
    try {
      body = (await response.json()) as ApiResponse;
    } catch {
      body = undefined;
    }

    if (response.status === 400 || response.status === 422) {
      throw new PrometheusQueryRejectedError(
        response.status,
        body?.errorType ?? 'bad_data',
        body?.error ?? response.statusText,
        promql,
      );
    }
    if (response.status === 401 || response.status === 403) {
      throw new PrometheusUnreachableError(
        `Prometheus at ${where} refused the credentials (HTTP ${response.status})`,
        promql,
      );
    }
    if (!response.ok || !body) {
      const detail = body?.error ? `: ${body.error}` : '';
      throw new PrometheusUnreachableError(
        `Prometheus at ${where} answered HTTP ${response.status}${detail}`,
        promql,
      );
    }
    if (body.status !== 'success' || !body.data) {
      throw new PrometheusQueryRejectedError(
        response.status,
        body.errorType ?? 'unknown',
        body.error ?? 'Prometheus reported an error',
        promql,
      );
    }
    return body.data;
  }
}

function describeNetworkError(error: unknown): string {
  // undici wraps the socket error in `cause`; its code says the most.
  const cause = (error as { cause?: { code?: string; message?: string } })
    ?.cause;
  if (cause?.code) {
    return cause.code;
  }
  if (error instanceof Error) {
    return error.message;
  }
  return String(error);
}
