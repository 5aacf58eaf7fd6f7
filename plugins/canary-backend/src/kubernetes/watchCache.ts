/**
 * Watch caches: the objects the engine reads on every pass, kept up to date
 * by one list-and-watch per cluster, kind and namespace, so a pass reads
 * memory instead of sending GETs (Argo Rollouts and Flagger do the same with
 * client-go informers).
 *
 * A cache only answers while its watch is established and the API server has
 * answered a request recently (`staleAfterMs`; a GET /version probes a quiet
 * one — events on an open watch do not count); otherwise reads go to the
 * API server directly and fail as they would without a cache, so a dead API
 * server never looks healthy. After the engine writes an object, a cached
 * copy older than the write is never served.
 */
import {
  KubeConfig,
  ListWatch,
  Watch,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import { passScope } from '../domain/passScope';
import type { ClusterApis } from './ClusterClients';
import { isConflict } from './errors';

/** Where a watch cache says why it is not used; debug level only. */
export interface WatchCacheLogger {
  debug(message: string): void;
}

/** A kind the cache can hold: its collection path and how to list it. */
export interface CachedKind {
  /** Unique per group, version and resource, e.g. `apps/v1/deployments`. */
  readonly id: string;
  /** For messages: `Deployment`. */
  readonly kind: string;
  /** The namespaced collection path, e.g. `/apis/apps/v1/namespaces/ns/deployments`. */
  collection(namespace: string): string;
  /** Lists the collection (the informer's initial list and relists). */
  list(
    apis: ClusterApis,
    namespace: string,
  ): Promise<{ items: any[]; metadata?: { resourceVersion?: string } }>;
  /** The client's model name, so watched objects look like the typed reads (`V1Deployment`). */
  readonly model?: string;
}

const ns = (namespace: string) => encodeURIComponent(namespace);

export const DEPLOYMENTS: CachedKind = {
  id: 'apps/v1/deployments',
  kind: 'Deployment',
  collection: n => `/apis/apps/v1/namespaces/${ns(n)}/deployments`,
  list: (apis, namespace) => apis.apps.listNamespacedDeployment({ namespace }),
  model: 'V1Deployment',
};

export const PODS: CachedKind = {
  id: 'v1/pods',
  kind: 'Pod',
  collection: n => `/api/v1/namespaces/${ns(n)}/pods`,
  list: (apis, namespace) => apis.core.listNamespacedPod({ namespace }),
  model: 'V1Pod',
};

export const SERVICES: CachedKind = {
  id: 'v1/services',
  kind: 'Service',
  collection: n => `/api/v1/namespaces/${ns(n)}/services`,
  list: (apis, namespace) => apis.core.listNamespacedService({ namespace }),
  model: 'V1Service',
};

export const INGRESSES: CachedKind = {
  id: 'networking.k8s.io/v1/ingresses',
  kind: 'Ingress',
  collection: n => `/apis/networking.k8s.io/v1/namespaces/${ns(n)}/ingresses`,
  list: (apis, namespace) =>
    apis.networking.listNamespacedIngress({ namespace }),
  model: 'V1Ingress',
};

const customKinds = new Map<string, CachedKind>();

/** A custom resource (VirtualService, HTTPRoute, TrafficSplit) at the served version. */
export function customKind(ref: {
  group: string;
  version: string;
  plural: string;
  kind: string;
}): CachedKind {
  const id = `${ref.group}/${ref.version}/${ref.plural}`;
  let kind = customKinds.get(id);
  if (!kind) {
    const base = `/apis/${encodeURIComponent(ref.group)}/${encodeURIComponent(
      ref.version,
    )}`;
    kind = {
      id,
      kind: ref.kind,
      collection: n =>
        `${base}/namespaces/${ns(n)}/${encodeURIComponent(ref.plural)}`,
      list: async (apis, namespace) =>
        (await apis.custom.listNamespacedCustomObject({
          group: ref.group,
          version: ref.version,
          plural: ref.plural,
          namespace,
        })) as { items: any[]; metadata?: { resourceVersion?: string } },
    };
    customKinds.set(id, kind);
  }
  return kind;
}

export interface WatchCacheOptions {
  /**
   * Serve from a cache only if the API server answered (a watch event, a
   * bookmark, any response) this recently; beyond it reads go direct and
   * fail as without a cache. Default 20 s (twice the default loop interval).
   */
  staleAfterMs?: number;
  /** Stop a namespace's watch after it has not been read for this long. Default 5 min. */
  idleMs?: number;
  /** Restart a watch that delivered nothing (not even a bookmark) this long. Default 5 min. */
  silentWatchMs?: number;
  /** Ask the server to end each watch after this long (it is resumed at once). Default 240 s. */
  watchTimeoutSeconds?: number;
  /** Time to wait for a watch's response headers. Default 10 s. */
  connectTimeoutMs?: number;
  /** Longest wait before restarting a failed watch (it doubles from 500 ms). Default 10 s. */
  maxRestartDelayMs?: number;
}

/** Compares resourceVersions numerically where both are integers (as etcd's are). */
export function resourceVersionAtLeast(
  have: string | undefined,
  want: string | undefined,
): boolean {
  if (!have || !want) return false;
  if (/^\d+$/.test(have) && /^\d+$/.test(want)) {
    return BigInt(have) >= BigInt(want);
  }
  // Opaque versions: only equality says the cache has caught up.
  return have === want;
}

const now = () => Date.now();

/**
 * The client's Watch, with its state reported: when the server answered
 * the watch (established), every event, and the end. It also asks for
 * bookmarks and a server-side timeout, and bounds the wait for headers.
 */
class ObservedWatch {
  private readonly inner: Watch;

  constructor(
    kubeConfig: KubeConfig,
    private readonly owner: NamespaceInformer,
    private readonly model: string | undefined,
    private readonly options: Required<WatchCacheOptions>,
  ) {
    const connectTimeoutMs = options.connectTimeoutMs;
    // node-fetch's `timeout` bounds the wait for the response headers only,
    // not the stream that follows them.
    const config = {
      getCurrentCluster: () => kubeConfig.getCurrentCluster(),
      applyToFetchOptions: async (opts: object) => ({
        ...(await kubeConfig.applyToFetchOptions(opts as any)),
        timeout: connectTimeoutMs,
      }),
    } as unknown as KubeConfig;
    this.inner = new Watch(config);
  }

  async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: any, watchObj?: any) => void,
    done: (err: any) => void,
  ): Promise<AbortController> {
    let ended = false;
    const controller = await this.inner.watch(
      path,
      {
        ...queryParams,
        allowWatchBookmarks: true,
        timeoutSeconds: this.options.watchTimeoutSeconds,
      },
      (phase, obj, watchObj) => {
        this.owner.sawEvent();
        const decoded =
          this.model &&
          (phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED')
            ? ObjectSerializer.deserialize(obj, this.model, '')
            : obj;
        callback(phase, decoded, watchObj);
      },
      err => {
        ended = true;
        this.owner.watchEnded(err);
        done(err);
      },
    );
    if (!ended) this.owner.watchEstablished();
    return controller;
  }
}

