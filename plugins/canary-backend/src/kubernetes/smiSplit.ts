/**
 * Pure functions over SMI TrafficSplits: `spec.backends` weights of the
 * stable and canary Services behind the root Service `spec.service`.
 */
import { clone, TrafficSplitObject } from './objects';
import { BackendPair } from './gatewayRoutes';

/** v1alpha1 wrote weights as quantities (`900m`); later versions as integers. */
export function parseSmiWeight(weight: number | string | undefined): number {
  if (typeof weight === 'number') return weight;
  if (!weight) return 0;
  const milli = /^(\d+(?:\.\d+)?)m$/.exec(weight);
  if (milli) return Number(milli[1]) / 1000;
  const n = Number(weight);
  return Number.isFinite(n) ? n : 0;
}

export function readTrafficSplit(
  split: TrafficSplitObject,
  backends: BackendPair,
): { canaryWeight: number; headerRoute: boolean } {
  const list = split.spec.backends ?? [];
  const total = list.reduce((s, b) => s + parseSmiWeight(b.weight), 0);
  const canary = list
    .filter(b => b.service === backends.canary)
    .reduce((s, b) => s + parseSmiWeight(b.weight), 0);
  return {
    canaryWeight:
      total > 0 ? Math.round(((canary * 100) / total) * 100) / 100 : 0,
    headerRoute: false,
  };
}

export function applyTrafficSplit(
  split: TrafficSplitObject,
  backends: BackendPair,
  canaryWeight: number,
): TrafficSplitObject {
  const next = clone(split);
  const canary = Math.min(100, Math.max(0, Math.round(canaryWeight)));
  const list = next.spec.backends ?? [];
  const asText = list.some(b => typeof b.weight === 'string');
  const weight = (w: number) => (asText ? String(w) : w);
  const others = list.filter(
    b => b.service !== backends.stable && b.service !== backends.canary,
  );
  next.spec.backends = [
    {
      ...(list.find(b => b.service === backends.stable) ?? {}),
      service: backends.stable,
      weight: weight(100 - canary),
    },
    {
      ...(list.find(b => b.service === backends.canary) ?? {}),
      service: backends.canary,
      weight: weight(canary),
    },
    // Other backends keep their entries but get no traffic: the split is between two.
    ...others.map(b => ({ ...b, weight: weight(0) })),
  ];
  return next;
}
