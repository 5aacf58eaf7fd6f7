/**
 * The three patch formats of the Kubernetes API: JSON merge patch (RFC 7386),
 * JSON patch (RFC 6902) and a strategic merge patch subset (lists of named
 * things merged by their key, `$patch` and `$setElementOrder` directives).
 */

type Json = any;

export class PatchApplyError extends Error {}

function isObject(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function clone<T>(v: T): T {
  return v === undefined ? v : JSON.parse(JSON.stringify(v));
}

export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const result: Record<string, Json> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete result[k];
    else result[k] = mergePatch(result[k], v);
  }
  return result;
}

function unescapePointer(segment: string): string {
  return segment.replace(/~1/g, '/').replace(/~0/g, '~');
}

function parsePointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) {
    throw new PatchApplyError(`invalid JSON pointer: "${path}"`);
  }
  return path.slice(1).split('/').map(unescapePointer);
}

function resolveParent(doc: Json, path: string): { parent: Json; key: string } {
  const segments = parsePointer(path);
  if (segments.length === 0) {
    throw new PatchApplyError(`cannot operate on the document root`);
  }
  let cur = doc;
  for (const seg of segments.slice(0, -1)) {
    if (Array.isArray(cur)) {
      const i = Number(seg);
      if (!Number.isInteger(i) || i < 0 || i >= cur.length) {
        throw new PatchApplyError(
          `doc is missing path: "${path}": missing value`,
        );
      }
      cur = cur[i];
    } else if (isObject(cur) && seg in cur) {
      cur = cur[seg];
    } else {
      throw new PatchApplyError(
        `doc is missing path: "${path}": missing value`,
      );
    }
  }
  return { parent: cur, key: segments[segments.length - 1] };
}

function getAt(doc: Json, path: string): Json {
  let cur = doc;
  for (const seg of parsePointer(path)) {
    if (Array.isArray(cur)) {
      const i = Number(seg);
      if (!Number.isInteger(i) || i < 0 || i >= cur.length) {
        throw new PatchApplyError(
          `doc is missing path: "${path}": missing value`,
        );
      }
      cur = cur[i];
    } else if (isObject(cur) && seg in cur) {
      cur = cur[seg];
    } else {
      throw new PatchApplyError(
        `doc is missing path: "${path}": missing value`,
      );
    }
  }
  return cur;
}

function arrayIndex(
  arr: Json[],
  key: string,
  forAdd: boolean,
  op: string,
): number {
  if (forAdd && key === '-') return arr.length;
  const i = Number(key);
  const max = forAdd ? arr.length : arr.length - 1;
  if (!/^\d+$/.test(key) || i > max) {
    throw new PatchApplyError(`Unable to ${op}: index out of bounds: ${key}`);
  }
  return i;
}

function removeAt(doc: Json, path: string, op: string): Json {
  const { parent, key } = resolveParent(doc, path);
  if (Array.isArray(parent)) {
    const i = arrayIndex(parent, key, false, op);
    return parent.splice(i, 1)[0];
  }
  if (!isObject(parent) || !(key in parent)) {
    throw new PatchApplyError(
      `jsonpatch ${op} operation does not apply: doc is missing path: "${path}"`,
    );
  }
  const value = parent[key];
  delete parent[key];
  return value;
}

function addAt(doc: Json, path: string, value: Json, replace: boolean): void {
  const op = replace ? 'replace' : 'add';
  const { parent, key } = resolveParent(doc, path);
  if (Array.isArray(parent)) {
    const i = arrayIndex(parent, key, !replace, op);
    if (replace) parent[i] = value;
    else parent.splice(i, 0, value);
    return;
  }
  if (!isObject(parent)) {
    throw new PatchApplyError(
      `jsonpatch ${op} operation does not apply: doc is missing path: "${path}"`,
    );
  }
  if (replace && !(key in parent)) {
    throw new PatchApplyError(
      `jsonpatch replace operation does not apply: doc is missing key: ${path}: missing value`,
    );
  }
  parent[key] = value;
}

function deepEqual(a: Json, b: Json): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}

export function sortKeys(v: Json): Json {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (isObject(v)) {
    const out: Record<string, Json> = {};
    for (const k of Object.keys(v).sort()) out[k] = sortKeys(v[k]);
    return out;
  }
  return v;
}

/** Validates the shape of a JSON patch document; throws on malformed input (a 400). */
export function validateJsonPatch(
  patch: Json,
): asserts patch is Array<Record<string, Json>> {
  if (!Array.isArray(patch)) {
    throw new TypeError('json patch must be an array of operations');
  }
  for (const op of patch) {
    if (
      !isObject(op) ||
      typeof op.op !== 'string' ||
      typeof op.path !== 'string'
    ) {
      throw new TypeError('each json patch operation needs "op" and "path"');
    }
    if (!['add', 'remove', 'replace', 'move', 'copy', 'test'].includes(op.op)) {
      throw new TypeError(`Unexpected kind: ${op.op}`);
    }
    if (['add', 'replace', 'test'].includes(op.op) && !('value' in op)) {
      throw new TypeError(`missing value for ${op.op} operation`);
    }
    if (['move', 'copy'].includes(op.op) && typeof op.from !== 'string') {
      throw new TypeError(`missing from for ${op.op} operation`);
    }
  }
}

