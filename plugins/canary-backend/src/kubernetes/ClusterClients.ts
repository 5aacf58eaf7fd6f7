import {
  ApisApi,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  NetworkingV1Api,
  ServerConfiguration,
  VersionApi,
  createConfiguration,
  type Configuration,
  type RequestContext,
  type ResponseContext,
} from '@kubernetes/client-node';
import type { Config } from '@backstage/config';
import fs from 'node:fs';
import { ConfigurationError } from './types';
import { callCluster } from './errors';
import { currentPassSignal } from '../domain/passScope';
import {
  ClusterWatchCache,
  WatchCacheLogger,
  WatchCacheOptions,
} from './watchCache';

const LOCATOR_KEY = 'kubernetes.clusterLocatorMethods';
const IN_CLUSTER_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';
const IN_CLUSTER_CA = '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt';

/** One cluster as `kubernetes.clusterLocatorMethods[type=config].clusters[]` describes it. */
export interface ClusterDetails {
  name: string;
  url: string;
  authProvider: string;
  serviceAccountToken?: string;
  caData?: string;
  caFile?: string;
  skipTLSVerify?: boolean;
}

/** Typed API clients for one cluster. */
export interface ClusterApis {
  readonly cluster: string;
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly custom: CustomObjectsApi;
  readonly networking: NetworkingV1Api;
  /**
   * The version of an API group the server prefers (e.g. `v1` for
   * `networking.istio.io`), `fallback` when the server does not serve the
   * group or has no discovery. Cached per group.
   */
  preferredVersion(group: string, fallback: string): Promise<string>;
  /**
   * The cluster's watch caches, when enabled: reads of the objects the
   * engine looks at every pass go through it (see watchCache.ts).
   */
  readonly cache?: ClusterWatchCache;
}

export interface ClusterClientsOptions {
  /** Abort a request after this long (it then counts as the cluster being unavailable). Default 10 s. */
  requestTimeoutMs?: number;
  /**
   * Serve the engine's per-pass reads from watch caches (list + watch per
   * kind and namespace). Off unless set; the backend plugin turns it on.
   */
  watchCache?: boolean | WatchCacheOptions;
  /** Where the watch caches say, at debug level, why a read went direct. */
  logger?: WatchCacheLogger;
}

function readClusters(config: Config): ClusterDetails[] {
  const methods = config.getOptionalConfigArray(LOCATOR_KEY) ?? [];
  const clusters: ClusterDetails[] = [];
  for (const method of methods) {
    // Other locator types (catalog, gke, localKubectlProxy) need machinery of
    // the Kubernetes plugin itself; Coalmine reads the static list.
    if (method.getString('type') !== 'config') continue;
    for (const c of method.getOptionalConfigArray('clusters') ?? []) {
      const authMetadata = c.getOptionalConfig('authMetadata');
      clusters.push({
        name: c.getString('name'),
        url: c.getString('url'),
        authProvider:
          c.getOptionalString('authProvider') ??
          authMetadata?.getOptionalString('kubernetes.io/auth-provider') ??
          'serviceAccount',
        serviceAccountToken:
          c.getOptionalString('serviceAccountToken') ??
          authMetadata?.getOptionalString(
            'kubernetes.io/service-account-token',
          ),
        caData: c.getOptionalString('caData'),
        caFile: c.getOptionalString('caFile'),
        skipTLSVerify: c.getOptionalBoolean('skipTLSVerify') ?? false,
      });
    }
  }
  return clusters;
}

/**
 * Sets an abort signal on every request so a hanging API server cannot stall
 * a rollout tick: the per-request timeout, and the deadline of the engine's
 * pass when the call runs inside one.
 */
function timeoutMiddleware(ms: number) {
  return {
    pre: async (context: RequestContext) => {
      const pass = currentPassSignal();
      context.setSignal(
        pass
          ? AbortSignal.any([AbortSignal.timeout(ms), pass])
          : AbortSignal.timeout(ms),
      );
      return context;
    },
    post: async (context: ResponseContext) => context,
  };
}

/** Any HTTP answer proves the API server alive, so its watch caches may be trusted. */
function contactMiddleware(onAnswer: () => void) {
  return {
    pre: async (context: RequestContext) => context,
    post: async (context: ResponseContext) => {
      onAnswer();
      return context;
    },
  };
}

/**
 * The clusters the Backstage Kubernetes plugin is configured with, as
 * `@kubernetes/client-node` clients. Only the `serviceAccount` auth provider
 * is supported: the rollout engine acts as itself, not on behalf of a user.
 */
export class ClusterClients {
  private readonly details: Map<string, ClusterDetails>;
  private readonly apis = new Map<string, ClusterApis>();
  private readonly timeoutMs: number;
  private readonly options: ClusterClientsOptions;

