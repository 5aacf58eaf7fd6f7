/*
 * The demo world's objects kept on disk, so restarting `./dev demo` finds the
 * cluster as it was — canary Deployments, weights, annotations — next to the
 * backend's rollouts in the same folder. Pods and ReplicaSets are not kept:
 * the workload controller makes them again from the Deployments.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Sandbox } from './sandbox';
import { RESOURCE_TYPES } from './api/resourceTypes';

/** Kinds that are the cluster's desired state (the rest is derived from them). */
const KEPT_KINDS = [
  'Namespace',
  'Service',
  'ConfigMap',
  'Deployment',
  'Ingress',
  'VirtualService',
  'DestinationRule',
  'HTTPRoute',
  'TrafficSplit',
  'Canary',
  'Rollout',
];
const SYSTEM_NAMESPACES = [
  'default',
  'kube-system',
  'kube-public',
  'kube-node-lease',
];

function snapshot(sb: Sandbox) {
  return RESOURCE_TYPES.filter(rt => KEPT_KINDS.includes(rt.kind)).flatMap(rt =>
    sb.store
      .list(rt)
      .filter(
        o =>
          rt.kind !== 'Namespace' ||
          !SYSTEM_NAMESPACES.includes(o.metadata.name!),
      )
      .map(o => {
        const {
          resourceVersion,
          uid,
          creationTimestamp,
          generation,
          ...metadata
        } = o.metadata as Record<string, unknown>;
        return {
          apiVersion: o.apiVersion,
          kind: o.kind,
          metadata,
          ...(o.spec !== undefined ? { spec: o.spec } : {}),
          ...((o as { data?: unknown }).data !== undefined
            ? { data: (o as { data?: unknown }).data }
            : {}),
        };
      }),
  );
}

/** What keeps the demo state: whether it restored a previous run, and how to stop saving. */
export interface DemoState {
  restored: boolean;
  /** Saves what is pending and stops following changes. */
  stop(): void;
}

/**
 * Restores the objects saved by a previous run (`restored`), then saves every
 * change (debounced) until `stop()`. A save that fails is reported, never thrown.
 */
export async function keepDemoState(
  sb: Sandbox,
  file: string,
): Promise<DemoState> {
  let restored = false;
  if (fs.existsSync(file)) {
    try {
      const objects = JSON.parse(fs.readFileSync(file, 'utf8'));
      if (Array.isArray(objects) && objects.length > 0) {
        await sb.apply(objects);
        restored = true;
      }
    } catch (e) {
      process.stderr.write(
        `Could not restore the demo cluster from ${file} (${
          (e as Error).message
        }); starting fresh\n`,
      );
    }
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  let timer: NodeJS.Timeout | undefined;
  const save = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const tmp = `${file}.tmp`;
    try {
      fs.writeFileSync(tmp, JSON.stringify(snapshot(sb)));
      fs.renameSync(tmp, file);
    } catch (e) {
      process.stderr.write(
        `Could not save the demo cluster to ${file} (${
          (e as Error).message
        })\n`,
      );
    }
  };
  const unsubscribe = sb.store.subscribe(e => {
    if (!KEPT_KINDS.includes(e.rt.kind)) return;
    if (!timer) {
      timer = setTimeout(save, 500);
      timer.unref();
    }
  });
  const onExit = () => {
    if (timer) save();
  };
  process.on('exit', onExit);
  return {
    restored,
    stop() {
      unsubscribe();
      process.off('exit', onExit);
      if (timer) save();
    },
  };
}
