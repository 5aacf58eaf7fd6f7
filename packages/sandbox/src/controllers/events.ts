import { randomBytes } from 'node:crypto';
import { K8sObject, ObjectStore } from '../api/store';
import { RESOURCE_TYPES } from '../api/resourceTypes';

const EVENT = RESOURCE_TYPES.find(t => t.kind === 'Event')!;

/**
 * Records a core/v1 Event about an object, the way controllers do through
 * their event recorders: involvedObject, reason, message, type, source,
 * counts and timestamps. The same reason and message again bump `count`.
 */
export function recordEvent(
  store: ObjectStore,
  component: string,
  about: K8sObject,
  type: 'Normal' | 'Warning',
  reason: string,
  message: string,
): void {
  const ns = about.metadata.namespace;
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const existing = store
    .list(EVENT, ns)
    .find(
      e =>
        e.involvedObject?.uid === about.metadata.uid &&
        e.reason === reason &&
        e.message === message,
    );
  try {
    if (existing) {
      store.update(EVENT, ns, existing.metadata.name, {
        ...existing,
        count: (existing.count ?? 1) + 1,
        lastTimestamp: now,
      });
      return;
    }
    store.create(EVENT, ns, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: {
        name: `${about.metadata.name}.${randomBytes(8).toString('hex')}`,
        namespace: ns,
      },
      involvedObject: {
        apiVersion: about.apiVersion,
        kind: about.kind,
        name: about.metadata.name,
        namespace: ns,
        uid: about.metadata.uid,
        resourceVersion: about.metadata.resourceVersion,
      },
      reason,
      message,
      type,
      source: { component },
      reportingComponent: component,
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
    });
  } catch {
    // Events are best effort, as in a real cluster.
  }
}

/** `1m`, `30s`, `1h`, `500ms` or a number of seconds → milliseconds; undefined when unreadable. */
export function durationMs(value: unknown): number | undefined {
  if (typeof value === 'number') return value * 1000;
  if (typeof value !== 'string') return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!;
}

export function timestamp(ms = Date.now()): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}
