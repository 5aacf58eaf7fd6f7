import { mockServices } from '@backstage/backend-test-utils';
import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { Knex } from 'knex';
import {
  PolicyConfig,
  policyConfigSchema,
  toPolicy,
} from '../../config/policy';
import type { ResolvedTarget } from '../../config/resolveTarget';
import { RolloutStore } from '../../store/RolloutStore';
import { WebhookDispatcher } from '../../webhooks/WebhookDispatcher';
import { RolloutEngine } from '../RolloutEngine';
import { RolloutService } from '../../service/RolloutService';
import type { ClusterAccess, RolloutAnalyzer } from '../../domain/ports';

export const migrationsDir = resolvePackagePath(
  '@coalmine/backstage-plugin-canary-backend',
  'migrations',
);

/** A policy from config-shaped input, validated like app-config. */
export function policy(name: string, input: Record<string, unknown>) {
  return toPolicy(name, policyConfigSchema.parse(input) as PolicyConfig);
}

export function resolved(
  entityRef: string,
  input: Record<string, unknown>,
  workload = 'app',
): ResolvedTarget {
  const p = policy('test', input);
  return {
    policy: p,
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
  } = {},
) {
  const store = await RolloutStore.create(db, migrationsDir);
  const logger = mockServices.logger.mock();
  const engine = new RolloutEngine({
    store,
    clusters,
    analyzer: options.analyzer,
    webhooks: new WebhookDispatcher(logger, 10),
    logger,
    owner: options.owner,
    leaseMs: options.leaseMs ?? 30_000,
    clusterBackoffMs: 1000,
    // The hand-moved clock advances by whole seconds: look at canaries as often.
    watchMs: 1000,
    now: options.clock?.now,
  });
  const service = new RolloutService(store, engine);
  return { store, engine, service, logger };
}