  static fromConfig(
    config: Config,
    options?: ClusterClientsOptions,
  ): ClusterClients {
    return new ClusterClients(readClusters(config), options);
  }

  constructor(clusters: ClusterDetails[], options: ClusterClientsOptions = {}) {
    this.details = new Map(clusters.map(c => [c.name, c]));
    this.timeoutMs = options.requestTimeoutMs ?? 10_000;
    this.options = options;
  }

  /** Stops every watch cache (backend shutdown, end of a test). */
  close(): void {
    for (const apis of this.apis.values()) apis.cache?.close();
  }

  /** Names of the configured clusters, in config order. */
  clusterNames(): string[] {
    return [...this.details.keys()];
  }

  forCluster(name: string): ClusterApis {
    const cached = this.apis.get(name);
    if (cached) return cached;
    const details = this.details.get(name);
    if (!details) {
      const known = this.clusterNames();
      throw new ConfigurationError(
        `Cluster "${name}" is not configured: add it to ${LOCATOR_KEY} (type: config)${
          known.length ? ` or use one of ${known.join(', ')}` : ''
        }`,
        LOCATOR_KEY,
      );
    }
    const apis = this.build(details);
    this.apis.set(name, apis);
    return apis;
  }

  private build(details: ClusterDetails): ClusterApis {
    if (details.authProvider !== 'serviceAccount') {
      throw new ConfigurationError(
        `Cluster "${details.name}" uses authProvider "${details.authProvider}"; Coalmine needs authProvider: serviceAccount with a serviceAccountToken in ${LOCATOR_KEY}`,
        LOCATOR_KEY,
      );
    }
    if (details.url.startsWith('http://') && !details.skipTLSVerify) {
      // @kubernetes/client-node refuses plain HTTP unless TLS checks are off.
      throw new ConfigurationError(
        `Cluster "${details.name}" has a plain http:// url; set skipTLSVerify: true for it in ${LOCATOR_KEY} or use https`,
        LOCATOR_KEY,
      );
    }
    let token = details.serviceAccountToken;
    let caFile = details.caFile;
    if (!token) {
      // Like the Kubernetes plugin: no token configured means "use the pod's own".
      if (!fs.existsSync(IN_CLUSTER_TOKEN)) {
        throw new ConfigurationError(
          `Cluster "${details.name}" has no serviceAccountToken in ${LOCATOR_KEY} and Backstage does not run in a cluster`,
          LOCATOR_KEY,
        );
      }
      token = fs.readFileSync(IN_CLUSTER_TOKEN, 'utf8').trim();
      if (!details.caData && !caFile && fs.existsSync(IN_CLUSTER_CA)) {
        caFile = IN_CLUSTER_CA;
      }
    }
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [
        {
          name: details.name,
          server: details.url,
          caData: details.caData,
          caFile,
          skipTLSVerify: details.skipTLSVerify ?? false,
        },
      ],
      users: [{ name: 'coalmine', token }],
      contexts: [
        { name: details.name, cluster: details.name, user: 'coalmine' },
      ],
      currentContext: details.name,
    });
    // Set below once the cache exists; the middleware reports answers to it.
    const watched: { cache?: ClusterWatchCache } = {};
    const configuration: Configuration = createConfiguration({
      baseServer: new ServerConfiguration(details.url.replace(/\/+$/, ''), {}),
      authMethods: { default: kubeConfig },
      promiseMiddleware: [
        timeoutMiddleware(this.timeoutMs),
        contactMiddleware(() => watched.cache?.contact()),
      ],
    });
    const apisApi = new ApisApi(configuration);
    const versions = new Map<string, Promise<string>>();
    const apis: ClusterApis = {
      cluster: details.name,
      core: new CoreV1Api(configuration),
      apps: new AppsV1Api(configuration),
      custom: new CustomObjectsApi(configuration),
      networking: new NetworkingV1Api(configuration),
      preferredVersion(group, fallback) {
        let version = versions.get(group);
        if (!version) {
          version = callCluster(
            { kind: 'API groups', namespace: '', verb: 'discover' },
            () => apisApi.getAPIVersions(),
          ).then(
            list =>
              list.groups.find(g => g.name === group)?.preferredVersion
                ?.version ?? fallback,
          );
          // A failed discovery must not stick: forget it so the next call asks again.
          version.catch(() => versions.delete(group));
          versions.set(group, version);
        }
        return version;
      },
    };
    const cacheOptions = this.options.watchCache;
    if (!cacheOptions) return apis;
    const versionApi = new VersionApi(configuration);
    const cache = new ClusterWatchCache(
      details.name,
      kubeConfig,
      apis,
      () => versionApi.getCode(),
      {
        connectTimeoutMs: this.timeoutMs,
        ...(cacheOptions === true ? {} : cacheOptions),
      },
      this.options.logger,
    );
    watched.cache = cache;
    return { ...apis, cache };
  }
}