type InformerState = 'starting' | 'live' | 'down' | 'stopped';

/** One list-and-watch of one kind in one namespace. */
class NamespaceInformer {
  private readonly informer: ListWatch<KubernetesObject>;
  private state: InformerState = 'starting';
  private restartDelayMs = 500;
  private restartTimer?: NodeJS.Timeout;
  lastUsedAt = now();
  lastEventAt = now();
  lastError?: string;

  constructor(
    readonly kind: CachedKind,
    readonly namespace: string,
    private readonly cache: ClusterWatchCache,
    kubeConfig: KubeConfig,
    apis: ClusterApis,
    private readonly options: Required<WatchCacheOptions>,
  ) {
    const watch = new ObservedWatch(kubeConfig, this, kind.model, options);
    this.informer = new ListWatch<KubernetesObject>(
      kind.collection(namespace),
      watch as unknown as Watch,
      async () => {
        const list = await kind.list(apis, namespace);
        this.cache.contact();
        return list as any;
      },
      false,
    );
    this.informer.on('connect', () => {
      // A (re)connect or relist is under way: not live until the server answers it.
      if (this.state !== 'stopped') this.state = 'starting';
    });
    this.informer.on('error', (err: unknown) => this.failed(err));
  }

  start(): void {
    // Outside any pass: the watch must not end with the pass that needed it.
    passScope.exit(() => {
      this.informer.start().catch(err => this.failed(err));
    });
  }

  get live(): boolean {
    return this.state === 'live';
  }

  get stopped(): boolean {
    return this.state === 'stopped';
  }

  get description(): string {
    return `${this.kind.kind} in ${this.cache.cluster}/${this.namespace}`;
  }

  /**
   * An event or bookmark on the open watch. It shows the watch is not cut,
   * but not that the server answers requests (a stream can outlive a hung
   * API server), so it does not count as contact.
   */
  sawEvent(): void {
    this.lastEventAt = now();
  }

