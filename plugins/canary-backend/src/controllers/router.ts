import express from 'express';
import Router from 'express-promise-router';
import { z } from 'zod';
import {
  AuditorService,
  AuthService,
  BackstageCredentials,
  HttpAuthService,
  LoggerService,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import { CatalogService } from '@backstage/plugin-catalog-node';
import { Entity, stringifyEntityRef } from '@backstage/catalog-model';
import { InputError, NotAllowedError, NotFoundError } from '@backstage/errors';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import {
  CANARY_CONTROLLER_ANNOTATION,
  CANARY_POLICY_ANNOTATION,
  CanaryConfigProblem,
  EntityCanaryStatus,
  ExternalRolloutControl,
  Rollout,
  canaryControlPermissions,
  canaryRolloutReadPermission,
  isTerminalPhase,
} from '@coalmine/backstage-plugin-canary-common';
import type { ExternalControllers, ExternalView } from './ExternalControllers';
import { isExternalRolloutId } from './externalId';
import { FLAGGER_GATE_PATH } from './flagger';
import type { RolloutAuthorizer } from '../service/authorize';
import { catalogCredentialsFor } from '../service/catalogCredentials';
import { ownersOf } from '../config/resolveTarget';
import { auditedControl } from '../service/auditedControl';
import { actorOf } from '../service/actor';

const CONTROLS: ExternalRolloutControl[] = [
  'promote',
  'promote-full',
  'abort',
  'pause',
  'resume',
  'approve',
  'retry',
];
const WEBHOOK_TYPES = [
  'confirm-rollout',
  'confirm-promotion',
  'rollback',
  'confirm-traffic-increase',
];

const controlBodySchema = z
  .object({ reason: z.string().max(1000).optional() })
  .strict();

// Flagger's webhook payload (CanaryWebhookPayload); unknown fields are ignored.
const gatePayloadSchema = z.object({
  name: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/)
    .max(253),
  namespace: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/)
    .max(63),
  phase: z.string().max(64).optional(),
  checksum: z.string().max(256).optional(),
});

export interface ControllersRouterOptions {
  logger: LoggerService;
  httpAuth: HttpAuthService;
  permissions: PermissionsService;
  catalog: CatalogService;
  auditor: AuditorService;
  controllers: ExternalControllers;
  clusterNames: string[];
  /** The same authorizer as Coalmine's own controls (permissions and service-principal scopes). */
  authorizer: RolloutAuthorizer;
  /** Reads the catalog for a service principal with the plugin's own credentials (service/catalogCredentials.ts). */
  auth?: AuthService;
}

/**
 * Routes for rollouts other controllers run: the same `/rollouts/:id…`
 * paths as Coalmine's own (ids starting with `ext.`; anything else falls
 * through to the main router), and the gate endpoints Flagger's webhooks
 * call. Mutations check the same entity-scoped `canary.rollout.*`
 * permissions and are audited like Coalmine's own controls.
 */
