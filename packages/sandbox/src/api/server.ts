import http from 'node:http';
import https from 'node:https';
import net, { AddressInfo } from 'node:net';
import { Duplex } from 'node:stream';
import { servingCertificate } from './tls';
import { parse as parseYaml } from 'yaml';
import {
  ResourceType,
  apiResourceList,
  findResourceType,
  groupVersion,
  groupsServed,
} from './resourceTypes';
import {
  ApiError,
  badRequest,
  conflict,
  injected,
  invalid,
  methodNotAllowed,
  notFound,
  resourceNotFound,
  unauthorized,
  unsupportedMediaType,
} from './status';
import { K8sObject, ObjectStore, StoreEvent } from './store';
import {
  PatchApplyError,
  clone,
  jsonPatch,
  mergePatch,
  strategicMergePatch,
  validateJsonPatch,
} from './patch';
import {
  Requirement,
  SelectorParseError,
  matchesRequirements,
  parseLabelSelector,
  selectorObjectToString,
} from './labelSelector';
import { matchesFields, parseFieldSelector } from './fieldSelector';
import { IncludeObject, toTable } from './table';
import { FaultInjector } from './faults';
import { openApiV3GroupVersion, openApiV3Root } from './openapi';
import { ProtobufUnsupportedError, decodeProtobufObject } from './protobuf';

export interface ApiServerOptions {
  store: ObjectStore;
  faults: FaultInjector;
  /** 0 picks a free port. */
  port?: number;
  host?: string;
  /** Require `Authorization: Bearer <any token>`; default true. */
  requireToken?: boolean;
}

interface ResourceRequest {
  rt: ResourceType;
  version: string;
  namespace?: string;
  name?: string;
  subresource?: 'status' | 'scale';
}

class BodyParseError extends Error {}

const SERVER_VERSION = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.0-coalmine-sandbox',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z',
  goVersion: 'go1.23.0',
  compiler: 'gc',
  platform: 'linux/amd64',
};

