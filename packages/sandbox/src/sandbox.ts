import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ObjectStore, K8sObject } from './api/store';
import { ApiServer } from './api/server';
import { FaultInjector, FaultRule } from './api/faults';
import { findResourceTypeByKind } from './api/resourceTypes';
import { kubeconfigYaml } from './kubeconfig';
import { applyManifests } from './manifests';

export interface SandboxOptions {
  /** Port of the API server (HTTP and TLS on the same port); 0 picks a free one. */
  apiPort?: number;
  /** Bearer token written to the kubeconfig; any token is accepted. */
  token?: string;
  /** Accept requests without a token. */
  open?: boolean;
  /** Where the kubeconfig (and Prometheus data) go; a temp folder by default. */
  dir?: string;
}

export interface Sandbox {
  /** Plain HTTP URL of the API server. */
  apiUrl: string;
  /** The same server over TLS, as the kubeconfig has it. */
  apiTlsUrl: string;
  /** PEM of the API server's self-signed certificate. */
  caPem: string;
  token: string;
  kubeconfigPath: string;
  store: ObjectStore;
  apply(input: string | K8sObject | K8sObject[]): Promise<K8sObject[]>;
  writes(ref: { group?: string; kind: string; namespace?: string; name: string }): K8sObject[];
  failNext(rule: FaultRule): void;
  stop(): Promise<void>;
}

export async function startApiSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const store = new ObjectStore();
  const faults = new FaultInjector();
  const api = new ApiServer({
    store,
    faults,
    port: options.apiPort ?? 0,
    requireToken: !options.open,
  });
  await api.start();
  const token = options.token ?? 'sandbox-token';
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'coalmine-sandbox-'));
  fs.mkdirSync(dir, { recursive: true });
  const kubeconfigPath = path.join(dir, 'kubeconfig');
  fs.writeFileSync(
    kubeconfigPath,
    kubeconfigYaml({ server: api.tlsUrl, token, caPem: api.caPem }),
    { mode: 0o600 },
  );
  return {
    apiUrl: api.url,
    apiTlsUrl: api.tlsUrl,
    caPem: api.caPem,
    token,
    kubeconfigPath,
    store,
    async apply(input) {
      return applyManifests(store, input);
    },
    writes({ group, kind, namespace, name }) {
      const rt = findResourceTypeByKind(kind, group);
      if (!rt) throw new Error(`unknown kind ${kind}`);
      return store.writes(rt, namespace, name);
    },
    failNext(rule) {
      faults.add(rule);
    },
    async stop() {
      await api.stop();
      if (!options.dir) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