export function jsonPatch(
  target: Json,
  patch: Array<Record<string, Json>>,
): Json {
  const doc = clone(target);
  for (const op of patch) {
    switch (op.op) {
      case 'add':
        addAt(doc, op.path, clone(op.value), false);
        break;
      case 'replace':
        addAt(doc, op.path, clone(op.value), true);
        break;
      case 'remove':
        removeAt(doc, op.path, 'remove');
        break;
      case 'move': {
        const value = removeAt(doc, op.from, 'move');
        addAt(doc, op.path, value, false);
        break;
      }
      case 'copy':
        addAt(doc, op.path, clone(getAt(doc, op.from)), false);
        break;
      case 'test':
        if (!deepEqual(getAt(doc, op.path), op.value)) {
          throw new PatchApplyError(
            `testing value ${op.path} failed: test failed`,
          );
        }
        break;
      default:
        throw new PatchApplyError(`Unexpected kind: ${op.op}`);
    }
  }
  return doc;
}

/** Merge keys of the lists the strategic merge patch merges instead of replacing. */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  imagePullSecrets: 'name',
  conditions: 'type',
  tolerations: 'key',
  hostAliases: 'ip',
  topologySpreadConstraints: 'topologyKey',
  ownerReferences: 'uid',
};

function mergeKeyFor(field: string, items: Json[]): string | undefined {
  if (field === 'ports') {
    return items.some(i => isObject(i) && 'containerPort' in i)
      ? 'containerPort'
      : 'port';
  }
  return MERGE_KEYS[field];
}

function strategicList(field: string, target: Json, patch: Json[]): Json[] {
  const key = mergeKeyFor(field, [
    ...(Array.isArray(target) ? target : []),
    ...patch,
  ]);
  if (!key || !patch.every(isObject)) return clone(patch);
  const result: Json[] = Array.isArray(target) ? clone(target) : [];
  for (const item of patch) {
    if (item.$patch === 'replace')
      return clone(patch.filter(p => p.$patch !== 'replace'));
    const idx = result.findIndex(r => isObject(r) && r[key] === item[key]);
    if (item.$patch === 'delete') {
      if (idx >= 0) result.splice(idx, 1);
      continue;
    }
    if (idx >= 0) result[idx] = strategicMergePatch(result[idx], item);
    else result.push(strategicMergePatch({}, item));
  }
  return result;
}

function applyElementOrder(
  list: Json[],
  order: Json[],
  key: string | undefined,
): Json[] {
  const keyOf = (v: Json) => (key && isObject(v) ? v[key] : v);
  const wanted = order.map(o => (isObject(o) && key ? o[key] : o));
  const ordered = wanted
    .map(w => list.find(i => keyOf(i) === w))
    .filter(i => i !== undefined);
  const rest = list.filter(i => !wanted.includes(keyOf(i)));
  return [...ordered, ...rest];
}

export function strategicMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  if (patch.$patch === 'replace') {
    const { $patch, ...rest } = patch;
    return clone(rest);
  }
  if (patch.$patch === 'delete') return undefined;
  const result: Record<string, Json> = isObject(target) ? clone(target) : {};
  const orders: Array<[string, Json[]]> = [];
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys') continue;
    if (k.startsWith('$setElementOrder/')) {
      orders.push([k.slice('$setElementOrder/'.length), v as Json[]]);
      continue;
    }
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      if (Array.isArray(result[field]) && Array.isArray(v)) {
        result[field] = result[field].filter((x: Json) => !v.includes(x));
      }
      continue;
    }
    if (v === null) {
      delete result[k];
    } else if (Array.isArray(v)) {
      result[k] = strategicList(k, result[k], v);
    } else if (isObject(v)) {
      const merged = strategicMergePatch(result[k], v);
      if (merged === undefined) delete result[k];
      else result[k] = merged;
    } else {
      result[k] = v;
    }
  }
  for (const [field, order] of orders) {
    if (Array.isArray(result[field]) && Array.isArray(order)) {
      result[field] = applyElementOrder(
        result[field],
        order,
        mergeKeyFor(field, result[field]),
      );
    }
  }
  return result;
}

/**
 * Drops nulls and empty objects and lists: clients that round-trip a template
 * through typed structs (kubectl rollout undo) add `resources: {}` and
 * `creationTimestamp: null`, which must not make it a new template.
 */
export function withoutEmpty(value: unknown): unknown {
  if (Array.isArray(value)) {
    const items = value.map(withoutEmpty).filter(v => v !== undefined);
    return items.length ? items : undefined;
  }
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const kept = withoutEmpty(v);
      if (kept !== undefined) out[k] = kept;
    }
    return Object.keys(out).length ? out : undefined;
  }
  return value === null ? undefined : value;
}
