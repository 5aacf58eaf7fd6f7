import { randomUUID } from 'node:crypto';
import { ResourceType, RESOURCE_TYPES, groupVersion } from './resourceTypes';
import {
  ApiError,
  alreadyExists,
  badRequest,
  conflict,
  expired,
  invalid,
  notFound,
} from './status';
import { applyDefaults, validate } from './validation';
import { clone, sortKeys } from './patch';

export type K8sObject = Record<string, any>;

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: EventType;
  rt: ResourceType;
  /** The object after the change (for DELETED: its last state). */
  object: K8sObject;
  /** The object before the change, for MODIFIED. */
  old?: K8sObject;
  resourceVersion: number;
}

const EVENT_LOG_CAPACITY = 10_000;
/** Versions kept per object for writes(); plenty for a rollout's weight steps. */
const HISTORY_PER_OBJECT = 500;

function nowTimestamp(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

function key(ns: string | undefined, name: string): string {
  return `${ns ?? ''}/${name}`;
}

const GENERATE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
export function randomSuffix(length = 5): string {
  let s = '';
  for (let i = 0; i < length; i++) {
    s +=
      GENERATE_ALPHABET[Math.floor(Math.random() * GENERATE_ALPHABET.length)];
  }
  return s;
}

/** Everything but metadata and status: what bumps metadata.generation. */
function specPart(obj: K8sObject): string {
  const { metadata, status, kind, apiVersion, ...rest } = obj;
  return JSON.stringify(sortKeys(rest));
}

function withoutVolatile(obj: K8sObject): string {
  const { metadata, ...rest } = obj;
  const { resourceVersion, managedFields, ...meta } = metadata ?? {};
  return JSON.stringify(sortKeys({ ...rest, metadata: meta }));
}

export interface WriteOptions {
  /** Write only the status (status subresource) or the object itself. */
  subresource?: 'status';
  /** Compute the result without storing it (`?dryRun=All`). */
  dryRun?: boolean;
}

/**
 * All objects of the sandbox cluster, with the API server's write semantics:
 * a global resourceVersion, optimistic concurrency, generation, uid and an
 * event log that watches replay from any recent resourceVersion.
 */
export class ObjectStore {
  private resourceVersion = 1000;
  private readonly objects = new Map<ResourceType, Map<string, K8sObject>>();
  private readonly log: StoreEvent[] = [];
  private readonly history = new Map<string, K8sObject[]>();
  private readonly listeners = new Set<(e: StoreEvent) => void>();

  constructor() {
    for (const rt of RESOURCE_TYPES) this.objects.set(rt, new Map());
    const nsType = RESOURCE_TYPES.find(t => t.kind === 'Namespace')!;
    for (const name of [
      'default',
      'kube-system',
      'kube-public',
      'kube-node-lease',
    ]) {
      this.create(nsType, undefined, { metadata: { name } });
    }
  }

  currentResourceVersion(): number {
    return this.resourceVersion;
  }

  get(
    rt: ResourceType,
    ns: string | undefined,
    name: string,
  ): K8sObject | undefined {
    const obj = this.objects
      .get(rt)!
      .get(key(rt.namespaced ? ns : undefined, name));
    return obj ? clone(obj) : undefined;
  }

  mustGet(rt: ResourceType, ns: string | undefined, name: string): K8sObject {
    const obj = this.get(rt, ns, name);
    if (!obj) throw notFound(rt, name);
    return obj;
  }

  /** Objects of a type, in one namespace or all, sorted by namespace and name. */
  list(rt: ResourceType, ns?: string): K8sObject[] {
    const out: K8sObject[] = [];
    for (const obj of this.objects.get(rt)!.values()) {
      if (ns && rt.namespaced && obj.metadata.namespace !== ns) continue;
      out.push(clone(obj));
    }
    return out.sort((a, b) =>
      key(a.metadata.namespace, a.metadata.name).localeCompare(
        key(b.metadata.namespace, b.metadata.name),
      ),
    );
  }

  subscribe(listener: (e: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Events after a resourceVersion; throws 410 Expired when the log no longer reaches back. */
  eventsSince(resourceVersion: number): StoreEvent[] {
    if (resourceVersion >= this.resourceVersion) return [];
    const first = this.log[0];
    if (first && resourceVersion < first.resourceVersion - 1) {
      throw expired(
        `too old resource version: ${resourceVersion} (${
          first.resourceVersion - 1
        })`,
      );
    }
    if (!first) return [];
    return this.log.filter(e => e.resourceVersion > resourceVersion);
  }

  /** Every stored version of one object, oldest first. */
  writes(rt: ResourceType, ns: string | undefined, name: string): K8sObject[] {
    return (this.history.get(this.historyKey(rt, ns, name)) ?? []).map(clone);
  }

  private historyKey(rt: ResourceType, ns: string | undefined, name: string) {
    return `${rt.group}/${rt.plural}/${rt.namespaced ? ns ?? '' : ''}/${name}`;
  }

  private emit(
    type: EventType,
    rt: ResourceType,
    object: K8sObject,
    old?: K8sObject,
  ) {
    const event: StoreEvent = {
      type,
      rt,
      object: clone(object),
      old: old ? clone(old) : undefined,
      resourceVersion: Number(object.metadata.resourceVersion),
    };
    this.log.push(event);
    if (this.log.length > EVENT_LOG_CAPACITY)
      this.log.splice(0, this.log.length - EVENT_LOG_CAPACITY);
    const hk = this.historyKey(
      rt,
      object.metadata.namespace,
      object.metadata.name,
    );
    if (type !== 'DELETED') {
      const versions = this.history.get(hk) ?? [];
      versions.push(clone(object));
      if (versions.length > HISTORY_PER_OBJECT) versions.shift();
      this.history.set(hk, versions);
    } else if (rt.kind === 'Pod') {
      // Pods come and go by the thousand in a long demo; their history goes with them.
      this.history.delete(hk);
    }
    for (const l of [...this.listeners]) {
      try {
        l(event);
      } catch {
        // A listener's failure must not fail the write that triggered it.
      }
    }
  }

  private normalize(
    rt: ResourceType,
    body: K8sObject,
    ns: string | undefined,
  ): K8sObject {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw badRequest('the body of the request must be a JSON object');
    }
    const obj = clone(body);
    if (obj.kind !== undefined && obj.kind !== rt.kind) {
      throw badRequest(
        `the kind of the provided object (${obj.kind}) does not match the resource (${rt.kind})`,
      );
    }
    obj.kind = rt.kind;
    obj.apiVersion = groupVersion(rt.group, rt.versions[0]);
    obj.metadata = obj.metadata ?? {};
    if (typeof obj.metadata !== 'object')
      throw badRequest('metadata must be an object');
    if (rt.namespaced) {
      if (obj.metadata.namespace && ns && obj.metadata.namespace !== ns) {
        throw badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
      obj.metadata.namespace = ns ?? obj.metadata.namespace ?? 'default';
    } else {
      delete obj.metadata.namespace;
    }
    return obj;
  }

  private requireNamespace(rt: ResourceType, ns: string | undefined) {
    if (!rt.namespaced) return;
    const nsType = RESOURCE_TYPES.find(t => t.kind === 'Namespace')!;
    if (!this.objects.get(nsType)!.has(key(undefined, ns!))) {
      throw notFound(nsType, ns!);
    }
  }

  create(
    rt: ResourceType,
    ns: string | undefined,
    body: K8sObject,
    options: WriteOptions = {},
  ): K8sObject {
    const obj = this.normalize(rt, body, ns);
    if (obj.metadata.resourceVersion) {
      // What etcd3's store answers, surfacing as a 500 like on a real server.
      throw new ApiError(
        500,
        'InternalError',
        'Internal error occurred: resourceVersion should not be set on objects to be created',
      );
    }
    if (!obj.metadata.name && obj.metadata.generateName) {
      obj.metadata.name = `${obj.metadata.generateName}${randomSuffix()}`;
    }
    const name = obj.metadata.name ?? '';
    const causes = validate(rt, obj);
    if (causes.length) throw invalid(rt, name, causes);
    this.requireNamespace(rt, obj.metadata.namespace);
    const k = key(rt.namespaced ? obj.metadata.namespace : undefined, name);
    if (this.objects.get(rt)!.has(k)) throw alreadyExists(rt, name);
    applyDefaults(rt, obj);
    delete obj.metadata.resourceVersion;
    obj.metadata.uid = randomUUID();
    obj.metadata.creationTimestamp = nowTimestamp();
    obj.metadata.generation = 1;
    delete obj.metadata.deletionTimestamp;
    if (options.dryRun) {
      obj.metadata.resourceVersion = String(this.resourceVersion);
      return obj;
    }
    obj.metadata.resourceVersion = String(++this.resourceVersion);
    this.objects.get(rt)!.set(k, obj);
    this.emit('ADDED', rt, obj);
    return clone(obj);
  }

  /**
   * Replace an object (PUT semantics). A resourceVersion in the body must be
   * the current one (409 otherwise); none means an unconditional update.
   */
  update(
    rt: ResourceType,
    ns: string | undefined,
    name: string,
    body: K8sObject,
    options: WriteOptions = {},
  ): K8sObject {
    const obj = this.normalize(rt, body, ns);
    const old = this.mustGet(rt, ns, name);
    if (obj.metadata.name !== undefined && obj.metadata.name !== name) {
      throw badRequest(
        `the name of the object (${obj.metadata.name}) does not match the name on the URL (${name})`,
      );
    }
    obj.metadata.name = name;
    const rv = obj.metadata.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== old.metadata.resourceVersion) {
      throw conflict(rt, name);
    }
    if (obj.metadata.uid && obj.metadata.uid !== old.metadata.uid) {
      throw conflict(rt, name);
    }
    let next: K8sObject;
    if (options.subresource === 'status') {
      next = { ...old, status: obj.status };
    } else {
      next = obj;
      if (rt.subresources.includes('status')) {
        if (old.status === undefined) delete next.status;
        else next.status = old.status;
      }
      const causes = validate(rt, next);
      if (causes.length) throw invalid(rt, name, causes);
      applyDefaults(rt, next, old);
    }
    next.metadata = {
      ...next.metadata,
      uid: old.metadata.uid,
      creationTimestamp: old.metadata.creationTimestamp,
      generation: old.metadata.generation,
      resourceVersion: old.metadata.resourceVersion,
    };
    if (old.metadata.namespace)
      next.metadata.namespace = old.metadata.namespace;
    if (options.subresource !== 'status' && specPart(next) !== specPart(old)) {
      next.metadata.generation = (old.metadata.generation ?? 0) + 1;
    }
    // A write that changes nothing is not a write: no new resourceVersion, no event.
    if (withoutVolatile(next) === withoutVolatile(old)) return old;
    if (options.dryRun) return next;
    next.metadata.resourceVersion = String(++this.resourceVersion);
    this.objects.get(rt)!.set(key(rt.namespaced ? ns : undefined, name), next);
    this.emit('MODIFIED', rt, next, old);
    return clone(next);
  }

  delete(
    rt: ResourceType,
    ns: string | undefined,
    name: string,
    options: {
      dryRun?: boolean;
      preconditions?: { resourceVersion?: string; uid?: string };
    } = {},
  ): K8sObject {
    const old = this.mustGet(rt, ns, name);
    const pre = options.preconditions ?? {};
    if (
      (pre.resourceVersion &&
        pre.resourceVersion !== old.metadata.resourceVersion) ||
      (pre.uid && pre.uid !== old.metadata.uid)
    ) {
      throw conflict(rt, name);
    }
    if (options.dryRun) return old;
    if (rt.kind === 'Namespace') {
      for (const t of RESOURCE_TYPES) {
        if (!t.namespaced) continue;
        for (const o of this.list(t, name))
          this.delete(t, name, o.metadata.name);
      }
    }
    this.objects.get(rt)!.delete(key(rt.namespaced ? ns : undefined, name));
    const last = clone(old);
    last.metadata.resourceVersion = String(++this.resourceVersion);
    this.emit('DELETED', rt, last);
    return last;
  }
}

export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError;
}
