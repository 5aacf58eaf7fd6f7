import { mockServices } from '@backstage/backend-test-utils';
import { randomUUID } from 'crypto';
import type {
  RolloutControl,
  RolloutPhase,
} from '@coalmine/backstage-plugin-canary-common';
import { RolloutStore } from '../../store/RolloutStore';
import type { RolloutRecord } from '../../domain/types';
import type { RolloutCommands } from '../../service/router';

const component = (name: string, owner: string) => ({
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: {
    name,
    namespace: 'default',
    annotations: {
      'coalmine.io/policy': 'standard',
      'backstage.io/kubernetes-id': name,
      'backstage.io/kubernetes-namespace': 'shop',
    },
  },
  spec: { type: 'service', lifecycle: 'production', owner },
});

/** jane's component. */
export const checkout = component('checkout', 'user:default/jane');
/** The platform team's component. */
export const storefront = component('storefront', 'group:default/platform');

/** An auditor that keeps every event with its outcome and meta. */
export function recordingAuditor() {
  const service = mockServices.auditor.mock();
  const events: Array<Record<string, any>> = [];
  service.createEvent.mockImplementation(async opts => {
    const entry: Record<string, any> = { eventId: opts.eventId, ...opts.meta };
    events.push(entry);
    return {
      success: async () => {
        entry.outcome = 'success';
      },
      fail: async () => {
        entry.outcome = 'fail';
      },
    };
  });
  return { service, events };
}

/**
 * The engine's side of the use cases without a cluster: starts write a
 * Pending rollout to the real store, controls move the phase the way the
 * engine's first step would.
 */
export class FakeCommands implements RolloutCommands {
  constructor(private readonly store: RolloutStore) {}

  async startFor(
    entityRef: string,
    startedBy: string,
    image?: string,
    steps: RolloutRecord['steps'] = [
      { weight: 10 },
      { weight: 50 },
      { weight: 100 },
    ],
  ) {
    const now = Date.now();
    const record: RolloutRecord = {
      id: randomUUID(),
      entityRef,
      cluster: 'sandbox',
      namespace: 'shop',
      workload: entityRef.split('/')[1],
      policy: 'standard',
      trafficProvider: 'istio',
      phase: 'Pending',
      stepIndex: -1,
      weight: 0,
      actualWeight: null,
      steps,
      stable: { name: 'v1', version: 'v1' },
      canary: { name: 'v2', ...(image ? { image } : {}), version: 'v2' },
      message: null,
      spec: { policy: { webhooks: [] }, request: { image } } as any,
      state: {},
      intent: null,
      startedBy,
      createdAt: now,
      updatedAt: now,
      finishedAt: null,
      nextStepAt: null,
      nextRunAt: null,
      version: 0,
    };
    await this.store.insert(record, [
      { type: 'phase', message: 'Started', actor: startedBy },
    ]);
    return record;
  }

  start: RolloutCommands['start'] = async request =>
    this.startFor(
      request.resolved.target.entityRef,
      request.startedBy,
      request.image,
    );

  async control(
    id: string,
    control: Exclude<RolloutControl, 'retry'>,
    actor: string,
  ) {
    const r = (await this.store.get(id))!;
    const next = { promote: 'Promoting', abort: 'Aborted' } as const;
    const to: RolloutPhase =
      control in next ? next[control as keyof typeof next] : 'Progressing';
    return (await this.store.commit(
      id,
      r.version,
      { phase: to },
      { events: [{ type: 'control', message: control, actor }] },
    ))!;
  }

  series: RolloutCommands['series'] = async () => [];
  inspect: RolloutCommands['inspect'] = async () => [];

  pods: RolloutCommands['pods'] = async () => ({});
}
