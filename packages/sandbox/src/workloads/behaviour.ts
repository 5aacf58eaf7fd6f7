/**
 * How a simulated pod behaves, read from its pod template the way a faulty
 * canary would be described: env vars on the first container, or — because
 * rollouts are often started by image alone — markers in the image tag.
 */
export interface PodBehaviour {
  /** Share of requests answered with a 5xx, 0..1. */
  errorRate: number;
  /** Median latency, ms. */
  latencyMedianMs: number;
  /** 99th percentile latency, ms. */
  latencyP99Ms: number;
  /** Never becomes ready; restarts climb; CrashLoopBackOff. */
  crashLoop: boolean;
  /** Ready between restarts that end with OOMKilled. */
  oom: boolean;
}

export const HEALTHY: PodBehaviour = {
  errorRate: 0.002,
  latencyMedianMs: 40,
  latencyP99Ms: 120,
  crashLoop: false,
  oom: false,
};

function imageTag(image: string | undefined): string {
  if (!image) return '';
  const withoutDigest = image.split('@')[0];
  const lastSlash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.indexOf(':', lastSlash + 1);
  return colon >= 0 ? withoutDigest.slice(colon + 1).toLowerCase() : '';
}

function number(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

export function behaviourOf(podSpec: any): PodBehaviour {
  const container = podSpec?.containers?.[0] ?? {};
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    if (e?.name && typeof e.value === 'string') env[e.name] = e.value;
  }
  const b: PodBehaviour = { ...HEALTHY };

  const tag = imageTag(container.image);
  const errors = /errors?(\d+(?:\.\d+)?)/.exec(tag);
  if (errors) b.errorRate = Math.min(1, Number(errors[1]) / 100);
  const slow = /slow(\d+(?:\.\d+)?)/.exec(tag);
  if (slow) {
    const factor = 1 + Number(slow[1]) / 100;
    b.latencyMedianMs *= factor;
    b.latencyP99Ms *= factor;
  }
  if (/crash/.test(tag)) b.crashLoop = true;
  if (/oom/.test(tag)) b.oom = true;

  const errorRate = number(env.SIM_ERROR_RATE);
  if (errorRate !== undefined)
    b.errorRate = Math.min(1, Math.max(0, errorRate));
  const median = number(env.SIM_LATENCY_MS);
  const p99 = number(env.SIM_LATENCY_P99_MS);
  if (median !== undefined) {
    // Keep the tail's shape when only the median is given.
    const ratio = b.latencyP99Ms / b.latencyMedianMs;
    b.latencyMedianMs = Math.max(0.1, median);
    if (p99 === undefined) b.latencyP99Ms = b.latencyMedianMs * ratio;
  }
  if (p99 !== undefined) b.latencyP99Ms = Math.max(b.latencyMedianMs, p99);
  if (env.SIM_CRASH_LOOP !== undefined)
    b.crashLoop = env.SIM_CRASH_LOOP.toLowerCase() === 'true';
  if (env.SIM_OOM !== undefined) b.oom = env.SIM_OOM.toLowerCase() === 'true';
  return b;
}
