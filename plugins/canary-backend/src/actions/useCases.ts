import {
  AuditorService,
  AuthService,
  BackstageCredentials,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import { CatalogService } from '@backstage/plugin-catalog-node';
import {
  ConflictError,
  InputError,
  NotAllowedError,
  NotFoundError,
} from '@backstage/errors';
import {
  AuthorizeResult,
  ResourcePermission,
} from '@backstage/plugin-permission-common';
import {
  EntityCanaryStatus,
  Rollout,
  RolloutPhase,
  canaryControlPermissions,
  canaryRolloutApprovePermission,
  canaryRolloutReadPermission,
  isTerminalPhase,
} from '@coalmine/backstage-plugin-canary-common';
import { CanaryConfig } from '../config/CanaryConfig';
import { ownersOf, resolveTarget } from '../config/resolveTarget';
import { RolloutStore } from '../store/RolloutStore';
import { RolloutRecord } from '../domain/types';
import { RolloutCommands, actorOf, skippedApprovals } from '../service/router';
import { toApiRollout } from '../service/toApi';
import {
  StartResolutionDeps,
  normalizeEntityRef,
  resolveStart,
} from '../service/resolveStart';
import { RolloutAuthorizer } from '../service/authorize';
import { catalogCredentialsFor } from '../service/catalogCredentials';

/**
 * What the actions registry's actions and the scaffolder action need: the
 * same reads, checks and audit events as the REST API, for callers that
 * come with credentials instead of an HTTP request.
 */
export interface CanaryUseCaseDeps {
  catalog: CatalogService;
  permissions: PermissionsService;
  /** The REST API's rules (permissions and service principals' scopes). */
  authorizer: RolloutAuthorizer;
  auditor: AuditorService;
  store: RolloutStore;
  config: CanaryConfig;
  commands: RolloutCommands;
  /** Refuses a start on a workload Flagger or Argo Rollouts manages. */
  refuseStart?: StartResolutionDeps['refuseStart'];
  /** Reads the catalog for a service principal with the plugin's own credentials (service/catalogCredentials.ts). */
  auth?: AuthService;
}

/** The controls offered outside the REST API. */
export type OfferedControl = 'promote' | 'abort' | 'approve';

export { normalizeEntityRef };

/** A component's canary status, as GET /entities/:kind/:namespace/:name answers it. */
export async function canaryStatus(
  deps: CanaryUseCaseDeps,
  entityRefText: string,
  credentials: BackstageCredentials,
): Promise<EntityCanaryStatus> {
  const entityRef = normalizeEntityRef(entityRefText);
  const entity = await deps.catalog.getEntityByRef(entityRef, {
    credentials: await catalogCredentialsFor(deps.auth)(credentials),
  });
  if (!entity) throw new NotFoundError(`No entity ${entityRef} in the catalog`);
  const missing = await deps.authorizer.missing(
    [canaryRolloutReadPermission as ResourcePermission<'catalog-entity'>],
    entityRef,
    credentials,
  );
  if (missing.length > 0) {
    throw new NotAllowedError(`You may not read rollouts of ${entityRef}`);
  }
  const resolution = resolveTarget(entity, deps.config);
  const clusterProblems = resolution.ok
    ? (
        await Promise.all(
          resolution.resolved.target.clusters.map(cluster =>
            deps.commands.inspect(resolution.resolved, cluster),
          ),
        )
      ).flat()
    : [];
  const history = await deps.store.list({ entityRefs: [entityRef], limit: 10 });
  const last = await deps.store.lastAnalysis(history.map(r => r.id));
  const rollouts = history.map(r => toApiRollout(r, last.get(r.id)));
  return {
    entityRef,
    target: resolution.ok ? resolution.resolved.target : null,
    problems: [...resolution.problems, ...clusterProblems],
    active: rollouts.find(r => !isTerminalPhase(r.phase)) ?? null,
    history: rollouts,
  };
}

/** Active rollouts the caller may read. */
export async function activeRollouts(
  deps: CanaryUseCaseDeps,
  filter: { entityRef?: string; cluster?: string },
  credentials: BackstageCredentials,
): Promise<Rollout[]> {
  const candidates = await deps.store.list({
    entityRefs: filter.entityRef
      ? [normalizeEntityRef(filter.entityRef)]
      : undefined,
    cluster: filter.cluster,
    active: true,
    limit: 500,
  });
  const refs = [...new Set(candidates.map(r => r.entityRef))];
  const decisions = refs.length
    ? await deps.permissions.authorize(
        refs.map(ref => ({
          permission: canaryRolloutReadPermission,
          resourceRef: ref,
        })),
        { credentials },
      )
    : [];
  const readable = new Set(
    refs.filter((_, i) => decisions[i].result === AuthorizeResult.ALLOW),
  );
  const visible = candidates.filter(r => readable.has(r.entityRef));
  const last = await deps.store.lastAnalysis(visible.map(r => r.id));
  return visible.map(r => toApiRollout(r, last.get(r.id)));
}

/** Starts a rollout with the caller's permissions; audited as `rollout-start`. */
export async function startRollout(
  deps: CanaryUseCaseDeps,
  input: {
    entityRef: string;
    cluster?: string;
    image?: string;
    version?: string;
  },
  credentials: BackstageCredentials,
  via: string,
): Promise<Rollout> {
  const actor = actorOf(credentials);
  const event = await deps.auditor.createEvent({
    eventId: 'rollout-start',
    severityLevel: 'medium',
    meta: {
      actor,
      via,
      entityRef: input.entityRef.slice(0, 512),
      cluster: input.cluster?.slice(0, 255) ?? null,
      image: input.image?.slice(0, 512) ?? null,
      version: input.version?.slice(0, 63) ?? null,
    },
  });
  try {
    const { entityRef, resolved, cluster } = await resolveStart(
      deps,
      input,
      credentials,
      {
        catalogCredentials: await catalogCredentialsFor(deps.auth)(credentials),
      },
    );
    const record = await deps.commands.start({
      resolved,
      cluster,
      image: input.image,
      version: input.version,
      startedBy: actor,
    });
    await event.success({ meta: { rolloutId: record.id, entityRef, cluster } });
    return toApiRollout(record);
  } catch (error) {
    await event.fail({ error: error as Error });
    throw error;
  }
}

/**
 * Promotes, aborts or approves a rollout, named by id or by its component's
 * active rollout; audited as `rollout-control`.
 */
export async function controlRollout(
  deps: CanaryUseCaseDeps,
  control: OfferedControl,
  input: {
    rolloutId?: string;
    entityRef?: string;
    cluster?: string;
    reason?: string;
  },
  credentials: BackstageCredentials,
  via: string,
): Promise<Rollout> {
  const actor = actorOf(credentials);
  const event = await deps.auditor.createEvent({
    eventId: 'rollout-control',
    severityLevel: 'medium',
    meta: {
      actor,
      via,
      control,
      rolloutId: input.rolloutId?.slice(0, 64) ?? null,
      entityRef: input.entityRef?.slice(0, 512) ?? null,
    },
  });
  try {
    const record = await findRollout(deps, input);
    // The REST API's rule: skipping an approval gate is approving it.
    const wanted: ResourcePermission<'catalog-entity'>[] = [
      canaryControlPermissions[control],
    ];
    if (control === 'promote' && skippedApprovals(record).length > 0) {
      wanted.push(canaryRolloutApprovePermission);
    }
    await deps.authorizer.require(
      wanted,
      {
        entityRef: record.entityRef,
        owners: async () => {
          const entity = await deps.catalog.getEntityByRef(record.entityRef, {
            credentials: await catalogCredentialsFor(deps.auth)(credentials),
          });
          return entity ? ownersOf(entity) : [];
        },
      },
      credentials,
      wanted.length > 1 ? 'promote past an approval gate of' : control,
    );
    const updated = await deps.commands.control(
      record.id,
      control,
      actor,
      input.reason,
    );
    await event.success({
      meta: {
        rolloutId: record.id,
        entityRef: record.entityRef,
        phase: updated.phase as RolloutPhase,
      },
    });
    return toApiRollout(updated);
  } catch (error) {
    await event.fail({ error: error as Error });
    throw error;
  }
}

async function findRollout(
  deps: CanaryUseCaseDeps,
  input: { rolloutId?: string; entityRef?: string; cluster?: string },
): Promise<RolloutRecord> {
  if (input.rolloutId) {
    const record = await deps.store.get(input.rolloutId);
    if (!record)
      throw new NotFoundError(`No rollout with id ${input.rolloutId}`);
    return record;
  }
  if (!input.entityRef) {
    throw new InputError('Give rolloutId, or entityRef for its active rollout');
  }
  const entityRef = normalizeEntityRef(input.entityRef);
  const active = await deps.store.list({
    entityRefs: [entityRef],
    cluster: input.cluster,
    active: true,
    limit: 10,
  });
  if (active.length === 0) {
    throw new NotFoundError(`No active rollout of ${entityRef}`);
  }
  if (active.length > 1) {
    throw new ConflictError(
      `${entityRef} has active rollouts on ${active
        .map(r => r.cluster)
        .join(', ')}; give cluster or rolloutId`,
    );
  }
  return active[0];
}
