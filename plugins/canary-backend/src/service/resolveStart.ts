import { BackstageCredentials } from '@backstage/backend-plugin-api';
import {
  Entity,
  parseEntityRef,
  stringifyEntityRef,
} from '@backstage/catalog-model';
import { InputError, NotFoundError } from '@backstage/errors';
import { CatalogService } from '@backstage/plugin-catalog-node';
import { canaryRolloutCreatePermission } from '@coalmine/backstage-plugin-canary-common';
import { CanaryConfig } from '../config/CanaryConfig';
import {
  ResolvedTarget,
  ownersOf,
  resolveTarget,
} from '../config/resolveTarget';
import { RolloutAuthorizer } from './authorize';

/** What deciding whether a rollout may start needs. */
export interface StartResolutionDeps {
  catalog: Pick<CatalogService, 'getEntityByRef'>;
  authorizer: RolloutAuthorizer;
  config: CanaryConfig;
  /** Throws ConflictError when Flagger or Argo Rollouts manages the workload. */
  refuseStart?(entity: Entity, cluster: string): Promise<void>;
}

/** A start request that passed every check: what RolloutCommands.start takes. */
export interface ResolvedStart {
  entityRef: string;
  resolved: ResolvedTarget;
  cluster: string;
}

/**
 * The checks every way of starting a rollout shares (REST API, actions
 * registry, scaffolder action): the entity exists for the caller, the caller
 * may start rollouts of it, its annotations resolve to a target, the cluster
 * is one the target runs on, and no other controller manages the workload.
 * `field` names the request's fields in errors ("body field entityRef").
 */
export async function resolveStart(
  deps: StartResolutionDeps,
  input: { entityRef: string; cluster?: string },
  credentials: BackstageCredentials,
  options: {
    /** Credentials for the catalog read, when they differ from the caller's. */
    catalogCredentials?: BackstageCredentials;
    field?: (name: string) => string;
  } = {},
): Promise<ResolvedStart> {
  const field = options.field ?? ((name: string) => name);
  const entityRef = normalizeEntityRef(input.entityRef, field('entityRef'));
  const entity = await deps.catalog.getEntityByRef(entityRef, {
    credentials: options.catalogCredentials ?? credentials,
  });
  if (!entity) {
    throw new NotFoundError(`No entity ${entityRef} in the catalog`);
  }
  await deps.authorizer.require(
    [canaryRolloutCreatePermission],
    { entityRef, owners: async () => ownersOf(entity) },
    credentials,
    'start',
  );
  const resolution = resolveTarget(entity, deps.config);
  if (!resolution.ok) {
    throw new InputError(
      `${entityRef} is not set up for canaries: ${resolution.problems
        .map(p => `${p.key}: ${p.message}`)
        .join('; ')}`,
    );
  }
  const clusters = resolution.resolved.target.clusters;
  const cluster = input.cluster ?? clusters[0];
  if (!clusters.includes(cluster)) {
    throw new InputError(
      `${field('cluster')}: ${entityRef} runs on ${clusters.join(
        ', ',
      )}, not "${cluster}"`,
    );
  }
  await deps.refuseStart?.(entity, cluster);
  return { entityRef, resolved: resolution.resolved, cluster };
}

/** Normalizes "checkout", "component:checkout" or "component:default/checkout". */
export function normalizeEntityRef(text: string, field = 'entityRef'): string {
  try {
    return stringifyEntityRef(
      parseEntityRef(text, {
        defaultKind: 'component',
        defaultNamespace: 'default',
      }),
    );
  } catch {
    throw new InputError(
      `${field}: "${text}" is not an entity ref such as component:default/my-app`,
    );
  }
}
