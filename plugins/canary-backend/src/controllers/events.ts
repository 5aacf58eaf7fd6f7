import type { RolloutEvent } from '@coalmine/backstage-plugin-canary-common';
import type { ClusterApis } from '../kubernetes/ClusterClients';
import { callCluster } from '../kubernetes/errors';
import type { CustomObject } from './kinds';

function when(v: unknown): string | undefined {
  if (v instanceof Date) return v.toISOString();
  return typeof v === 'string' ? v : undefined;
}

/**
 * The Kubernetes Events about one object (by uid), oldest first, as
 * timeline events. Read from the namespace's event list and filtered here:
 * field selectors on `involvedObject.uid` are not served by every API server.
 */
export async function objectEvents(
  apis: ClusterApis,
  object: CustomObject,
  rolloutId: string,
  also: CustomObject[] = [],
): Promise<RolloutEvent[]> {
  const namespace = object.metadata.namespace ?? 'default';
  const list = await callCluster(
    { kind: 'Event', namespace, verb: 'list' },
    () => apis.core.listNamespacedEvent({ namespace }),
  );
  const uids = new Set(
    [object, ...also].map(o => o.metadata.uid).filter(Boolean) as string[],
  );
  const items = (list.items ?? []).filter(e =>
    uids.has(e.involvedObject?.uid ?? ''),
  );
  const events = items.map(e => {
    const time =
      when(e.lastTimestamp) ??
      when(e.eventTime) ??
      when(e.firstTimestamp) ??
      when(e.metadata?.creationTimestamp) ??
      new Date(0).toISOString();
    return {
      time,
      type: e.type === 'Warning' ? 'cluster-warning' : 'cluster-event',
      message: `${e.reason ? `${e.reason}: ` : ''}${e.message ?? ''}`,
      actor: e.reportingComponent || e.source?.component || 'kubernetes',
      data: {
        reason: e.reason,
        count: e.count,
        involvedObject: `${e.involvedObject?.kind}/${e.involvedObject?.name}`,
      },
    };
  });
  events.sort((a, b) => a.time.localeCompare(b.time));
  return events.map((e, i) => ({ id: i + 1, rolloutId, ...e }));
}
