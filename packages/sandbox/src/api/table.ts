import { ResourceType } from './resourceTypes';
import { K8sObject } from './store';

/** Server-side printing (`Accept: ...;as=Table`), which kubectl get uses. */

interface Column {
  name: string;
  type: string;
  format?: string;
  description: string;
  priority: number;
  cell: (o: K8sObject) => string | number;
}

export function age(timestamp: string | undefined, now = Date.now()): string {
  if (!timestamp) return '<unknown>';
  const s = Math.max(0, Math.floor((now - Date.parse(timestamp)) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

const nameColumn: Column = {
  name: 'Name',
  type: 'string',
  format: 'name',
  description: 'Name must be unique within a namespace.',
  priority: 0,
  cell: o => o.metadata.name,
};

const ageColumn: Column = {
  name: 'Age',
  type: 'string',
  description:
    'CreationTimestamp is a timestamp representing the server time when this object was created.',
  priority: 0,
  cell: o => age(o.metadata.creationTimestamp),
};

function col(
  name: string,
  cell: Column['cell'],
  priority = 0,
  type = 'string',
): Column {
  return { name, type, description: name, priority, cell };
}

function podStatus(pod: K8sObject): string {
  const waiting = (pod.status?.containerStatuses ?? []).find(
    (c: K8sObject) =>
      c.state?.waiting?.reason &&
      c.state.waiting.reason !== 'ContainerCreating',
  );
  if (waiting) return waiting.state.waiting.reason;
  if (pod.metadata.deletionTimestamp) return 'Terminating';
  const creating = (pod.status?.containerStatuses ?? []).find(
    (c: K8sObject) => c.state?.waiting?.reason === 'ContainerCreating',
  );
  if (creating) return 'ContainerCreating';
  return pod.status?.phase ?? 'Pending';
}

function columnsFor(rt: ResourceType): Column[] {
  switch (rt.kind) {
    case 'Deployment':
      return [
        nameColumn,
        col(
          'Ready',
          o => `${o.status?.readyReplicas ?? 0}/${o.spec?.replicas ?? 0}`,
        ),
        col('Up-to-date', o => o.status?.updatedReplicas ?? 0, 0, 'integer'),
        col('Available', o => o.status?.availableReplicas ?? 0, 0, 'integer'),
        ageColumn,
        col(
          'Containers',
          o =>
            (o.spec?.template?.spec?.containers ?? [])
              .map((c: K8sObject) => c.name)
              .join(','),
          1,
        ),
        col(
          'Images',
          o =>
            (o.spec?.template?.spec?.containers ?? [])
              .map((c: K8sObject) => c.image)
              .join(','),
          1,
        ),
        col(
          'Selector',
          o =>
            Object.entries(o.spec?.selector?.matchLabels ?? {})
              .map(([k, v]) => `${k}=${v}`)
              .join(','),
          1,
        ),
      ];
    case 'HorizontalPodAutoscaler':
      // The stand-in reads no metrics, as a real HPA whose metrics server
      // does not answer: each target shows <unknown>.
      return [
        nameColumn,
        col(
          'Reference',
          o =>
            `${o.spec?.scaleTargetRef?.kind ?? ''}/${
              o.spec?.scaleTargetRef?.name ?? ''
            }`,
        ),
        col(
          'Targets',
          o =>
            (o.spec?.metrics ?? [])
              .map((m: K8sObject) => {
                const target = m.resource?.target ?? {};
                const goal =
                  target.averageUtilization !== undefined
                    ? `${target.averageUtilization}%`
                    : target.averageValue ?? target.value ?? '';
                return `${m.resource?.name ?? m.type}: <unknown>/${goal}`;
              })
              .join(', ') || '<none>',
        ),
        col('MinPods', o => o.spec?.minReplicas ?? 1, 0, 'integer'),
        col('MaxPods', o => o.spec?.maxReplicas ?? 0, 0, 'integer'),
        col('Replicas', o => o.status?.currentReplicas ?? 0, 0, 'integer'),
        ageColumn,
      ];
    case 'ReplicaSet':
      return [
        nameColumn,
        col('Desired', o => o.spec?.replicas ?? 0, 0, 'integer'),
        col('Current', o => o.status?.replicas ?? 0, 0, 'integer'),
        col('Ready', o => o.status?.readyReplicas ?? 0, 0, 'integer'),
        ageColumn,
      ];
    case 'Pod':
      return [
        nameColumn,
        col('Ready', o => {
          const cs = o.status?.containerStatuses ?? [];
          const total = o.spec?.containers?.length ?? cs.length;
          return `${cs.filter((c: K8sObject) => c.ready).length}/${total}`;
        }),
        col('Status', podStatus),
        col(
          'Restarts',
          o =>
            (o.status?.containerStatuses ?? []).reduce(
              (n: number, c: K8sObject) => n + (c.restartCount ?? 0),
              0,
            ),
          0,
          'string',
        ),
        ageColumn,
        col('IP', o => o.status?.podIP ?? '<none>', 1),
        col('Node', o => o.spec?.nodeName ?? '<none>', 1),
      ];
    case 'Service':
      return [
        nameColumn,
        col('Type', o => o.spec?.type ?? 'ClusterIP'),
        col('Cluster-IP', o => o.spec?.clusterIP ?? '<none>'),
        col('External-IP', () => '<none>'),
        col(
          'Port(s)',
          o =>
            (o.spec?.ports ?? [])
              .map((p: K8sObject) => `${p.port}/${p.protocol ?? 'TCP'}`)
              .join(',') || '<none>',
        ),
        ageColumn,
        col(
          'Selector',
          o =>
            Object.entries(o.spec?.selector ?? {})
              .map(([k, v]) => `${k}=${v}`)
              .join(',') || '<none>',
          1,
        ),
      ];
    case 'Namespace':
      return [
        nameColumn,
        col('Status', o => o.status?.phase ?? 'Active'),
        ageColumn,
      ];
    case 'ConfigMap':
      return [
        nameColumn,
        col('Data', o => Object.keys(o.data ?? {}).length, 0, 'integer'),
        ageColumn,
      ];
    case 'VirtualService':
      return [
        nameColumn,
        col('Gateways', o => JSON.stringify(o.spec?.gateways ?? [])),
        col('Hosts', o => JSON.stringify(o.spec?.hosts ?? [])),
        ageColumn,
      ];
    case 'DestinationRule':
      return [nameColumn, col('Host', o => o.spec?.host ?? ''), ageColumn];
    case 'HTTPRoute':
      return [
        nameColumn,
        col('Hostnames', o => JSON.stringify(o.spec?.hostnames ?? [])),
        ageColumn,
      ];
    case 'Ingress':
      return [
        nameColumn,
        col('Class', o => o.spec?.ingressClassName ?? '<none>'),
        col(
          'Hosts',
          o =>
            (o.spec?.rules ?? [])
              .map((r: K8sObject) => r.host ?? '*')
              .join(',') || '*',
        ),
        col('Address', () => ''),
        col('Ports', () => '80'),
        ageColumn,
      ];
    default:
      return [nameColumn, ageColumn];
  }
}

function partialMetadata(o: K8sObject) {
  return {
    kind: 'PartialObjectMetadata',
    apiVersion: 'meta.k8s.io/v1',
    metadata: o.metadata,
  };
}

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export function toTable(
  rt: ResourceType,
  objects: K8sObject[],
  resourceVersion: string,
  include: IncludeObject,
  withColumns = true,
) {
  const columns = columnsFor(rt);
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion },
    ...(withColumns
      ? { columnDefinitions: columns.map(({ cell, ...c }) => c) }
      : { columnDefinitions: [] }),
    rows: objects.map(o => ({
      cells: columns.map(c => c.cell(o)),
      ...(include === 'None'
        ? {}
        : { object: include === 'Object' ? o : partialMetadata(o) }),
    })),
  };
}
