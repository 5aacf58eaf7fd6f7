import { K8sObject, ObjectStore } from '../api/store';
import { kindType as rt } from '../api/resourceTypes';
import { ReconcileLoop } from './loop';

/**
 * A stand-in for the HorizontalPodAutoscaler controller
 * (`autoscaling/v2`), for what a rollout meets beside one: every sync it
 * holds its Deployment's `spec.replicas` within `minReplicas` (default 1)
 * and `maxReplicas`, through the object as the real controller does through
 * the scale subresource. The sandbox's pods report no CPU or memory, so
 * the metrics always read at their target: the count is left as it is when
 * within the bounds (the real controller's ratio 1.0), and a Deployment
 * scaled to zero is left alone (autoscaling is off at 0 replicas). The
 * status says what it decided, as `kubectl get hpa` shows it.
 */
export class HorizontalPodAutoscalers extends ReconcileLoop {
  constructor(private readonly store: ObjectStore, syncMs = 1000) {
    super(syncMs);
  }

  protected async reconcileOnce(): Promise<void> {
    for (const hpa of this.store.list(rt('HorizontalPodAutoscaler'))) {
      try {
        this.sync(hpa);
      } catch {
        // A concurrent write won the race; the next sync tries again.
      }
    }
  }

  private sync(hpa: K8sObject) {
    const ns = hpa.metadata.namespace;
    const ref = hpa.spec?.scaleTargetRef ?? {};
    if (ref.kind !== 'Deployment' || typeof ref.name !== 'string') return;
    const deployment = this.store.get(rt('Deployment'), ns, ref.name);
    if (!deployment) return;
    const current: number = deployment.spec?.replicas ?? 1;
    const min: number = hpa.spec?.minReplicas ?? 1;
    const max: number = hpa.spec?.maxReplicas ?? current;
    const desired = current === 0 ? 0 : Math.min(max, Math.max(min, current));
    let lastScaleTime = hpa.status?.lastScaleTime;
    if (desired !== current) {
      this.store.update(rt('Deployment'), ns, ref.name, {
        ...deployment,
        spec: { ...deployment.spec, replicas: desired },
      });
      lastScaleTime = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    }
    const status = {
      ...(lastScaleTime ? { lastScaleTime } : {}),
      currentReplicas: current,
      desiredReplicas: desired,
    };
    if (JSON.stringify(status) !== JSON.stringify(hpa.status ?? {})) {
      this.store.update(
        rt('HorizontalPodAutoscaler'),
        ns,
        hpa.metadata.name,
        { ...hpa, status },
        { subresource: 'status' },
      );
    }
  }
}