function readBodyBuffer(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', c => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', c => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseBody(text: string, contentType: string): any {
  if (text.trim() === '') throw new BodyParseError('empty body');
  try {
    return JSON.parse(text);
  } catch (e) {
    if (/yaml/.test(contentType)) {
      try {
        return parseYaml(text);
      } catch (ye) {
        throw new BodyParseError(String((ye as Error).message));
      }
    }
    throw new BodyParseError(String((e as Error).message));
  }
}

/**
 * An HTTP server that speaks enough of the Kubernetes REST API for
 * `@kubernetes/client-node` and `kubectl` to work against the sandbox.
 */
export class ApiServer {
  private server?: net.Server;
  private httpServer?: http.Server;
  private httpsServer?: https.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly watches = new Set<() => void>();
  /** Plain HTTP URL. */
  url = '';
  /** The same port spoken over TLS (what the kubeconfig uses: kubectl sends tokens only over TLS). */
  tlsUrl = '';
  /** PEM of the self-signed serving certificate, the CA for tlsUrl. */
  readonly caPem: string = servingCertificate().cert;
  /** Requests served so far, by HTTP method (benchmarks count the engine's calls). */
  readonly requestCounts: Record<string, number> = {};

  constructor(private readonly options: ApiServerOptions) {}

  async start(): Promise<string> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      const method = req.method ?? 'GET';
      this.requestCounts[method] = (this.requestCounts[method] ?? 0) + 1;
      this.handle(req, res).catch(e => {
        if (!res.headersSent) {
          const err =
            e instanceof ApiError
              ? e
              : new ApiError(
                  500,
                  'InternalError',
                  `Internal error occurred: ${String(e?.message ?? e)}`,
                );
          this.sendJson(res, err.code, err.toStatus());
        } else {
          res.end();
        }
      });
    };
    const { cert, key } = servingCertificate();
    this.httpServer = http.createServer(handler);
    this.httpsServer = https.createServer({ cert, key }, handler);
    this.httpServer.keepAliveTimeout = 65_000;
    this.httpsServer.keepAliveTimeout = 65_000;
    // One port for both: a TLS ClientHello starts with 0x16, plain HTTP with a method name.
    const server = net.createServer(socket => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.once('data', first => {
        socket.pause();
        if (first[0] !== 0x16) {
          socket.unshift(first);
          this.httpServer!.emit('connection', socket);
          socket.resume();
          return;
        }
        // TLS reads from the socket's handle directly, bypassing unshift; hand
        // it a stream that replays the first chunk instead.
        const stream = new Duplex({
          read() {
            socket.resume();
          },
          write(chunk, encoding, callback) {
            socket.write(chunk, encoding, callback);
          },
          final(callback) {
            socket.end();
            callback();
          },
          destroy(error, callback) {
            socket.destroy(error ?? undefined);
            callback(error);
          },
        });
        stream.push(first);
        socket.on('data', chunk => {
          if (!stream.push(chunk)) socket.pause();
        });
        socket.on('end', () => stream.push(null));
        socket.on('close', () => stream.destroy());
        this.httpsServer!.emit('connection', stream);
      });
      socket.on('error', () => socket.destroy());
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(
        this.options.port ?? 0,
        this.options.host ?? '127.0.0.1',
        () => resolve(),
      );
    });
    const { port } = server.address() as AddressInfo;
    const host = this.options.host ?? '127.0.0.1';
    this.url = `http://${host}:${port}`;
    this.tlsUrl = `https://${host}:${port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    for (const end of [...this.watches]) end();
    const server = this.server;
    if (!server) return;
    const closed = new Promise<void>(resolve => server.close(() => resolve()));
    this.httpServer?.closeAllConnections();
    this.httpsServer?.closeAllConnections();
    for (const socket of this.sockets) socket.destroy();
    await closed;
    this.server = undefined;
  }

  private get store() {
    return this.options.store;
  }

  private sendJson(res: http.ServerResponse, code: number, body: unknown) {
    const text = JSON.stringify(body);
    res.writeHead(code, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-cache, private',
    });
    res.end(text);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';

    if (['/healthz', '/readyz', '/livez'].includes(path)) {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('ok');
      return;
    }
    if (this.options.requireToken !== false) {
      const auth = req.headers.authorization ?? '';
      if (!/^Bearer\s+\S+/i.test(auth)) throw unauthorized();
    }
    if (method === 'GET') {
      const discovery = this.discovery(path);
      if (discovery) {
        this.sendJson(res, 200, discovery);
        return;
      }
    }
    const target = this.parseResourcePath(path);
    if (!target) throw resourceNotFound();
    await this.handleResource(req, res, url, method, target);
  }

  private discovery(path: string): object | undefined {
    if (path === '/version') return SERVER_VERSION;
    if (path === '/openapi/v3') return openApiV3Root();
    if (path.startsWith('/openapi/v3/')) {
      return openApiV3GroupVersion(path.slice('/openapi/v3/'.length));
    }
    if (path === '/api') {
      return {
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [
          {
            clientCIDR: '0.0.0.0/0',
            serverAddress: this.url.replace(/^http:\/\//, ''),
          },
        ],
      };
    }
    if (path === '/api/v1') return apiResourceList('', 'v1');
    const groupEntry = (g: { name: string; versions: string[] }) => ({
      name: g.name,
      versions: g.versions.map(v => ({
        groupVersion: `${g.name}/${v}`,
        version: v,
      })),
      preferredVersion: {
        groupVersion: `${g.name}/${g.versions[0]}`,
        version: g.versions[0],
      },
    });
    if (path === '/apis') {
      return {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: groupsServed().map(groupEntry),
      };
    }
    const m = /^\/apis\/([^/]+)(?:\/([^/]+))?$/.exec(path);
    if (m) {
      const g = groupsServed().find(x => x.name === m[1]);
      if (!g) return undefined;
      if (!m[2])
        return { kind: 'APIGroup', apiVersion: 'v1', ...groupEntry(g) };
      if (!g.versions.includes(m[2])) return undefined;
      return apiResourceList(g.name, m[2]);
    }
    return undefined;
  }

  private parseResourcePath(path: string): ResourceRequest | undefined {
    let group: string;
    let version: string;
    let rest: string[];
    const segs = path.split('/').filter(Boolean).map(decodeURIComponent);
    if (segs[0] === 'api' && segs.length >= 3) {
      group = '';
      version = segs[1];
      rest = segs.slice(2);
    } else if (segs[0] === 'apis' && segs.length >= 4) {
      group = segs[1];
      version = segs[2];
      rest = segs.slice(3);
    } else {
      return undefined;
    }
    let namespace: string | undefined;
    let plural: string;
    let name: string | undefined;
    let sub: string | undefined;
    const namespaceSubresource =
      group === '' &&
      rest.length === 3 &&
      ['status', 'finalize'].includes(rest[2]);
    if (rest[0] === 'namespaces' && rest.length >= 3 && !namespaceSubresource) {
      namespace = rest[1];
      [plural, name, sub] = rest.slice(2);
      if (rest.length > 5) return undefined;
    } else {
      [plural, name, sub] = rest;
      if (rest.length > 3) return undefined;
    }
    const rt = findResourceType(group, version, plural);
    if (!rt) return undefined;
    if (rt.namespaced && name !== undefined && namespace === undefined)
      return undefined;
    if (!rt.namespaced && namespace !== undefined) return undefined;
    if (sub !== undefined && !(rt.subresources as string[]).includes(sub))
      return undefined;
    return {
      rt,
      version,
      namespace,
      name,
      subresource: sub as ResourceRequest['subresource'],
    };
  }

  private present(
    rt: ResourceType,
    version: string,
    obj: K8sObject,
  ): K8sObject {
    return {
      ...obj,
      apiVersion: groupVersion(rt.group, version),
      kind: rt.kind,
    };
  }

  private toScale(obj: K8sObject): K8sObject {
    return {
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: {
        name: obj.metadata.name,
        namespace: obj.metadata.namespace,
        uid: obj.metadata.uid,
        resourceVersion: obj.metadata.resourceVersion,
        creationTimestamp: obj.metadata.creationTimestamp,
      },
      spec: { replicas: obj.spec?.replicas ?? 0 },
      status: {
        replicas: obj.status?.replicas ?? 0,
        selector: selectorObjectToString(obj.spec?.selector),
      },
    };
  }

  private async handleResource(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
    method: string,
    target: ResourceRequest,
  ) {
    const { rt, version, namespace, name, subresource } = target;
    const q = url.searchParams;
    const watch = q.get('watch') === 'true' || q.get('watch') === '1';
    let verb: string;
    if (method === 'GET' && name) verb = 'get';
    else if (method === 'GET') verb = watch ? 'watch' : 'list';
    else if (method === 'POST') verb = 'create';
    else if (method === 'PUT') verb = 'update';
    else if (method === 'PATCH') verb = 'patch';
    else if (method === 'DELETE') verb = name ? 'delete' : 'deletecollection';
    else throw methodNotAllowed();
    if (
      (verb === 'create' && name) ||
      (!name && ['update', 'patch'].includes(verb))
    ) {
      throw methodNotAllowed();
    }
    if (subresource && !['get', 'update', 'patch'].includes(verb))
      throw methodNotAllowed();

    const resource = subresource ? `${rt.plural}/${subresource}` : rt.plural;
    const fault = this.options.faults.take(verb, resource, namespace, name);
    if (fault !== undefined) throw injected(fault, rt, name ?? '');

    const dryRun = q.getAll('dryRun').includes('All');
    const accept = String(req.headers.accept ?? '');
    const asTable = /as=Table/.test(accept) && !subresource;
    const include = (q.get('includeObject') as IncludeObject) || 'Metadata';
    const rv = () => String(this.store.currentResourceVersion());

    const respond = (code: number, obj: K8sObject) => {
      if (subresource === 'scale') {
        this.sendJson(res, code, this.toScale(obj));
      } else if (asTable && verb === 'get') {
        this.sendJson(
          res,
          code,
          toTable(rt, [this.present(rt, version, obj)], rv(), include),
        );
      } else {
        this.sendJson(res, code, this.present(rt, version, obj));
      }
    };

    switch (verb) {
      case 'get': {
        respond(200, this.store.mustGet(rt, namespace, name!));
        return;
      }
      case 'list': {
        const filter = this.filter(rt, namespace, q);
        const items = this.store
          .list(rt, namespace)
          .filter(filter)
          .map(o => this.present(rt, version, o));
        if (asTable) {
          this.sendJson(res, 200, toTable(rt, items, rv(), include));
        } else {
          this.sendJson(res, 200, {
            kind: `${rt.kind}List`,
            apiVersion: groupVersion(rt.group, version),
            metadata: { resourceVersion: rv() },
            items,
          });
        }
        return;
      }
      case 'watch':
        this.watch(req, res, target, q, asTable, include);
        return;
      case 'create': {
        const body = await this.body(req);
        const created = this.store.create(rt, namespace, body, { dryRun });
        respond(201, created);
        return;
      }
      case 'update': {
        const body = await this.body(req);
        if (subresource === 'scale') {
          const current = this.store.mustGet(rt, namespace, name!);
          const scaleRv = body?.metadata?.resourceVersion;
          if (scaleRv && scaleRv !== current.metadata.resourceVersion)
            throw conflict(rt, name!);
          respond(
            200,
            this.setReplicas(rt, current, body?.spec?.replicas, dryRun),
          );
          return;
        }
        const updated = this.store.update(rt, namespace, name!, body, {
          subresource: subresource === 'status' ? 'status' : undefined,
          dryRun,
        });
        respond(200, updated);
        return;
      }
      case 'patch': {
        const result = await this.patch(req, target, dryRun);
        respond(result.created ? 201 : 200, result.object);
        return;
      }
      case 'delete': {
        let options: any = {};
        const text = await readBody(req);
        if (text.trim()) {
          try {
            options = JSON.parse(text);
          } catch (e) {
            throw badRequest(
              `error decoding DeleteOptions: ${(e as Error).message}`,
            );
          }
        }
        const deleted = this.store.delete(rt, namespace, name!, {
          dryRun: dryRun || (options.dryRun ?? []).includes('All'),
          preconditions: options.preconditions,
        });
        if (rt.kind === 'Pod') {
          respond(200, deleted);
        } else {
          this.sendJson(res, 200, {
            kind: 'Status',
            apiVersion: 'v1',
            metadata: {},
            status: 'Success',
            details: {
              name: deleted.metadata.name,
              ...(rt.group ? { group: rt.group } : {}),
              kind: rt.plural,
              uid: deleted.metadata.uid,
            },
          });
        }
        return;
      }
      case 'deletecollection': {
        const filter = this.filter(rt, namespace, q);
        const deleted = this.store
          .list(rt, namespace)
          .filter(filter)
          .map(o =>
            this.store.delete(rt, o.metadata.namespace, o.metadata.name, {
              dryRun,
            }),
          );
        this.sendJson(res, 200, {
          kind: `${rt.kind}List`,
          apiVersion: groupVersion(rt.group, version),
          metadata: { resourceVersion: rv() },
          items: deleted.map(o => this.present(rt, version, o)),
        });
        return;
      }
      default:
        throw methodNotAllowed();
    }
  }

  private async body(req: http.IncomingMessage): Promise<any> {
    const contentType = String(req.headers['content-type'] ?? '');
    if (contentType.includes('protobuf') || contentType.includes('cbor')) {
      // kubectl's typed `create` subcommands send protobuf; simple kinds are decoded.
      const raw = await readBodyBuffer(req);
      try {
        return decodeProtobufObject(raw);
      } catch (e) {
        if (e instanceof ProtobufUnsupportedError) {
          throw new ApiError(
            415,
            'UnsupportedMediaType',
            `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (${e.message}; use kubectl apply)`,
          );
        }
        throw badRequest(
          `the body of the request could not be decoded: ${
            (e as Error).message
          }`,
        );
      }
    }
    const text = await readBody(req);
    try {
      return parseBody(text, String(req.headers['content-type'] ?? ''));
    } catch (e) {
      throw badRequest(
        `the body of the request could not be decoded: ${(e as Error).message}`,
      );
    }
  }

  private setReplicas(
    rt: ResourceType,
    current: K8sObject,
    replicas: unknown,
    dryRun: boolean,
  ) {
    if (
      typeof replicas !== 'number' ||
      !Number.isInteger(replicas) ||
      replicas < 0
    ) {
      throw invalid(rt, current.metadata.name, [
        {
          field: 'spec.replicas',
          reason: 'FieldValueInvalid',
          message: `Invalid value: ${JSON.stringify(
            replicas,
          )}: must be greater than or equal to 0`,
        },
      ]);
    }
    const next = clone(current);
    next.spec = { ...(next.spec ?? {}), replicas };
    return this.store.update(
      rt,
      current.metadata.namespace,
      current.metadata.name,
      next,
      { dryRun },
    );
  }

  private async patch(
    req: http.IncomingMessage,
    target: ResourceRequest,
    dryRun: boolean,
  ): Promise<{ object: K8sObject; created: boolean }> {
    const { rt, namespace, name, subresource } = target;
    const contentType = String(req.headers['content-type'] ?? '')
      .split(';')[0]
      .trim();
    const known = [
      'application/json-patch+json',
      'application/merge-patch+json',
      'application/strategic-merge-patch+json',
      'application/apply-patch+yaml',
    ];
    if (!known.includes(contentType)) throw unsupportedMediaType();
    if (
      contentType === 'application/strategic-merge-patch+json' &&
      !rt.builtIn
    ) {
      throw unsupportedMediaType();
    }
    const text = await readBody(req);
    let patch: any;
    try {
      patch = parseBody(
        text,
        contentType === 'application/apply-patch+yaml' ? 'yaml' : 'json',
      );
    } catch (e) {
      throw badRequest(`error decoding patch: ${(e as Error).message}`);
    }
    const current = this.store.get(rt, namespace, name!);
    if (contentType === 'application/apply-patch+yaml') {
      if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
        throw badRequest('error decoding patch: apply patch must be an object');
      }
      if (!current) {
        return {
          object: this.store.create(
            rt,
            namespace,
            { ...patch, metadata: { ...(patch.metadata ?? {}), name } },
            { dryRun },
          ),
          created: true,
        };
      }
    }
    if (!current) throw notFound(rt, name!);

    const base = subresource === 'scale' ? this.toScale(current) : current;
    let patched: any;
    try {
      switch (contentType) {
        case 'application/json-patch+json':
          try {
            validateJsonPatch(patch);
          } catch (e) {
            throw badRequest(`error decoding patch: ${(e as Error).message}`);
          }
          patched = jsonPatch(base, patch);
          break;
        case 'application/merge-patch+json':
          if (
            typeof patch !== 'object' ||
            patch === null ||
            Array.isArray(patch)
          ) {
            throw badRequest(
              'error decoding patch: a merge patch must be a JSON object',
            );
          }
          patched = mergePatch(base, patch);
          break;
        default:
          if (
            typeof patch !== 'object' ||
            patch === null ||
            Array.isArray(patch)
          ) {
            throw badRequest(
              'error decoding patch: a strategic merge patch must be a JSON object',
            );
          }
          patched = rt.builtIn
            ? strategicMergePatch(base, patch)
            : mergePatch(base, patch);
      }
    } catch (e) {
      if (e instanceof PatchApplyError) {
        throw new ApiError(
          422,
          'Invalid',
          `the server rejected our request due to an error in our request: ${e.message}`,
          {},
        );
      }
      throw e;
    }
    if (
      typeof patched !== 'object' ||
      patched === null ||
      Array.isArray(patched)
    ) {
      throw new ApiError(
        422,
        'Invalid',
        'the patched object is not an object',
        {},
      );
    }
    const patchedRv = patched.metadata?.resourceVersion;
    if (
      patchedRv !== undefined &&
      patchedRv !== current.metadata.resourceVersion
    ) {
      throw conflict(rt, name!);
    }
    if (subresource === 'scale') {
      return {
        object: this.setReplicas(rt, current, patched.spec?.replicas, dryRun),
        created: false,
      };
    }
    if (
      patched.metadata?.name !== undefined &&
      patched.metadata.name !== name
    ) {
      throw invalid(rt, name!, [
        {
          field: 'metadata.name',
          reason: 'FieldValueInvalid',
          message: `Invalid value: "${patched.metadata.name}": field is immutable`,
        },
      ]);
    }
    if (typeof patched.metadata !== 'object' || patched.metadata === null) {
      throw new ApiError(422, 'Invalid', 'metadata must be an object', {});
    }
    patched.metadata.resourceVersion = current.metadata.resourceVersion;
    return {
      object: this.store.update(rt, namespace, name!, patched, {
        subresource: subresource === 'status' ? 'status' : undefined,
        dryRun,
      }),
      created: false,
    };
  }

  private filter(
    rt: ResourceType,
    namespace: string | undefined,
    q: URLSearchParams,
  ) {
    let labelReqs: Requirement[] = [];
    try {
      labelReqs = parseLabelSelector(q.get('labelSelector') ?? '');
    } catch (e) {
      if (e instanceof SelectorParseError) throw badRequest(e.message);
      throw e;
    }
    const fieldReqs = parseFieldSelector(rt, q.get('fieldSelector') ?? '');
    return (o: K8sObject) =>
      (!namespace || !rt.namespaced || o.metadata.namespace === namespace) &&
      matchesRequirements(labelReqs, o.metadata.labels) &&
      matchesFields(fieldReqs, o);
  }

  private watch(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    target: ResourceRequest,
    q: URLSearchParams,
    asTable: boolean,
    include: IncludeObject,
  ) {
    const { rt, version, namespace } = target;
    const matches = this.filter(rt, namespace, q);
    const rvParam = q.get('resourceVersion') ?? '';
    // Decide the replay before writing headers, so a too-old version is a 410.
    let replay: Array<{ type: string; object: K8sObject }> = [];
    const bookmarks = q.get('allowWatchBookmarks') === 'true' && !asTable;
    const initialEvents = q.get('sendInitialEvents') === 'true';
    if (rvParam === '' || rvParam === '0' || initialEvents) {
      replay = this.store
        .list(rt, namespace)
        .filter(matches)
        .map(object => ({ type: 'ADDED', object }));
    } else {
      const since = Number(rvParam);
      if (!Number.isFinite(since))
        throw badRequest(`invalid resource version: ${rvParam}`);
      let events: StoreEvent[] = [];
      try {
        events = this.store.eventsSince(since);
      } catch (e) {
        if (e instanceof ApiError && e.code === 410) {
          res.writeHead(200, {
            'Content-Type': 'application/json',
            'Transfer-Encoding': 'chunked',
          });
          res.write(
            `${JSON.stringify({ type: 'ERROR', object: e.toStatus() })}\n`,
          );
          res.end();
          return;
        }
        throw e;
      }
      replay = events
        .filter(e => e.rt === rt)
        .map(e => this.translate(e, matches))
        .filter((e): e is { type: string; object: K8sObject } => !!e);
    }
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Transfer-Encoding': 'chunked',
      'Cache-Control': 'no-cache, private',
    });
    res.flushHeaders();
    let first = true;
    const send = (type: string, object: K8sObject) => {
      const shown = this.present(rt, version, object);
      const payload = asTable
        ? toTable(rt, [shown], object.metadata.resourceVersion, include, first)
        : shown;
      first = false;
      res.write(`${JSON.stringify({ type, object: payload })}\n`);
    };
    const bookmark = (annotations?: Record<string, string>) =>
      res.write(
        `${JSON.stringify({
          type: 'BOOKMARK',
          object: {
            kind: rt.kind,
            apiVersion: groupVersion(rt.group, version),
            metadata: {
              resourceVersion: String(this.store.currentResourceVersion()),
              ...(annotations ? { annotations } : {}),
            },
          },
        })}\n`,
      );
    for (const e of replay) send(e.type, e.object);
    // The streaming-list protocol: a bookmark marks the end of the initial state.
    if (initialEvents && bookmarks)
      bookmark({ 'k8s.io/initial-events-end': 'true' });
    const unsubscribe = this.store.subscribe(e => {
      if (e.rt !== rt) return;
      const t = this.translate(e, matches);
      if (t) send(t.type, t.object);
    });
    let timer: NodeJS.Timeout | undefined;
    // Bookmarks keep a quiet watcher's resourceVersion recent, so it can resume after a disconnect.
    const ticker = bookmarks
      ? setInterval(() => bookmark(), 10_000)
      : undefined;
    const end = () => {
      unsubscribe();
      if (timer) clearTimeout(timer);
      if (ticker) clearInterval(ticker);
      this.watches.delete(end);
      if (!res.writableEnded) res.end();
    };
    this.watches.add(end);
    const timeout = Number(q.get('timeoutSeconds') ?? '0');
    if (timeout > 0) timer = setTimeout(end, timeout * 1000);
    req.on('close', end);
    res.on('close', end);
  }

  /** A change as one watcher with a filter sees it: objects entering or leaving the filter are ADDED or DELETED. */
  private translate(e: StoreEvent, matches: (o: K8sObject) => boolean) {
    if (e.type !== 'MODIFIED') {
      return matches(e.object) ? { type: e.type, object: e.object } : undefined;
    }
    const was = e.old ? matches(e.old) : false;
    const is = matches(e.object);
    if (was && is) return { type: 'MODIFIED', object: e.object };
    if (is) return { type: 'ADDED', object: e.object };
    if (was) return { type: 'DELETED', object: e.object };
    return undefined;
  }
}
