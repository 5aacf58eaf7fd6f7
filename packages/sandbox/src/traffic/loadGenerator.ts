import { Router } from './router';
import { Random, lognormalLatency } from './random';
import { MeshMetrics } from '../metrics/meshMetrics';
import { behaviourOf, PodBehaviour } from '../workloads/behaviour';
import { K8sObject } from '../api/store';

export interface TrafficSpec {
  service: string;
  namespace?: string;
  /** Requests per second; default 50. */
  rps?: number;
  /** Share of requests carrying the sticky canary header, 0..1; default 0. */
  stickyShare?: number;
  /** The sticky header; default `x-canary-user: true`. */
  stickyHeader?: { name: string; value: string };
}

export interface WorkloadCounters {
  requests: number;
  errors: number;
  version?: string;
}

interface Stream {
  spec: Required<Omit<TrafficSpec, 'stickyHeader'>> & {
    stickyHeader: { name: string; value: string };
  };
  carry: number;
  last: number;
}

/**
 * Generates requests in time buckets (no real HTTP per request): each tick
 * sends rps × elapsed requests through the router, lets the chosen pod's
 * behaviour decide status and latency, and records what the mesh would.
 */
export class LoadGenerator {
  private readonly streams = new Map<string, Stream>();
  private timer?: NodeJS.Timeout;
  private readonly tally = new Map<string, Map<string, WorkloadCounters>>();
  private readonly behaviourByUid = new Map<string, PodBehaviour>();

  constructor(
    private readonly router: Router,
    private readonly metrics: MeshMetrics,
    private readonly random: Random,
    private readonly tickMs = 100,
  ) {}

  private complete(spec: TrafficSpec): Stream['spec'] {
    return {
      namespace: 'default',
      rps: 50,
      stickyShare: 0,
      stickyHeader: { name: 'x-canary-user', value: 'true' },
      ...spec,
    } as Stream['spec'];
  }

  /** Send `count` requests at once (tests that want exact numbers). */
  burst(spec: TrafficSpec, count: number): void {
    const full = this.complete(spec);
    for (let i = 0; i < count; i++) this.send(full);
  }

  start(spec: TrafficSpec): void {
    const full = this.complete(spec);
    this.streams.set(`${full.namespace}/${full.service}`, {
      spec: full,
      carry: 0,
      last: Date.now(),
    });
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.tickMs);
      this.timer.unref?.();
    }
  }

  /** Stop one stream, or all without arguments. */
  stop(spec?: { service: string; namespace?: string }): void {
    if (spec) {
      const key = `${spec.namespace ?? 'default'}/${spec.service}`;
      const stream = this.streams.get(key);
      if (stream) this.advance(stream, Date.now());
      this.streams.delete(key);
    } else {
      this.tick();
      this.streams.clear();
    }
    if (this.streams.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  running(): TrafficSpec[] {
    return [...this.streams.values()].map(s => ({ ...s.spec }));
  }

  /** Requests and errors per destination workload so far, for one namespace (and service). */
  counters(filter: {
    namespace: string;
    service?: string;
  }): Record<string, WorkloadCounters> {
    const out: Record<string, WorkloadCounters> = {};
    for (const [key, byWorkload] of this.tally) {
      const [ns, service] = key.split('/');
      if (
        ns !== filter.namespace ||
        (filter.service && service !== filter.service)
      )
        continue;
      for (const [workload, c] of byWorkload) {
        const o = (out[workload] ??= {
          requests: 0,
          errors: 0,
          version: c.version,
        });
        o.requests += c.requests;
        o.errors += c.errors;
      }
    }
    return out;
  }

  private tick(): void {
    const now = Date.now();
    for (const stream of this.streams.values()) this.advance(stream, now);
  }

  private advance(stream: Stream, now: number) {
    const elapsed = Math.max(0, now - stream.last);
    stream.last = now;
    const exact = (stream.spec.rps * elapsed) / 1000 + stream.carry;
    const n = Math.floor(exact);
    stream.carry = exact - n;
    for (let i = 0; i < n; i++) this.send(stream.spec);
  }

  private behaviour(pod: K8sObject): PodBehaviour {
    let b = this.behaviourByUid.get(pod.metadata.uid);
    if (!b) {
      // Pod uids never repeat; forget them all now and then instead of tracking deletions.
      if (this.behaviourByUid.size > 10_000) this.behaviourByUid.clear();
      b = behaviourOf(pod.spec);
      this.behaviourByUid.set(pod.metadata.uid, b);
    }
    return b;
  }

  private send(spec: Stream['spec']): void {
    const sticky = spec.stickyShare > 0 && this.random() < spec.stickyShare;
    const headers = sticky
      ? { [spec.stickyHeader.name]: spec.stickyHeader.value }
      : {};
    const d = this.router.route(spec.namespace, spec.service, headers);
    let code: number;
    let latencyMs: number;
    let version: string | undefined;
    if (!d.pod) {
      // No healthy upstream: the proxy answers fast with a 503.
      code = 503;
      latencyMs = 0.5 + this.random();
    } else {
      const b = this.behaviour(d.pod);
      code = this.random() < b.errorRate ? 500 : 200;
      latencyMs = lognormalLatency(
        this.random,
        b.latencyMedianMs,
        b.latencyP99Ms,
      );
      version = d.pod.metadata.labels?.version;
    }
    this.metrics.record({
      namespace: spec.namespace,
      service: d.service,
      workload: d.workload,
      pod: d.pod?.metadata.name,
      app: d.pod?.metadata.labels?.app,
      version,
      code,
      latencyMs,
      ingress: d.ingress,
      canaryService: d.canaryService,
    });
    const key = `${spec.namespace}/${spec.service}`;
    let byWorkload = this.tally.get(key);
    if (!byWorkload) {
      byWorkload = new Map();
      this.tally.set(key, byWorkload);
    }
    const workload = d.workload ?? 'unknown';
    let c = byWorkload.get(workload);
    if (!c) {
      c = { requests: 0, errors: 0, version };
      byWorkload.set(workload, c);
    }
    c.requests++;
    if (code >= 500) c.errors++;
  }
}