export function createControllersRouter(
  options: ControllersRouterOptions,
): express.Router {
  const { httpAuth, permissions, catalog, auditor, controllers, logger } =
    options;
  const catalogCredentials = catalogCredentialsFor(options.auth);
  const router = Router();
  // Bodies are parsed only on this router's own routes: everything else
  // falls through to the main router unparsed (it parses after auditing).
  const json = express.json({ limit: '100kb' });
  const jsonIfExternal: express.RequestHandler = (req, res, next) =>
    isExternalRolloutId(req.params.id) ? json(req, res, next) : next();

  async function allowed(
    permission:
      | (typeof canaryControlPermissions)[keyof typeof canaryControlPermissions]
      | typeof canaryRolloutReadPermission,
    entityRef: string,
    credentials: BackstageCredentials,
  ) {
    const [d] = await permissions.authorize(
      [{ permission, resourceRef: entityRef }],
      { credentials },
    );
    return d.result === AuthorizeResult.ALLOW;
  }

  /** The entity an external id names, loaded for the caller (catalogCredentials), readable by them. */
  async function entityOf(
    id: string,
    credentials: BackstageCredentials,
  ): Promise<{ entity: Entity; entityRef: string }> {
    const decoded = controllers.decode(id);
    const entity = await catalog.getEntityByRef(decoded.entityRef, {
      credentials: await catalogCredentials(credentials),
    });
    if (!entity) throw new NotFoundError(`No rollout with id ${id}`);
    const entityRef = stringifyEntityRef(entity);
    if (!(await allowed(canaryRolloutReadPermission, entityRef, credentials))) {
      throw new NotAllowedError(`You may not read rollouts of ${entityRef}`);
    }
    return { entity, entityRef };
  }

  // Flagger's webhooks: 200 opens the gate, anything else keeps it shut.
  router.post(`${FLAGGER_GATE_PATH}/:cluster/:type`, json, async (req, res) => {
    const { cluster, type } = req.params;
    if (!WEBHOOK_TYPES.includes(type)) {
      throw new InputError(
        `path parameter type: "${type}" is not a Flagger gating webhook; use one of ${WEBHOOK_TYPES.join(
          ', ',
        )}`,
      );
    }
    if (!options.clusterNames.includes(cluster)) {
      throw new NotFoundError(
        `No cluster ${cluster} in kubernetes.clusterLocatorMethods`,
      );
    }
    const parsed = gatePayloadSchema.safeParse(req.body ?? {});
    if (!parsed.success) {
      throw new InputError(
        `body: not a Flagger webhook payload (${parsed.error.issues
          .map(i => `${i.path.join('.')}: ${i.message}`)
          .join('; ')})`,
      );
    }
    const open = await controllers.gateCheck(cluster, type, parsed.data);
    logger.debug(
      `Flagger ${type} for ${parsed.data.namespace}/${
        parsed.data.name
      } on ${cluster}: ${open ? 'open' : 'closed'}`,
    );
    res.status(open ? 200 : 403).json({ open });
  });

  router.get('/rollouts/:id', async (req, res, next) => {
    if (!isExternalRolloutId(req.params.id)) return next();
    const credentials = await httpAuth.credentials(req);
    const { entity } = await entityOf(req.params.id, credentials);
    res.json(
      await controllers.details(entity, controllers.decode(req.params.id)),
    );
    return undefined;
  });

  router.get('/rollouts/:id/series', async (req, res, next) => {
    if (!isExternalRolloutId(req.params.id)) return next();
    const credentials = await httpAuth.credentials(req);
    await entityOf(req.params.id, credentials);
    // The controller judges with its own queries; their values are in the analysis.
    res.json({ series: [] });
    return undefined;
  });

  router.post(
    '/rollouts/:id/:control',
    jsonIfExternal,
    async (req, res, next) => {
      if (!isExternalRolloutId(req.params.id)) return next();
      await auditedControl(
        { httpAuth, auditor },
        req,
        CONTROLS,
        async ({ credentials, control, audit }) => {
          const body = controlBodySchema.safeParse(req.body ?? {});
          if (!body.success) {
            throw new InputError(
              `body: ${body.error.issues.map(i => i.message).join('; ')}`,
            );
          }
          const { entity, entityRef } = await entityOf(
            req.params.id,
            credentials,
          );
          await options.authorizer.require(
            [
              canaryControlPermissions[
                control === 'promote-full' ? 'promote' : control
              ],
            ],
            { entityRef, owners: async () => ownersOf(entity) },
            credentials,
            control,
          );
          const id = controllers.decode(req.params.id);
          const rollout = await controllers.control(
            entity,
            id,
            control,
            actorOf(credentials),
          );
          await audit.success({
            meta: {
              entityRef,
              controller: id.kind,
              object: `${id.cluster}/${id.namespace}/${id.name}`,
              reason: body.data.reason ?? null,
              phase: rollout.phase,
            },
          });
          res.json(rollout);
        },
      );
      return undefined;
    },
  );

  return router;
}

/**
 * Adds what other controllers run to a component's status (additive:
 * `controller`, and the controller's rollout as `active` / first in
 * `history`). With a controller found, a missing Coalmine policy is not a
 * problem: Coalmine does not drive the workload.
 */
