import { FieldCause } from './status';
import { ResourceType } from './resourceTypes';
import { matchesSelectorObject } from './labelSelector';
import { sortKeys, withoutEmpty } from './patch';

type Obj = Record<string, any>;

const DNS_SUBDOMAIN =
  /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** How each kind's name is validated: pattern, maximum length, message. */
const NAME_RULES: Record<string, [RegExp, number, string]> = {
  Service: [
    DNS_1035_LABEL,
    63,
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
  ],
  Namespace: [
    DNS_LABEL,
    63,
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
  ],
  default: [
    DNS_SUBDOMAIN,
    253,
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
  ],
};

/** Field errors for an object about to be stored, as the real validation names them. */
export function validate(rt: ResourceType, obj: Obj): FieldCause[] {
  const causes: FieldCause[] = [];
  const name: string | undefined = obj.metadata?.name;
  if (!name) {
    causes.push({
      field: 'metadata.name',
      reason: 'FieldValueRequired',
      message: 'Required value: name or generateName is required',
    });
  } else {
    const [pattern, max, what] = NAME_RULES[rt.kind] ?? NAME_RULES.default;
    if (!pattern.test(name) || name.length > max) {
      causes.push({
        field: 'metadata.name',
        reason: 'FieldValueInvalid',
        message: `Invalid value: "${name}": ${what}`,
      });
    }
  }
  for (const [k, v] of Object.entries(obj.metadata?.labels ?? {})) {
    if (typeof v !== 'string') {
      causes.push({
        field: `metadata.labels`,
        reason: 'FieldValueInvalid',
        message: `Invalid value: "${k}": label values must be strings`,
      });
    }
  }
  if (rt.kind === 'Deployment' || rt.kind === 'ReplicaSet') {
    const spec = obj.spec ?? {};
    if (!spec.selector) {
      causes.push({
        field: 'spec.selector',
        reason: 'FieldValueRequired',
        message: 'Required value',
      });
    } else if (
      !matchesSelectorObject(spec.selector, spec.template?.metadata?.labels)
    ) {
      causes.push({
        field: 'spec.template.metadata.labels',
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${JSON.stringify(
          spec.template?.metadata?.labels ?? {},
        )}: \`selector\` does not match template \`labels\``,
      });
    }
    if (
      spec.replicas !== undefined &&
      (!Number.isInteger(spec.replicas) || spec.replicas < 0)
    ) {
      causes.push({
        field: 'spec.replicas',
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${JSON.stringify(
          spec.replicas,
        )}: must be greater than or equal to 0`,
      });
    }
    causes.push(...validatePodSpec(spec.template?.spec, 'spec.template.spec'));
  }
  if (rt.kind === 'Pod') causes.push(...validatePodSpec(obj.spec, 'spec'));
  return causes;
}

function validatePodSpec(spec: Obj | undefined, path: string): FieldCause[] {
  const containers = spec?.containers;
  if (!Array.isArray(containers) || containers.length === 0) {
    return [
      {
        field: `${path}.containers`,
        reason: 'FieldValueRequired',
        message: 'Required value',
      },
    ];
  }
  const causes: FieldCause[] = [];
  containers.forEach((c: Obj, i: number) => {
    if (!c?.name) {
      causes.push({
        field: `${path}.containers[${i}].name`,
        reason: 'FieldValueRequired',
        message: 'Required value',
      });
    }
    if (!c?.image) {
      causes.push({
        field: `${path}.containers[${i}].image`,
        reason: 'FieldValueRequired',
        message: 'Required value',
      });
    }
  });
  return causes;
}

let nextClusterIp = 10;

function defaultPodSpec(spec: Obj | undefined): void {
  for (const c of spec?.containers ?? []) {
    for (const p of c?.ports ?? []) p.protocol ??= 'TCP';
    c.imagePullPolicy ??= String(c.image ?? '').endsWith(':latest')
      ? 'Always'
      : 'IfNotPresent';
  }
  if (spec) spec.restartPolicy ??= 'Always';
}

/**
 * The revision annotation the deployment controller keeps on a Deployment,
 * bumped with every new pod template. Stamping it in the same write (rather
 * than in a later controller write) keeps `kubectl rollout undo` working
 * without adding writes that would race the clients' updates.
 */
function stampRevision(obj: Obj, old?: Obj): void {
  const key = 'deployment.kubernetes.io/revision';
  const previous = Number(old?.metadata?.annotations?.[key] ?? 0);
  const changed =
    !old ||
    JSON.stringify(sortKeys(withoutEmpty(old.spec?.template) ?? {})) !==
      JSON.stringify(sortKeys(withoutEmpty(obj.spec?.template) ?? {}));
  const revision = changed ? previous + 1 : Math.max(previous, 1);
  obj.metadata.annotations = {
    ...(obj.metadata.annotations ?? {}),
    [key]: String(revision),
  };
}

/** Fill in what the real API server defaults, so reads look familiar. */
export function applyDefaults(rt: ResourceType, obj: Obj, old?: Obj): void {
  if (rt.kind === 'Deployment' || rt.kind === 'ReplicaSet') {
    defaultPodSpec(obj.spec?.template?.spec);
  }
  if (rt.kind === 'Deployment') stampRevision(obj, old);
  if (rt.kind === 'Pod') defaultPodSpec(obj.spec);
  if (rt.kind === 'Deployment') {
    const spec = (obj.spec ??= {});
    spec.replicas ??= 1;
    spec.strategy ??= {
      type: 'RollingUpdate',
      rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' },
    };
    spec.revisionHistoryLimit ??= 10;
    spec.progressDeadlineSeconds ??= 600;
  }
  if (rt.kind === 'ReplicaSet') obj.spec.replicas ??= 1;
  if (rt.kind === 'Service') {
    const spec = (obj.spec ??= {});
    spec.type ??= 'ClusterIP';
    spec.sessionAffinity ??= 'None';
    if (!spec.clusterIP) {
      spec.clusterIP =
        old?.spec?.clusterIP ??
        `10.96.${Math.floor(nextClusterIp / 250)}.${
          (nextClusterIp++ % 250) + 1
        }`;
    }
    spec.clusterIPs ??= [spec.clusterIP];
    for (const p of spec.ports ?? []) {
      p.protocol ??= 'TCP';
      p.targetPort ??= p.port;
    }
  }
  if (rt.kind === 'Namespace') {
    obj.metadata.labels = {
      ...(obj.metadata.labels ?? {}),
      'kubernetes.io/metadata.name': obj.metadata.name,
    };
    obj.spec ??= { finalizers: ['kubernetes'] };
    obj.status ??= { phase: 'Active' };
  }
  if (rt.kind === 'Pod') {
    obj.status ??= { phase: 'Pending' };
  }
}
