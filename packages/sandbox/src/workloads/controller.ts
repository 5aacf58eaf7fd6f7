import { createHash } from 'node:crypto';
import { ObjectStore, K8sObject, randomSuffix } from '../api/store';
import { kindType as rt } from '../api/resourceTypes';
import { sortKeys, withoutEmpty } from '../api/patch';
import { behaviourOf } from './behaviour';
import { isPodReady, podStatusAt } from './podStatus';

export interface WorkloadOptions {
  /** Time from pod creation to Ready; default 1000 ms. */
  readinessDelayMs?: number;
  /** Time between restarts of a crash-looping container; default 2 × readiness delay, at least 500 ms. */
  crashLoopRestartMs?: number;
  /** Time an OOM-prone container runs before it is killed; default 3000 ms. */
  oomAfterMs?: number;
}

const REVISION = 'deployment.kubernetes.io/revision';

const HASH_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** A pod-template-hash like the real controller's: 10 characters of a safe alphabet. */
export function templateHash(template: unknown): string {
  const digest = createHash('sha256')
    .update(JSON.stringify(sortKeys(withoutEmpty(template) ?? {})))
    .digest();
  let s = '';
  for (let i = 0; i < 10; i++)
    s += HASH_ALPHABET[digest[i] % HASH_ALPHABET.length];
  return s;
}

function ownedBy(obj: K8sObject, owner: K8sObject): boolean {
  return (obj.metadata.ownerReferences ?? []).some(
    (r: K8sObject) => r.uid === owner.metadata.uid && r.controller,
  );
}

function ownerRef(owner: K8sObject) {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}

/**
 * The Deployment and ReplicaSet controllers and the kubelet, in one loop:
 * Deployments get ReplicaSets per pod template, ReplicaSets get Pods, Pods
 * become ready (or crash, or get OOM-killed) as their template says.
 * A new template surges new pods and retires old ones as the new ones become
 * ready, so a rollout is observable and a crash-looping one gets stuck.
 */
export class WorkloadController {
  private timer?: NodeJS.Timeout;
  private scheduled = false;
  private running = false;
  private unsubscribe?: () => void;
  private readonly podIPs = new Map<string, string>();
  private nextIP = 1;
  readonly readinessDelayMs: number;
  private readonly crashLoopRestartMs: number;
  private readonly oomAfterMs: number;

  constructor(
    private readonly store: ObjectStore,
    options: WorkloadOptions = {},
  ) {
    this.readinessDelayMs = options.readinessDelayMs ?? 1000;
    this.crashLoopRestartMs =
      options.crashLoopRestartMs ?? Math.max(500, 2 * this.readinessDelayMs);
    this.oomAfterMs = options.oomAfterMs ?? 3000;
  }

  start(): void {
    const tickMs = Math.max(
      20,
      Math.min(100, Math.floor(this.readinessDelayMs / 5)),
    );
    this.timer = setInterval(() => this.reconcile(), tickMs);
    this.timer.unref?.();
    this.unsubscribe = this.store.subscribe(e => {
      if (e.rt.kind === 'Deployment' && e.type === 'DELETED') {
        this.progress.delete(e.object.metadata.uid);
      }
      if (e.rt.kind === 'Pod' && e.type === 'DELETED') {
        this.created.delete(e.object.metadata.uid);
        this.podIPs.delete(e.object.metadata.uid);
      }
      if (['Deployment', 'ReplicaSet', 'Pod'].includes(e.rt.kind)) {
        this.schedule();
      }
    });
    this.reconcile();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.unsubscribe?.();
  }