  watchEstablished(): void {
    if (this.state === 'stopped') return;
    this.state = 'live';
    this.restartDelayMs = 500;
    this.lastError = undefined;
    this.lastEventAt = now();
    this.cache.contact();
  }

  watchEnded(err: unknown): void {
    if (this.state === 'stopped') return;
    // ListWatch resumes by itself after a clean end and relists after a
    // 410; until the new watch answers, reads go direct.
    this.state = 'starting';
    if (err) this.lastError = String((err as Error)?.message ?? err);
  }

  /** ListWatch gives up after a failed list or watch: restart it with back-off. */
  private failed(err: unknown): void {
    if (this.state === 'stopped') return;
    this.state = 'down';
    this.lastError = String((err as Error)?.message ?? err);
    this.cache.log(
      `watch of ${this.description} failed (${this.lastError}); retrying in ${this.restartDelayMs} ms, reads go to the API server meanwhile`,
    );
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.state !== 'stopped') this.start();
    }, this.restartDelayMs);
    this.restartTimer.unref?.();
    this.restartDelayMs = Math.min(
      this.restartDelayMs * 2,
      this.options.maxRestartDelayMs,
    );
  }

  /** Live, but nothing (not even a bookmark) for longer than bookmarks allow: presumed cut. */
  get silent(): boolean {
    return (
      this.state === 'live' &&
      now() - this.lastEventAt > this.options.silentWatchMs
    );
  }

  stop(): void {
    this.state = 'stopped';
    clearTimeout(this.restartTimer);
    this.informer.stop().catch(() => undefined);
  }

  get(name: string): KubernetesObject | undefined {
    return this.informer.get(name, this.namespace);
  }

  list(): readonly KubernetesObject[] {
    return this.informer.list(this.namespace);
  }
}

/** What the engine last wrote to an object, until the cache has caught up with it. */
interface PendingWrite {
  /** The resourceVersion the write produced, when known. */
  resourceVersion?: string;
  /** The object the write returned, when it returned one. */
  object?: KubernetesObject;
}

/** Counts for tests and benchmarks: how reads were answered. */
export interface WatchCacheStats {
  fromCache: number;
  direct: number;
  informers: number;
}

function copy<T>(value: T): T {
  return structuredClone(value);
}

/**
 * The watch caches of one cluster: an informer per kind and namespace,
 * started the first time a read needs it and stopped when unused.
 */
export class ClusterWatchCache {
  private readonly informers = new Map<string, NamespaceInformer>();
  private readonly writes = new Map<string, PendingWrite>();
  private readonly options: Required<WatchCacheOptions>;
  private lastContactAt = 0;
  private probing = false;
  private timer?: NodeJS.Timeout;
  /** The reason last logged per informer, so a state is logged once, not per read. */
  private readonly loggedReason = new Map<string, string>();
  readonly stats: WatchCacheStats = { fromCache: 0, direct: 0, informers: 0 };

  constructor(
    readonly cluster: string,
    private readonly kubeConfig: KubeConfig,
    private readonly apis: ClusterApis,
    /** A cheap request that proves the API server answers (GET /version). */
    private readonly probe: () => Promise<unknown>,
    options: WatchCacheOptions = {},
    private readonly logger?: WatchCacheLogger,
  ) {
    this.options = {
      staleAfterMs: options.staleAfterMs ?? 20_000,
      idleMs: options.idleMs ?? 300_000,
      silentWatchMs: options.silentWatchMs ?? 300_000,
      watchTimeoutSeconds: options.watchTimeoutSeconds ?? 240,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      maxRestartDelayMs: options.maxRestartDelayMs ?? 10_000,
    };
  }

  /** The API server answered a request: the caches may be trusted a while longer. */
  contact(): void {
    this.lastContactAt = now();
  }

  log(message: string): void {
    this.logger?.debug(`Kubernetes watch cache: ${message}`);
  }

  private informer(kind: CachedKind, namespace: string): NamespaceInformer {
    const key = `${kind.id}|${namespace}`;
    let informer = this.informers.get(key);
    if (!informer || informer.stopped) {
      informer = new NamespaceInformer(
        kind,
        namespace,
        this,
        this.kubeConfig,
        this.apis,
        this.options,
      );
      this.informers.set(key, informer);
      this.stats.informers = this.informers.size;
      informer.start();
      this.ensureTimer();
    }
    informer.lastUsedAt = now();
    return informer;
  }

