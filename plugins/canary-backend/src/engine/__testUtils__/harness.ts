import { mockServices } from '@backstage/backend-test-utils';
import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { Knex } from 'knex';
import {
  PolicyConfig,
  WebhookSpec,
  policyConfigSchema,
  toPolicy,
  webhookSpecs,
} from '../../config/policy';
import { WorkloadBinding } from '../../binding';
import { FakeCluster } from './FakeCluster';
import type { ResolvedTarget } from '../../config/resolveTarget';
import { RolloutStore } from '../../store/RolloutStore';
import { WebhookDispatcher } from '../../webhooks/WebhookDispatcher';
import { WebhookOutbox } from '../../webhooks/outbox';
import { RolloutEngine } from '../RolloutEngine';
import { RolloutService } from '../../service/RolloutService';
import type { ClusterAccess, RolloutAnalyzer } from '../../domain/ports';

export const migrationsDir = resolvePackagePath(
  '@coalmine/backstage-plugin-canary-backend',
  'migrations',
);

/**
 * Webhooks as configured, by policy name: what the dispatcher of a test
 * engine reads at call time (rollouts keep only names and kinds).
 */
export const configuredWebhooks = new Map<string, WebhookSpec[]>();
let policyCount = 0;

/** A policy from config-shaped input, validated like app-config; its webhooks go to {@link configuredWebhooks}. */
export function policy(name: string, input: Record<string, unknown>) {
  const parsed = policyConfigSchema.parse(input) as PolicyConfig;
  configuredWebhooks.set(name, webhookSpecs(parsed));
  return toPolicy(name, parsed);
}

export function resolved(
  entityRef: string,
  input: Record<string, unknown>,
  workload = 'app',
): ResolvedTarget {
  const p = policy(`test-${++policyCount}`, input);
  return {
    policy: p,
    owners: ['group:default/team'],
    target: {
      entityRef,
      policy: p.name,
      clusters: ['c'],
      namespace: 'default',
      workload,
      trafficProvider: p.trafficProvider,
      steps: p.steps,
    },
  };
}

/** A clock tests move by hand. */
export class TestClock {
  constructor(public t = 1_700_000_000_000) {}
  now = () => this.t;
  advance(ms: number) {
    this.t += ms;
  }
}

export async function createEngine(
  db: Knex,
  clusters: ClusterAccess,
  options: {
    clock?: TestClock;
    analyzer?: RolloutAnalyzer;
    owner?: string;
    leaseMs?: number;
    analysisSampleMs?: number;
    bindingRecheckMs?: number;
    passDeadlineMs?: number;
  } = {},
) {
  const store = await RolloutStore.create(db, migrationsDir);
  const logger = mockServices.logger.mock();
  const webhooks = new WebhookDispatcher(
    logger,
    (policyName, hook) =>
      configuredWebhooks.get(policyName)?.find(h => h.name === hook),
    10,
  );
  const outbox = new WebhookOutbox({
    db,
    dispatcher: webhooks,
    logger,
    // The store stamps rows with the real clock, so the outbox runs on it too.
    recordEvents: (id, events) => store.addEvents(id, events),
  });
  const engine = new RolloutEngine({
    store,
    clusters,
    analyzer: options.analyzer,
    webhooks,
    binding: new WorkloadBinding({}, (clusters as FakeCluster).bindingReader()),
    logger,
    owner: options.owner,
    leaseMs: options.leaseMs ?? 30_000,
    clusterBackoffMs: 1000,
    // The hand-moved clock advances by whole seconds: look at canaries as often.
    watchMs: 1000,
    now: options.clock?.now,
    analysisSampleMs: options.analysisSampleMs,
    bindingRecheckMs: options.bindingRecheckMs,
    passDeadlineMs: options.passDeadlineMs,
  });
  const service = new RolloutService(store, engine);
  return { store, engine, service, logger, outbox };
}