  private schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.reconcile();
    });
  }

  /** One pass over all workloads; safe to call any time. */
  reconcile(): void {
    if (this.running) return;
    this.running = true;
    try {
      const now = Date.now();
      for (const d of this.store.list(rt('Deployment')))
        this.reconcileDeployment(d);
      for (const rs of this.store.list(rt('ReplicaSet')))
        this.reconcileReplicaSet(rs, now);
      this.collectOrphans();
      for (const d of this.store.list(rt('Deployment')))
        this.updateDeploymentStatus(d);
    } finally {
      this.running = false;
    }
  }

  private tryWrite(write: () => void) {
    try {
      write();
    } catch {
      // A concurrent client write won the race; the next tick retries.
    }
  }

  private reconcileDeployment(d: K8sObject) {
    const ns = d.metadata.namespace;
    const hash = templateHash(d.spec.template);
    const all = this.store
      .list(rt('ReplicaSet'), ns)
      .filter(rs => ownedBy(rs, d));
    const desired = d.spec.replicas ?? 1;
    // The API server stamps the revision on every template change (see validation.ts).
    const revision = String(d.metadata.annotations?.[REVISION] ?? '1');
    let current = all.find(
      rs => rs.metadata.labels?.['pod-template-hash'] === hash,
    );
    if (!current) {
      const template = JSON.parse(JSON.stringify(d.spec.template));
      template.metadata = {
        ...(template.metadata ?? {}),
        labels: {
          ...(template.metadata?.labels ?? {}),
          'pod-template-hash': hash,
        },
      };
      this.tryWrite(() => {
        current = this.store.create(rt('ReplicaSet'), ns, {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          metadata: {
            name: `${d.metadata.name}-${hash}`,
            namespace: ns,
            labels: template.metadata.labels,
            annotations: {
              'deployment.kubernetes.io/desired-replicas': String(desired),
              [REVISION]: revision,
            },
            ownerReferences: [ownerRef(d)],
          },
          spec: {
            replicas: desired,
            selector: {
              ...d.spec.selector,
              matchLabels: {
                ...(d.spec.selector?.matchLabels ?? {}),
                'pod-template-hash': hash,
              },
            },
            template,
          },
        });
      });
      if (!current) return;
    } else if (
      current.spec.replicas !== desired ||
      current.metadata.annotations?.[REVISION] !== revision
    ) {
      // A rollback to an old template reuses its ReplicaSet under the new revision.
      const rs = current;
      this.tryWrite(() =>
        this.store.update(rt('ReplicaSet'), ns, rs.metadata.name, {
          ...rs,
          metadata: {
            ...rs.metadata,
            annotations: {
              ...(rs.metadata.annotations ?? {}),
              [REVISION]: revision,
            },
          },
          spec: { ...rs.spec, replicas: desired },
        }),
      );
    }
    // Old ReplicaSets keep serving until the new pods are ready.
    const newReady = this.store
      .list(rt('Pod'), ns)
      .filter(p => ownedBy(p, current!) && isPodReady(p)).length;
    let budget = Math.max(0, desired - newReady);
    const old = all
      .filter(rs => rs.metadata.uid !== current!.metadata.uid)
      .sort((a, b) =>
        b.metadata.creationTimestamp.localeCompare(
          a.metadata.creationTimestamp,
        ),
      );
    for (const rs of old) {
      const target = Math.min(rs.spec.replicas ?? 0, budget);
      budget -= target;
      if (target !== rs.spec.replicas) {
        this.tryWrite(() =>
          this.store.update(rt('ReplicaSet'), ns, rs.metadata.name, {
            ...rs,
            spec: { ...rs.spec, replicas: target },
          }),
        );
      }
    }
  }

  private podIP(uid: string): string {
    let ip = this.podIPs.get(uid);
    if (!ip) {
      const n = this.nextIP++;
      ip = `10.244.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`;
      this.podIPs.set(uid, ip);
    }
    return ip;
  }

  private reconcileReplicaSet(rs: K8sObject, now: number) {
    const ns = rs.metadata.namespace;
    const pods = this.store.list(rt('Pod'), ns).filter(p => ownedBy(p, rs));
    const desired = rs.spec.replicas ?? 0;
    for (let i = pods.length; i < desired; i++) {
      this.tryWrite(() => {
        const template = rs.spec.template ?? {};
        pods.push(
          this.store.create(rt('Pod'), ns, {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: {
              name: `${rs.metadata.name}-${randomSuffix(5)}`,
              generateName: `${rs.metadata.name}-`,
              namespace: ns,
              labels: template.metadata?.labels ?? {},
              annotations: template.metadata?.annotations,
              ownerReferences: [ownerRef(rs)],
            },
            spec: {
              ...(template.spec ?? {}),
              nodeName: 'sandbox-node',
              restartPolicy: template.spec?.restartPolicy ?? 'Always',
            },
          }),
        );
      });
    }
    if (pods.length > desired) {
      // Remove not-ready pods first, then the newest.
      const victims = [...pods]
        .sort((a, b) => {
          const ra = isPodReady(a) ? 1 : 0;
          const rb = isPodReady(b) ? 1 : 0;
          if (ra !== rb) return ra - rb;
          return b.metadata.creationTimestamp.localeCompare(
            a.metadata.creationTimestamp,
          );
        })
        .slice(0, pods.length - desired);
      for (const v of victims) {
        this.tryWrite(() => this.store.delete(rt('Pod'), ns, v.metadata.name));
        this.podIPs.delete(v.metadata.uid);
        this.created.delete(v.metadata.uid);
      }
    }
    const live = this.store.list(rt('Pod'), ns).filter(p => ownedBy(p, rs));
    for (const pod of live) {
      const behaviour = behaviourOf(pod.spec);
      const status = podStatusAt(
        pod,
        behaviour,
        {
          createdAt: this.createdAt(pod),
          readinessDelayMs: this.readinessDelayMs,
          crashLoopRestartMs: this.crashLoopRestartMs,
          oomAfterMs: this.oomAfterMs,
        },
        now,
        this.podIP(pod.metadata.uid),
      );
      if (!same(status, pod.status)) {
        this.tryWrite(() =>
          this.store.update(
            rt('Pod'),
            ns,
            pod.metadata.name,
            { ...pod, status },
            { subresource: 'status' },
          ),
        );
      }
    }
    const ready = live.filter(p => isPodReady(p)).length;
    const status = {
      replicas: live.length,
      fullyLabeledReplicas: live.length,
      readyReplicas: ready,
      availableReplicas: ready,
      observedGeneration: rs.metadata.generation,
    };
    if (!same(status, rs.status)) {
      this.tryWrite(() =>
        this.store.update(
          rt('ReplicaSet'),
          ns,
          rs.metadata.name,
          { ...rs, status },
          { subresource: 'status' },
        ),
      );
    }
  }

  /** Per Deployment: the last visible progress of its rollout and when it happened. */
  private readonly progress = new Map<string, { mark: string; at: number }>();

  /** Creation time with millisecond precision (the stored timestamp has seconds). */
  private readonly created = new Map<string, number>();
  private createdAt(pod: K8sObject): number {
    let t = this.created.get(pod.metadata.uid);
    if (t === undefined) {
      t = Date.now();
      this.created.set(pod.metadata.uid, t);
    }
    return t;
  }

  private collectOrphans() {
    const deployments = new Set(
      this.store.list(rt('Deployment')).map(d => d.metadata.uid),
    );
    const replicaSets = this.store.list(rt('ReplicaSet'));
    for (const rs of replicaSets) {
      const owner = (rs.metadata.ownerReferences ?? []).find(
        (r: K8sObject) => r.controller,
      );
      if (owner?.kind === 'Deployment' && !deployments.has(owner.uid)) {
        this.tryWrite(() =>
          this.store.delete(
            rt('ReplicaSet'),
            rs.metadata.namespace,
            rs.metadata.name,
          ),
        );
      }
    }
    const liveRs = new Set(
      this.store.list(rt('ReplicaSet')).map(r => r.metadata.uid),
    );
    for (const pod of this.store.list(rt('Pod'))) {
      const owner = (pod.metadata.ownerReferences ?? []).find(
        (r: K8sObject) => r.controller,
      );
      if (owner?.kind === 'ReplicaSet' && !liveRs.has(owner.uid)) {
        this.tryWrite(() =>
          this.store.delete(
            rt('Pod'),
            pod.metadata.namespace,
            pod.metadata.name,
          ),
        );
        this.created.delete(pod.metadata.uid);
        this.podIPs.delete(pod.metadata.uid);
      }
    }
  }

  private updateDeploymentStatus(d: K8sObject) {
    const ns = d.metadata.namespace;
    const hash = templateHash(d.spec.template);
    const rss = this.store
      .list(rt('ReplicaSet'), ns)
      .filter(rs => ownedBy(rs, d));
    const pods = this.store
      .list(rt('Pod'), ns)
      .filter(p => rss.some(rs => ownedBy(p, rs)));
    const current = rss.find(
      rs => rs.metadata.labels?.['pod-template-hash'] === hash,
    );
    const updated = current ? pods.filter(p => ownedBy(p, current)) : [];
    const ready = pods.filter(p => isPodReady(p)).length;
    const desired = d.spec.replicas ?? 1;
    const complete =
      updated.length === desired &&
      pods.length === desired &&
      ready === desired;
    const old = d.status ?? {};
    const condition = (
      type: string,
      status: string,
      reason: string,
      message: string,
    ) => {
      const prev = (old.conditions ?? []).find(
        (c: K8sObject) => c.type === type,
      );
      const unchanged =
        prev && prev.status === status && prev.reason === reason;
      const stamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      return {
        type,
        status,
        lastUpdateTime: unchanged ? prev.lastUpdateTime : stamp,
        lastTransitionTime:
          prev && prev.status === status ? prev.lastTransitionTime : stamp,
        reason,
        message,
      };
    };
    const available = ready >= desired;
    // Progress is any change in updated or ready pods; none for longer than
    // progressDeadlineSeconds while incomplete is ProgressDeadlineExceeded.
    const uid = d.metadata.uid;
    const mark = `${hash}/${updated.length}/${ready}/${pods.length}`;
    const seen = this.progress.get(uid);
    const now = Date.now();
    if (!seen || seen.mark !== mark) this.progress.set(uid, { mark, at: now });
    const sinceProgressMs = now - (this.progress.get(uid)?.at ?? now);
    const deadlineMs = (d.spec.progressDeadlineSeconds ?? 600) * 1000;
    const stalled = !complete && sinceProgressMs > deadlineMs;
    let progressing: [string, string, string];
    if (complete) {
      progressing = [
        'True',
        'NewReplicaSetAvailable',
        `ReplicaSet "${current?.metadata.name}" has successfully progressed.`,
      ];
    } else if (stalled) {
      progressing = [
        'False',
        'ProgressDeadlineExceeded',
        `ReplicaSet "${current?.metadata.name}" has timed out progressing.`,
      ];
    } else {
      progressing = [
        'True',
        'ReplicaSetUpdated',
        `ReplicaSet "${current?.metadata.name}" is progressing.`,
      ];
    }
    const status = {
      observedGeneration: d.metadata.generation,
      replicas: pods.length,
      updatedReplicas: updated.length,
      readyReplicas: ready,
      availableReplicas: ready,
      unavailableReplicas: Math.max(0, pods.length - ready),
      conditions: [
        condition(
          'Available',
          available ? 'True' : 'False',
          available ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
          available
            ? 'Deployment has minimum availability.'
            : 'Deployment does not have minimum availability.',
        ),
        condition('Progressing', ...progressing),
      ],
    };
    if (!same(status, old)) {
      this.tryWrite(() =>
        this.store.update(
          rt('Deployment'),
          ns,
          d.metadata.name,
          { ...d, status },
          { subresource: 'status' },
        ),
      );
    }
  }
}