  /** Why the informer cannot answer now, or undefined when it can. */
  private notServable(informer: NamespaceInformer): string | undefined {
    if (!informer.live) {
      return informer.lastError
        ? `its watch is down (${informer.lastError})`
        : 'it has not synced yet';
    }
    const silent = now() - this.lastContactAt;
    if (silent > this.options.staleAfterMs) {
      return `the API server has not answered for ${Math.round(
        silent / 1000,
      )} s`;
    }
    return undefined;
  }

  private usable(informer: NamespaceInformer): boolean {
    const reason = this.notServable(informer);
    const key = `${informer.kind.id}|${informer.namespace}`;
    if (reason) {
      if (this.loggedReason.get(key) !== reason.replace(/\d+ s$/, '')) {
        this.loggedReason.set(key, reason.replace(/\d+ s$/, ''));
        this.log(
          `reading ${informer.description} from the API server: ${reason}`,
        );
      }
      return false;
    }
    if (this.loggedReason.has(key)) {
      this.loggedReason.delete(key);
      this.log(`reading ${informer.description} from the cache again`);
    }
    return true;
  }

  private writeKey(kind: CachedKind, namespace: string, name: string) {
    return `${kind.id}|${namespace}|${name}`;
  }

  /**
   * One object: from the cache when it is live and not older than the
   * engine's last write to it; otherwise `direct()` (a GET). A name the
   * cache does not hold is read directly too, so a 404 is the server's.
   */
  async get<T>(
    kind: CachedKind,
    namespace: string,
    name: string,
    direct: () => Promise<T>,
  ): Promise<T> {
    const informer = this.informer(kind, namespace);
    const key = this.writeKey(kind, namespace, name);
    const pending = this.writes.get(key);
    if (this.usable(informer)) {
      const cached = informer.get(name);
      if (pending) {
        if (
          cached &&
          resourceVersionAtLeast(
            cached.metadata?.resourceVersion,
            pending.resourceVersion,
          )
        ) {
          this.writes.delete(key);
        } else if (pending.object) {
          this.stats.fromCache++;
          return copy(pending.object) as T;
        } else {
          return this.readDirect(key, direct);
        }
      }
      if (cached) {
        this.stats.fromCache++;
        return copy(cached) as T;
      }
    }
    return this.readDirect(pending ? key : undefined, direct);
  }

  private async readDirect<T>(
    pendingKey: string | undefined,
    direct: () => Promise<T>,
  ): Promise<T> {
    this.stats.direct++;
    const value = await direct();
    if (pendingKey) {
      // The server's current version: once the cache holds it, the cache is
      // as new as the write.
      const rv = (value as KubernetesObject | undefined)?.metadata
        ?.resourceVersion;
      const pending = this.writes.get(pendingKey);
      if (pending && rv && !pending.resourceVersion) {
        pending.resourceVersion = rv;
      }
    }
    return value;
  }

  /**
   * What `read` makes of the objects of a namespace `filter` keeps, from the
   * cache when it is live and no write of the engine's to one of them is
   * still on its way. `read` gets the cached objects themselves, not copies:
   * it must not change them (it builds what the caller keeps).
   */
  async list<T, R>(
    kind: CachedKind,
    namespace: string,
    filter: (object: T) => boolean,
    read: (object: T) => R,
    direct: () => Promise<T[]>,
  ): Promise<R[]> {
    const informer = this.informer(kind, namespace);
    const prefix = `${kind.id}|${namespace}|`;
    const pendingHere = [...this.writes.keys()].some(k => k.startsWith(prefix));
    if (!pendingHere && this.usable(informer)) {
      this.stats.fromCache++;
      return (informer.list() as T[]).filter(filter).map(read);
    }
    this.stats.direct++;
    return (await direct()).filter(filter).map(read);
  }

  /**
   * The engine wrote an object (or tried to: `result` undefined when the
   * outcome is unknown). Until the cache holds that version, reads of the
   * object answer with what the write returned, or go direct.
   */
  wrote(
    kind: CachedKind,
    namespace: string,
    name: string,
    result?: { resourceVersion?: string; object?: KubernetesObject },
  ): void {
    // Without a watch of that kind and namespace there is nothing stale to
    // guard against: a watch started later lists after the write.
    if (!this.informers.has(`${kind.id}|${namespace}`)) return;
    this.writes.set(this.writeKey(kind, namespace, name), {
      resourceVersion: result?.resourceVersion,
      object: result?.object ? copy(result.object) : undefined,
    });
  }

