/**
 * A small in-memory Kubernetes REST API for unit tests of the providers:
 * get / list / create / replace of namespaced objects with resourceVersion
 * conflicts, the Deployment scale subresource, /apis discovery, and injected
 * failures. It listens on 127.0.0.1 so the real @kubernetes/client-node talks
 * to it over HTTP. Integration tests use the sandbox cluster instead.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { ClusterClients } from '../ClusterClients';
import { parseManifests } from './seedManifests';

type Obj = {
  apiVersion?: string;
  kind?: string;
  metadata: Record<string, any>;
  spec?: any;
  status?: any;
};

const PLURALS: Record<string, string> = {
  Service: 'services',
  Pod: 'pods',
  Deployment: 'deployments',
  Ingress: 'ingresses',
  VirtualService: 'virtualservices',
  DestinationRule: 'destinationrules',
  HTTPRoute: 'httproutes',
  TrafficSplit: 'trafficsplits',
};
const GROUP_VERSIONS: Record<string, string> = {
  'networking.istio.io': 'v1',
  'gateway.networking.k8s.io': 'v1',
  'split.smi-spec.io': 'v1alpha4',
};

export interface Fault {
  method: string;
  plural: string;
  status: number;
  count: number;
}

function statusBody(code: number, message: string, reason: string) {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    status: 'Failure',
    message,
    reason,
    code,
  };
}

export class FakeKubernetesApi {
  private readonly objects = new Map<string, Obj>();
  private readonly faults: Fault[] = [];
  private version = 100;
  readonly writes: Array<{ method: string; path: string; body?: any }> = [];
  private server?: http.Server;
  url = '';

  private key(group: string, plural: string, ns: string, name: string) {
    return `${group}/${plural}/${ns}/${name}`;
  }

  /** Loads YAML manifests into namespace `ns` (or their own). */
  apply(yaml: string, ns = 'demo'): void {
    for (const doc of parseManifests<Obj>(yaml)) {
      const [group] = (doc.apiVersion ?? 'v1').includes('/')
        ? doc.apiVersion!.split('/')
        : [''];
      doc.metadata.namespace = doc.metadata.namespace ?? ns;
      doc.metadata.resourceVersion = String(++this.version);
      doc.metadata.generation = 1;
      this.objects.set(
        this.key(
          group,
          PLURALS[doc.kind!],
          doc.metadata.namespace,
          doc.metadata.name,
        ),
        doc,
      );
    }
  }

  get(kind: string, ns: string, name: string): Obj | undefined {
    for (const [k, v] of this.objects) {
      if (k.endsWith(`/${PLURALS[kind]}/${ns}/${name}`)) return v;
    }
    return undefined;
  }

  /** Changes an object as someone else would (bumps resourceVersion). */
  mutate(kind: string, ns: string, name: string, change: (o: Obj) => void) {
    const o = this.get(kind, ns, name)!;
    change(o);
    o.metadata.resourceVersion = String(++this.version);
  }

  failNext(fault: Fault): void {
    this.faults.push({ ...fault });
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      let raw = '';
      req.on('data', c => (raw += c));
      req.on('end', () => {
        const { status, body } = this.handle(req.method!, req.url!, raw);
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      });
    });
    await new Promise<void>(r =>
      this.server!.listen(0, '127.0.0.1', () => r()),
    );
    this.url = `http://127.0.0.1:${
      (this.server.address() as AddressInfo).port
    }`;
  }

  async stop(): Promise<void> {
    await new Promise(r => this.server?.close(r));
  }

  clients(): ClusterClients {
    return new ClusterClients([
      {
        name: 'fake',
        url: this.url,
        authProvider: 'serviceAccount',
        serviceAccountToken: 'fake-token',
        skipTLSVerify: true,
      },
    ]);
  }

  private handle(
    method: string,
    rawUrl: string,
    raw: string,
  ): { status: number; body: any } {
    const url = new URL(rawUrl, 'http://x');
    const parts = url.pathname
      .split('/')
      .filter(Boolean)
      .map(decodeURIComponent);
    if (url.pathname === '/apis') {
      return {
        status: 200,
        body: {
          kind: 'APIGroupList',
          groups: Object.entries(GROUP_VERSIONS).map(([name, version]) => ({
            name,
            versions: [{ groupVersion: `${name}/${version}`, version }],
            preferredVersion: { groupVersion: `${name}/${version}`, version },
          })),
        },
      };
    }
    let group: string;
    let rest: string[];
    if (parts[0] === 'api') {
      group = '';
      rest = parts.slice(2);
    } else {
      group = parts[1];
      rest = parts.slice(3);
    }
    const [, ns, plural, name, sub] = rest;
    const fault = this.faults.find(
      f => f.count > 0 && f.method === method && f.plural === plural,
    );
    if (fault) {
      fault.count--;
      return {
        status: fault.status,
        body: statusBody(
          fault.status,
          'injected',
          fault.status === 409 ? 'Conflict' : 'InternalError',
        ),
      };
    }
    const key = name ? this.key(group, plural, ns, name) : '';
    const current = name ? this.objects.get(key) : undefined;
    if (method === 'GET' && !name) {
      const selector = url.searchParams.get('labelSelector');
      const wanted = selector
        ? Object.fromEntries(selector.split(',').map(p => p.split('=')))
        : {};
      const items = [...this.objects.entries()]
        .filter(([k]) => k.startsWith(`${group}/${plural}/${ns}/`))
        .map(([, v]) => v)
        .filter(o =>
          Object.entries(wanted).every(
            ([k, v]) => o.metadata.labels?.[k] === v,
          ),
        );
      return { status: 200, body: { kind: 'List', metadata: {}, items } };
    }
    if (method === 'POST') {
      const body = JSON.parse(raw) as Obj;
      const k = this.key(group, plural, ns, body.metadata.name);
      if (this.objects.has(k)) {
        return {
          status: 409,
          body: statusBody(
            409,
            `${body.metadata.name} already exists`,
            'AlreadyExists',
          ),
        };
      }
      body.metadata.namespace = ns;
      body.metadata.resourceVersion = String(++this.version);
      body.metadata.generation = 1;
      this.objects.set(k, body);
      this.writes.push({ method, path: url.pathname, body });
      return { status: 201, body };
    }
    if (!current) {
      return {
        status: 404,
        body: statusBody(404, `${plural} "${name}" not found`, 'NotFound'),
      };
    }
    if (sub === 'scale') {
      if (method === 'GET') {
        return {
          status: 200,
          body: {
            apiVersion: 'autoscaling/v1',
            kind: 'Scale',
            metadata: {
              name,
              namespace: ns,
              resourceVersion: current.metadata.resourceVersion,
            },
            spec: { replicas: current.spec.replicas },
            status: { replicas: current.status?.replicas ?? 0 },
          },
        };
      }
      const body = JSON.parse(raw);
      if (
        body.metadata?.resourceVersion &&
        body.metadata.resourceVersion !== current.metadata.resourceVersion
      ) {
        return {
          status: 409,
          body: statusBody(409, 'the object has been modified', 'Conflict'),
        };
      }
      current.spec.replicas = body.spec.replicas;
      current.metadata.resourceVersion = String(++this.version);
      current.metadata.generation++;
      this.writes.push({ method, path: url.pathname, body });
      return { status: 200, body };
    }
    if (method === 'GET') return { status: 200, body: current };
    if (method === 'PUT') {
      const body = JSON.parse(raw) as Obj;
      if (body.metadata.resourceVersion !== current.metadata.resourceVersion) {
        return {
          status: 409,
          body: statusBody(409, 'the object has been modified', 'Conflict'),
        };
      }
      body.metadata.resourceVersion = String(++this.version);
      body.metadata.generation = (current.metadata.generation ?? 1) + 1;
      body.status = current.status;
      this.objects.set(key, body);
      this.writes.push({ method, path: url.pathname, body });
      return { status: 200, body };
    }
    return {
      status: 405,
      body: statusBody(405, 'not supported here', 'MethodNotAllowed'),
    };
  }
}