export async function withExternalControllers(
  controllers: ExternalControllers,
  entity: Entity,
  status: EntityCanaryStatus,
  timeoutMs = 3000,
): Promise<EntityCanaryStatus> {
  // A hanging cluster must not stall the tab: after a few seconds, say so.
  const timeout = new Promise<{
    views: ExternalView[];
    problems: CanaryConfigProblem[];
  }>(resolve =>
    setTimeout(
      () =>
        resolve({
          views: [],
          problems: [
            {
              key: 'kubernetes.clusterLocatorMethods',
              message: `Flagger Canaries and Argo Rollouts of ${stringifyEntityRef(
                entity,
              )} could not be looked up in time`,
            },
          ],
        }),
      timeoutMs,
    ).unref(),
  );
  const found = await Promise.race([controllers.entityView(entity), timeout]);
  const { views } = found;
  // One problem per unreachable cluster is enough: the main status already names it.
  const clusterProblem = status.problems.some(
    p => p.key === 'kubernetes.clusterLocatorMethods',
  );
  const problems = found.problems.filter(
    p => !(clusterProblem && p.key === 'kubernetes.clusterLocatorMethods'),
  );
  const declared = entity.metadata.annotations?.[CANARY_CONTROLLER_ANNOTATION];
  if (!views.length) {
    if (declared === 'flagger' || declared === 'argo-rollouts') {
      return {
        ...status,
        problems: [
          ...status.problems.filter(p => p.key !== CANARY_POLICY_ANNOTATION),
          ...problems,
        ],
      };
    }
    // No `controller` field: Coalmine's own engine runs the component, as before.
    return { ...status, problems: [...status.problems, ...problems] };
  }
  const [first] = views;
  const external = views.map(v => v.rollout);
  return {
    ...status,
    target: null,
    problems: [
      ...status.problems.filter(p => p.key !== CANARY_POLICY_ANNOTATION),
      ...problems,
    ],
    controller: first.controller,
    active: external.find(r => !isTerminalPhase(r.phase)) ?? null,
    history: [...external, ...status.history],
  };
}

/**
 * Rollouts of components annotated `coalmine.io/controller: flagger` or
 * `argo-rollouts` that the caller may read, for the organisation-wide list.
 * (Components whose controller is only discovered show in their own tab.)
 * The catalog is read with `catalogCredentials` (a CI token restricted to
 * the canary plugin cannot reach the catalog, the plugin reads it for it);
 * what is readable is the caller's `canary.rollout.read`.
 */
export async function listExternalRollouts(
  catalog: CatalogService,
  permissions: PermissionsService,
  controllers: ExternalControllers,
  {
    credentials,
    catalogCredentials,
  }: {
    credentials: BackstageCredentials;
    catalogCredentials: BackstageCredentials;
  },
  filter: {
    entityRefs?: string[];
    phases?: string[];
    cluster?: string;
    active?: boolean;
  },
): Promise<Rollout[]> {
  const { items } = await catalog.getEntities(
    {
      filter: {
        [`metadata.annotations.${CANARY_CONTROLLER_ANNOTATION}`]: [
          'flagger',
          'argo-rollouts',
        ],
      },
    },
    { credentials: catalogCredentials },
  );
  const entities = items.filter(
    e =>
      !filter.entityRefs || filter.entityRefs.includes(stringifyEntityRef(e)),
  );
  if (!entities.length) return [];
  const decisions = await permissions.authorize(
    entities.map(e => ({
      permission: canaryRolloutReadPermission,
      resourceRef: stringifyEntityRef(e),
    })),
    { credentials },
  );
  const readable = entities.filter(
    (_, i) => decisions[i].result === AuthorizeResult.ALLOW,
  );
  const views = await Promise.all(
    readable.map(e =>
      controllers.entityView(e).catch(() => ({ views: [] as ExternalView[] })),
    ),
  );
  return views
    .flatMap(v => v.views.map(x => x.rollout))
    .filter(
      r =>
        (!filter.phases || filter.phases.includes(r.phase)) &&
        (!filter.cluster || r.cluster === filter.cluster) &&
        (filter.active === undefined ||
          filter.active === !isTerminalPhase(r.phase)),
    );
}