  private ensureTimer(): void {
    if (this.timer) return;
    const every = Math.max(250, Math.floor(this.options.staleAfterMs / 4));
    // Not inside the pass that happened to start the first informer.
    passScope.exit(() => {
      this.timer = setInterval(() => this.maintain(), every);
      this.timer.unref?.();
    });
  }

  /** Probes a quiet API server, stops unused informers, restarts silent watches. */
  private maintain(): void {
    const t = now();
    for (const [key, informer] of this.informers) {
      if (t - informer.lastUsedAt > this.options.idleMs) {
        this.log(`stopping the watch of ${informer.description}: unused`);
        informer.stop();
        this.informers.delete(key);
        this.loggedReason.delete(key);
        for (const w of [...this.writes.keys()]) {
          if (w.startsWith(`${key}|`)) this.writes.delete(w);
        }
      } else if (informer.silent) {
        // A fresh informer relists; the next read starts it.
        this.log(
          `watch of ${informer.description} delivered nothing for ${Math.round(
            (t - informer.lastEventAt) / 1000,
          )} s; starting it again`,
        );
        informer.stop();
        this.informers.delete(key);
      }
    }
    this.stats.informers = this.informers.size;
    if (!this.informers.size) {
      clearInterval(this.timer);
      this.timer = undefined;
      return;
    }
    if (
      !this.probing &&
      t - this.lastContactAt > this.options.staleAfterMs / 2
    ) {
      this.probing = true;
      passScope.exit(() => {
        this.probe()
          .then(() => this.contact())
          .catch(() => undefined)
          .finally(() => {
            this.probing = false;
          });
      });
    }
  }

  /** Stops every watch (backend shutdown, tests). */
  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const informer of this.informers.values()) informer.stop();
    this.informers.clear();
    this.writes.clear();
    this.stats.informers = 0;
  }
}

/** A read of one object through the cluster's watch cache, when it has one. */
export function cachedGet<T>(
  apis: ClusterApis,
  kind: CachedKind,
  namespace: string,
  name: string,
  direct: () => Promise<T>,
): Promise<T> {
  return apis.cache ? apis.cache.get(kind, namespace, name, direct) : direct();
}

/**
 * The base object of a read-modify-replace on attempt `attempt` of
 * `withConflictRetry`: the first starts from the watch cache (never older
 * than the engine's own last write to the object, and only while the cache
 * may be trusted, see {@link ClusterWatchCache.get}), so a write costs one
 * PUT instead of a GET and a PUT. The replace carries the cached
 * resourceVersion: if the object changed meanwhile the server answers 409
 * Conflict and the next attempt reads it with a GET.
 */
export function readForUpdate<T>(
  apis: ClusterApis,
  kind: CachedKind,
  namespace: string,
  name: string,
  attempt: number,
  direct: () => Promise<T>,
): Promise<T> {
  return attempt === 1
    ? cachedGet(apis, kind, namespace, name, direct)
    : direct();
}

/**
 * A label-selected list as a cache filter, when the cluster has a cache,
 * each object kept as `read` makes it (`read` must not change the object).
 */
export async function cachedList<T, R>(
  apis: ClusterApis,
  kind: CachedKind,
  namespace: string,
  filter: (object: T) => boolean,
  read: (object: T) => R,
  direct: () => Promise<T[]>,
): Promise<R[]> {
  return apis.cache
    ? apis.cache.list(kind, namespace, filter, read, direct)
    : (await direct()).filter(filter).map(read);
}

/**
 * Sends a write and tells the cache about it: the stored object (or, for a
 * subresource, its resourceVersion) when it succeeded; "unknown" when it
 * failed other than by a conflict (it may have been applied), so reads of
 * the object go to the server until the cache has caught up.
 */
export async function writeThrough<T>(
  apis: ClusterApis,
  kind: CachedKind,
  namespace: string,
  name: string,
  write: () => Promise<T>,
  returns: 'object' | 'subresource' = 'object',
): Promise<T> {
  try {
    const result = await write();
    const rv = (result as KubernetesObject | undefined)?.metadata
      ?.resourceVersion;
    apis.cache?.wrote(kind, namespace, name, {
      resourceVersion: rv,
      object:
        returns === 'object' && rv
          ? (result as unknown as KubernetesObject)
          : undefined,
    });
    return result;
  } catch (error) {
    // A conflict wrote nothing; anything else may have been applied.
    if (!isConflict(error)) apis.cache?.wrote(kind, namespace, name);
    throw error;
  }
}
