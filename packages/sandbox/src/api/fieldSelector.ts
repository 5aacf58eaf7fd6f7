import { ResourceType } from './resourceTypes';
import { K8sObject } from './store';
import { badRequest } from './status';

interface FieldRequirement {
  path: string;
  value: string;
  negate: boolean;
}

const COMMON_FIELDS = ['metadata.name', 'metadata.namespace'];
const EXTRA_FIELDS: Record<string, string[]> = {
  Pod: ['status.phase', 'spec.nodeName', 'status.podIP', 'spec.restartPolicy'],
  Namespace: ['status.phase'],
  Service: ['spec.clusterIP', 'spec.type'],
};

/** `?fieldSelector=metadata.name=x,status.phase!=Running`, restricted to the fields the real server indexes. */
export function parseFieldSelector(
  rt: ResourceType,
  input: string,
): FieldRequirement[] {
  const allowed = [...COMMON_FIELDS, ...(EXTRA_FIELDS[rt.kind] ?? [])];
  const out: FieldRequirement[] = [];
  for (const part of input
    .split(',')
    .map(s => s.trim())
    .filter(Boolean)) {
    const m = /^([^=!]+?)\s*(==|=|!=)\s*(.*)$/.exec(part);
    if (!m)
      throw badRequest(
        `invalid selector: '${input}'; can't understand '${part}'`,
      );
    const [, path, op, value] = m;
    if (!allowed.includes(path)) {
      throw badRequest(`field label not supported: ${path}`);
    }
    out.push({ path, value, negate: op === '!=' });
  }
  return out;
}

export function matchesFields(
  reqs: FieldRequirement[],
  obj: K8sObject,
): boolean {
  return reqs.every(r => {
    let cur: any = obj;
    for (const seg of r.path.split('.')) cur = cur?.[seg];
    const actual = cur === undefined || cur === null ? '' : String(cur);
    return r.negate ? actual !== r.value : actual === r.value;
  });
}
