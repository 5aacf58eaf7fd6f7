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
import {
  CompoundEntityRef,
  Entity,
  stringifyEntityRef,
} from '@backstage/catalog-model';
import {
  ConflictError,
  InputError,
  NotAllowedError,
  NotFoundError,
} from '@backstage/errors';
import { ResourcePermission } from '@backstage/plugin-permission-common';
import {
  AnalysisResult,
  CanaryConfigProblem,
  EntityCanaryStatus,
  MetricSeries,
  Rollout,
  RolloutControl,
  RolloutDetails,
  RolloutEvent,
  RolloutHistoryPage,
  RolloutPhase,
  WorkloadPods,
  canaryControlPermissions,
  canaryRolloutApprovePermission,
  canaryRolloutCreatePermission,
  controlVerdict,
  isTerminalPhase,
} from '@coalmine/backstage-plugin-canary-common';
import { CanaryConfig } from '../config/CanaryConfig';
import { ownersOf, resolveTarget } from '../config/resolveTarget';
import { RolloutAuthorizer } from './authorize';
import { Redactor, createRedactor } from './redact';
import { redactDeep } from './toApi';
import { Page, RolloutStore } from '../store/RolloutStore';
import { RolloutRecord } from '../domain/types';
import { toApiRollout } from './toApi';
import { loadOpenApiDocument } from './openapi';
import { normalizeEntityRef, resolveStart } from './resolveStart';
import { auditedControl } from './auditedControl';
import { actorOf } from './actor';

export { actorOf };
import { catalogCredentialsFor } from './catalogCredentials';
import { ReadAccess } from './ReadAccess';
import {
  historyCursor,
  listCursor,
  parseHistoryCursor,
  parseListCursor,
} from './cursors';
import type { ResolvedTarget } from '../config/resolveTarget';

/** The use cases the router calls (implemented by RolloutService). */
export interface RolloutCommands {
  start(request: {
    resolved: ResolvedTarget;
    cluster: string;
    image?: string;
    version?: string;
    startedBy: string;
    retryOf?: string;
  }): Promise<RolloutRecord>;
  control(
    id: string,
    control: Exclude<RolloutControl, 'retry'>,
    actor: string,
    reason?: string,
  ): Promise<RolloutRecord>;
  series(rollout: RolloutRecord): Promise<MetricSeries[]>;
  /** What the cluster says about a resolved target (never throws). */
  inspect(
    resolved: ResolvedTarget,
    cluster: string,
  ): Promise<CanaryConfigProblem[]>;
  /** The Deployments' pods now, each side left out when the cluster does not answer at once (never throws). */
  pods(rollout: {
    cluster: string;
    namespace: string;
    stable: { name: string };
    canary: { name: string };
  }): Promise<{ stable?: WorkloadPods; canary?: WorkloadPods }>;
}

export interface RouterOptions {
  logger: LoggerService;
  httpAuth: HttpAuthService;
  permissions: PermissionsService;
  catalog: CatalogService;
  auditor: AuditorService;
  /**
   * For catalog reads on behalf of service principals: a token restricted to
   * the canary plugin cannot reach the catalog itself, so the plugin reads
   * with its own credentials; what the caller may do is still decided by the
   * canary permissions. Users read with their own credentials.
   */
  auth?: AuthService;
  store: RolloutStore;
  config: CanaryConfig;
  commands: RolloutCommands;
  /** Flagger and Argo Rollouts (controllers/): their rollouts in the status, and the start guard. */
  external?: {
    status(
      entity: Entity,
      status: EntityCanaryStatus,
    ): Promise<EntityCanaryStatus>;
    /** Throws ConflictError when another controller manages the workload. */
    refuseStart(entity: Entity, cluster: string): Promise<void>;
    /**
     * Rollouts other controllers run, readable by the caller, for the org
     * page. `catalogCredentials` read the catalog (the plugin's own for a
     * service principal, see `auth`), `credentials` decide what is readable.
     */
    list?(
      credentials: BackstageCredentials,
      catalogCredentials: BackstageCredentials,
      filter: {
        entityRefs?: string[];
        phases?: RolloutPhase[];
        cluster?: string;
        active?: boolean;
      },
    ): Promise<Rollout[]>;
  };
  /** Hides internal endpoints from answers; by default URLs, addresses and no host names. */
  redact?: Redactor;
}

/** Largest request body accepted (JSON). */
const BODY_LIMIT = '100kb';
const jsonBody = express.json({ limit: BODY_LIMIT });

/**
 * Parses a JSON body inside the handler, after the attempt's audit event
 * exists, so malformed and oversized bodies are audited like any refusal.
 */
async function readJsonBody(
  req: express.Request,
  res: express.Response,
): Promise<unknown> {
  await new Promise<void>((resolve, reject) =>
    jsonBody(req, res, (error?: unknown) => {
      if (!error) {
        resolve();
        return;
      }
      const e = error as { type?: string; status?: number; message?: string };
      if (e.type === 'entity.too.large') {
        // Keeps status 413 for the error handler.
        reject(
          Object.assign(
            new Error(`The request body is larger than ${BODY_LIMIT}`),
            { name: 'PayloadTooLargeError', status: 413, statusCode: 413 },
          ),
        );
      } else {
        reject(
          new InputError(
            `The request body is not valid JSON: ${e.message ?? 'parse error'}`,
          ),
        );
      }
    }),
  );
  return req.body;
}

/** Steps with an approval gate that a promotion from `r` would skip. */
export function skippedApprovals(r: RolloutRecord): number[] {
  const approved = r.state.approvedSteps ?? [];
  return r.steps
    .map((step, i) => (step.approval && i >= r.stepIndex ? i : -1))
    .filter(i => i >= 0 && !approved.includes(i));
}

const PHASES: RolloutPhase[] = [
  'Pending',
  'Progressing',
  'Paused',
  'AwaitingApproval',
  'Promoting',
  'Succeeded',
  'RollingBack',
  'RolledBack',
  'Aborted',
  'Failed',
];
const CONTROLS = [
  'promote',
  'abort',
  'pause',
  'resume',
  'approve',
  'retry',
] as const;

const startBodySchema = z
  .object({
    entityRef: z.string().min(1),
    cluster: z.string().min(1).optional(),
    image: z
      .string()
      .min(1)
      .max(512)
      .regex(/^[^\s]+$/, 'must be an image reference without spaces')
      .optional(),
    version: z
      .string()
      .min(1)
      .max(63)
      .regex(
        /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/,
        'must be a valid Kubernetes label value',
      )
      .optional(),
  })
  .strict();

const controlBodySchema = z
  .object({ reason: z.string().max(1000).optional() })
  .strict();

const listQuerySchema = z
  .object({
    entityRef: z.union([z.string(), z.array(z.string())]).optional(),
    phase: z.union([z.string(), z.array(z.string())]).optional(),
    cluster: z.string().optional(),
    active: z.enum(['true', 'false']).optional(),
    limit: z
      .string()
      .regex(/^\d+$/, 'must be a whole number')
      .transform(Number)
      .refine(n => n >= 1 && n <= 500, 'must be between 1 and 500')
      .optional(),
    cursor: z.string().min(1).optional(),
  })
  .strict();

const pageLimit = (max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .refine(n => n >= 1 && n <= max, `must be between 1 and ${max}`)
    .optional();

/** Newest page sizes of the details call: enough for the tab's timeline and tick strip. */
export const DETAILS_EVENTS_LIMIT = 100;
export const DETAILS_ANALYSIS_LIMIT = 30;
const HISTORY_MAX_LIMIT = 500;
/** How long a component's status answer is shared while none of its rollouts changes. */
export const STATUS_CACHE_MS = 1_000;
/** How many past rollouts the status call lists. */
export const STATUS_HISTORY_LIMIT = 20;

const detailsQuerySchema = z
  .object({
    eventsBefore: z.string().min(1).optional(),
    analysisBefore: z.string().min(1).optional(),
    limit: pageLimit(HISTORY_MAX_LIMIT),
  })
  .strict();

const historyQuerySchema = z
  .object({
    before: z.string().min(1).optional(),
    limit: pageLimit(HISTORY_MAX_LIMIT),
  })
  .strict();

/** Parses with zod and turns the first issue into an InputError naming the field. */
function parse<T>(
  schema: z.ZodType<T, any, any>,
  value: unknown,
  where: string,
): T {
  const result = schema.safeParse(value ?? {});
  if (!result.success) {
    const issues = result.error.issues.map(issue => {
      const field = issue.path.join('.');
      if (issue.code === 'unrecognized_keys') {
        return `${where} has unknown field${
          issue.keys.length > 1 ? 's' : ''
        } ${issue.keys.join(', ')}`;
      }
      return `${where}${field ? ` field ${field}` : ''}: ${issue.message}`;
    });
    throw new InputError(issues.join('; '));
  }
  return result.data;
}

function listOf(value: string | string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return (Array.isArray(value) ? value : [value])
    .flatMap(v => v.split(','))
    .map(v => v.trim())
    .filter(Boolean);
}

/** Builds the router mounted at /api/canary. */
export async function createRouter(
  options: RouterOptions,
): Promise<express.Router> {
  const {
    logger,
    httpAuth,
    permissions,
    catalog,
    auditor,
    store,
    config,
    commands,
  } = options;
  const redact = options.redact ?? createRedactor();

  const catalogCredentials = catalogCredentialsFor(options.auth);
  const authorizer = new RolloutAuthorizer(
    permissions,
    config.servicePrincipals,
  );
  const router = Router();

  /** The error with internal endpoints removed from its message (the original goes to the log). */
  function redactError(error: unknown): unknown {
    const e = error as Error;
    if (!e || typeof e.message !== 'string') return error;
    const message = redact(e.message);
    if (message === e.message) return error;
    logger.warn(`Canary API error (shown redacted): ${e.message}`);
    e.message = message;
    return e;
  }

  const reads = new ReadAccess({ permissions, catalog, catalogCredentials });

  async function requireRead(
    entityRef: string,
    credentials: BackstageCredentials,
  ) {
    if (!(await reads.mayRead(entityRef, credentials))) {
      throw new NotAllowedError(`You may not read rollouts of ${entityRef}`);
    }
  }

  /** The owners of an entity, read with the caller's credentials when needed. */
  function ownersLoader(entityRef: string, credentials: BackstageCredentials) {
    return async () => {
      const entity = await catalog.getEntityByRef(entityRef, {
        credentials: await catalogCredentials(credentials),
      });
      return entity ? ownersOf(entity) : [];
    };
  }

  async function loadRollout(id: string): Promise<RolloutRecord> {
    const record = await store.get(id);
    if (!record) {
      throw new NotFoundError(`No rollout with id ${id}`);
    }
    return record;
  }

  router.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });

  const openapi = loadOpenApiDocument();
  router.get('/openapi.json', (_req, res) => {
    res.json(openapi);
  });

  router.get('/entities/:kind/:namespace/:name', async (req, res) => {
    const credentials = await httpAuth.credentials(req);
    const compound: CompoundEntityRef = {
      kind: req.params.kind,
      namespace: req.params.namespace,
      name: req.params.name,
    };
    const entity = await reads.entity(
      stringifyEntityRef(compound),
      credentials,
    );
    if (!entity) {
      throw new NotFoundError(
        `No entity ${stringifyEntityRef(compound)} in the catalog`,
      );
    }
    const entityRef = stringifyEntityRef(entity);
    await requireRead(entityRef, credentials);
    res.type('application/json').send(await statusBody(entity, entityRef));
  });

  /**
   * Status answers per component (and catalog version of it), rebuilt when
   * a rollout of the component changed or after {@link STATUS_CACHE_MS}
   * (the cluster's view and other controllers' rollouts change without us):
   * every tab open on a component polls it every two seconds. Nothing in
   * it is the caller's; read access is checked before.
   */
  const statusCache = new Map<
    string,
    { stamp: string; until: number; body: Promise<string> }
  >();

  async function statusBody(
    entity: Entity,
    entityRef: string,
  ): Promise<string> {
    const key = `${entityRef}|${
      entity.metadata.etag ?? JSON.stringify(entity.metadata.annotations ?? {})
    }`;
    const stamp = await store.entityStamp(entityRef);
    const now = Date.now();
    const cached = statusCache.get(key);
    if (cached && cached.stamp === stamp && cached.until > now) {
      return cached.body;
    }
    const body = buildStatus(entity, entityRef).then(status =>
      JSON.stringify(status),
    );
    statusCache.delete(key);
    statusCache.set(key, { stamp, until: now + STATUS_CACHE_MS, body });
    body.catch(() => {
      if (statusCache.get(key)?.body === body) statusCache.delete(key);
    });
    if (statusCache.size > 1000) {
      const oldest = statusCache.keys().next().value;
      if (oldest !== undefined) statusCache.delete(oldest);
    }
    return body;
  }

  async function buildStatus(
    entity: Entity,
    entityRef: string,
  ): Promise<EntityCanaryStatus> {
    const resolution = resolveTarget(entity, config);
    // Independent reads side by side: the cluster's view (cached per
    // target), the newest rollouts (one index range scan).
    const [clusterProblems, history] = await Promise.all([
      resolution.ok
        ? Promise.all(
            // Annotations that are well-formed but point at nothing are
            // reported too, while the target stays usable.
            resolution.resolved.target.clusters.map(cluster =>
              commands.inspect(resolution.resolved, cluster),
            ),
          ).then(all => all.flat())
        : Promise.resolve([]),
      store.list({ entityRefs: [entityRef], limit: STATUS_HISTORY_LIMIT }),
    ]);
    // Only the rollout the tab shows carries its latest analysis: the
    // history rows are a list, and analysis rows are the heavy part.
    const current = history.find(r => !isTerminalPhase(r.phase)) ?? history[0];
    const running = current && !isTerminalPhase(current.phase);
    // Side by side again: the latest analysis (an index probe) and the pods
    // behind the versions as the cluster reports them now (the watch cache;
    // at most PODS_WAIT_MS when the cluster does not answer).
    const [last, pods] = await Promise.all([
      current
        ? store.lastAnalysis([current.id])
        : new Map<string, AnalysisResult>(),
      running ? commands.pods(current) : undefined,
    ]);
    const shown = current
      ? toApiRollout(current, last.get(current.id), redact)
      : null;
    const active =
      shown && running
        ? {
            ...shown,
            stable: {
              ...shown.stable,
              ...(pods?.stable && { pods: pods.stable }),
            },
            canary: {
              ...shown.canary,
              ...(pods?.canary && { pods: pods.canary }),
            },
          }
        : null;
    const status: EntityCanaryStatus = {
      entityRef,
      target: resolution.ok ? resolution.resolved.target : null,
      problems: [...resolution.problems, ...clusterProblems].map(p => ({
        ...p,
        message: redact(p.message),
      })),
      active,
      // The analysis travels once: with the active rollout, else with the
      // newest of the history (the one the tab shows).
      history: history.map(r =>
        r === current && !active ? shown! : toApiRollout(r, null, redact),
      ),
    };
    return options.external
      ? await options.external.status(entity, status)
      : status;
  }

  router.get('/rollouts', async (req, res) => {
    const credentials = await httpAuth.credentials(req);
    const query = parse(listQuerySchema, req.query, 'query');
    const phases = listOf(query.phase);
    const unknownPhase = phases?.find(p => !PHASES.includes(p as RolloutPhase));
    if (unknownPhase) {
      throw new InputError(
        `query field phase: unknown phase "${unknownPhase}"; use one of ${PHASES.join(
          ', ',
        )}`,
      );
    }
    const entityRefs = listOf(query.entityRef)?.map(ref =>
      normalizeEntityRef(ref, 'query field entityRef'),
    );
    const limit = query.limit ?? 100;
    const filter = {
      entityRefs,
      phases: phases as RolloutPhase[] | undefined,
      cluster: query.cluster,
      active: query.active === undefined ? undefined : query.active === 'true',
    };
    const before = query.cursor
      ? parseListCursor(query.cursor, 'cursor')
      : undefined;
    // Read permission as a filter in the query: one decision per component
    // that has rollouts (batched, conditional policies resolved by the
    // permission framework), then a page of readable rollouts only.
    const readable = await reads.readable(
      await store.entityRefsWithRollouts(filter),
      credentials,
    );
    const visible = await store.list({
      ...filter,
      readableRefs: [...readable],
      before,
      limit: limit + 1,
    });
    const page = visible.slice(0, limit);
    const nextCursor =
      visible.length > limit
        ? listCursor({
            createdAt: page[page.length - 1].createdAt,
            id: page[page.length - 1].id,
          })
        : null;
    const last = await store.lastAnalysis(page.map(r => r.id));
    const own = page.map(r => toApiRollout(r, last.get(r.id), redact));
    // Other controllers' rollouts live in the clusters, not in our table:
    // they join the first page only.
    const external =
      options.external?.list && !before
        ? await reads.shared(
            credentials,
            `external-list|${JSON.stringify(filter)}`,
            async () =>
              options.external!.list!(
                credentials,
                await catalogCredentials(credentials),
                filter,
              ),
          )
        : [];
    const items = external.length
      ? [...external, ...own]
          .sort((a, b) => b.updatedAt.localeCompare(a.updatedAt))
          .slice(0, limit)
      : own;
    res.json({ items, nextCursor });
  });

  const redactEvent = (e: RolloutEvent): RolloutEvent => ({
    ...e,
    message: redact(e.message),
    ...(e.data ? { data: redactDeep(e.data, redact) } : {}),
  });

  /**
   * Details answers as sent, per rollout and page, with the stamp they were
   * built at: every open tab polls the newest page every two seconds, and
   * between two changes of the rollout they all get the same bytes. The
   * body holds nothing of the caller's (read access is checked before).
   */
  const detailsCache = new Map<
    string,
    { stamp: string; body: Promise<string> }
  >();
  const DETAILS_CACHE_ENTRIES = 200;

  async function detailsBody(
    record: RolloutRecord,
    page: { eventsBefore?: number; analysisBefore?: number; limit?: number },
  ): Promise<string> {
    const key = `${record.id}|${page.eventsBefore ?? ''}|${
      page.analysisBefore ?? ''
    }|${page.limit ?? ''}`;
    const stamp = `${record.version}|${await store.newestEventId(record.id)}`;
    const cached = detailsCache.get(key);
    if (cached && cached.stamp === stamp) return cached.body;
    const body = (async () => {
      const [events, analysis, newest] = await Promise.all([
        store.eventsPage(record.id, {
          limit: page.limit ?? DETAILS_EVENTS_LIMIT,
          beforeId: page.eventsBefore,
        }),
        store.analysisPage(record.id, {
          limit: page.limit ?? DETAILS_ANALYSIS_LIMIT,
          beforeId: page.analysisBefore,
        }),
        page.analysisBefore === undefined
          ? undefined
          : store.lastAnalysis([record.id]).then(m => m.get(record.id)),
      ]);
      const latest = newest ?? analysis.items[analysis.items.length - 1];
      const details: RolloutDetails = {
        rollout: toApiRollout(record, latest, redact),
        events: events.items.map(redactEvent),
        analysis: redactDeep(analysis.items, redact),
        eventsCursor: historyCursor('events', events.olderBeforeId),
        analysisCursor: historyCursor('analysis', analysis.olderBeforeId),
      };
      return JSON.stringify(details);
    })();
    detailsCache.delete(key);
    detailsCache.set(key, { stamp, body });
    body.catch(() => {
      if (detailsCache.get(key)?.body === body) detailsCache.delete(key);
    });
    if (detailsCache.size > DETAILS_CACHE_ENTRIES) {
      const oldest = detailsCache.keys().next().value;
      if (oldest !== undefined) detailsCache.delete(oldest);
    }
    return body;
  }

  router.get('/rollouts/:id', async (req, res) => {
    const credentials = await httpAuth.credentials(req);
    const query = parse(detailsQuerySchema, req.query, 'query');
    const eventsBefore = query.eventsBefore
      ? parseHistoryCursor('events', query.eventsBefore, 'eventsBefore')
      : undefined;
    const analysisBefore = query.analysisBefore
      ? parseHistoryCursor('analysis', query.analysisBefore, 'analysisBefore')
      : undefined;
    const record = await loadRollout(req.params.id);
    await requireRead(record.entityRef, credentials);
    const body = await detailsBody(record, {
      eventsBefore,
      analysisBefore,
      limit: query.limit,
    });
    res.type('application/json').send(body);
  });

  /** `GET /rollouts/:id/events` and `/analysis`: one older page, newest first, behind the caller's read permission. */
  function historyRoute<T>(
    kind: 'events' | 'analysis',
    readPage: (
      id: string,
      page: { limit: number; beforeId?: number },
    ) => Promise<Page<T>>,
    defaultLimit: number,
    present: (items: T[]) => T[],
  ) {
    router.get(`/rollouts/:id/${kind}`, async (req, res) => {
      const credentials = await httpAuth.credentials(req);
      const query = parse(historyQuerySchema, req.query, 'query');
      const beforeId = query.before
        ? parseHistoryCursor(kind, query.before, 'before')
        : undefined;
      const record = await loadRollout(req.params.id);
      await requireRead(record.entityRef, credentials);
      const page = await readPage(record.id, {
        limit: query.limit ?? defaultLimit,
        beforeId,
      });
      const body: RolloutHistoryPage<T> = {
        items: present(page.items),
        cursor: historyCursor(kind, page.olderBeforeId),
      };
      res.json(body);
    });
  }
  historyRoute<RolloutEvent>(
    'events',
    (id, page) => store.eventsPage(id, page),
    DETAILS_EVENTS_LIMIT,
    items => items.map(redactEvent),
  );
  historyRoute<AnalysisResult>(
    'analysis',
    (id, page) => store.analysisPage(id, page),
    DETAILS_ANALYSIS_LIMIT,
    items => redactDeep(items, redact),
  );

  router.get('/rollouts/:id/series', async (req, res) => {
    const credentials = await httpAuth.credentials(req);
    const record = await loadRollout(req.params.id);
    await requireRead(record.entityRef, credentials);
    try {
      res.json({ series: await commands.series(record) });
    } catch (error) {
      throw redactError(error);
    }
  });

  router.post('/rollouts', async (req, res) => {
    const credentials = await httpAuth.credentials(req);
    const auditorEvent = await auditor.createEvent({
      eventId: 'rollout-start',
      severityLevel: 'medium',
      request: req,
      meta: { actor: actorOf(credentials) },
    });
    try {
      const raw = await readJsonBody(req, res);
      const body = parse(startBodySchema, raw, 'body');
      const { entityRef, resolved, cluster } = await resolveStart(
        {
          catalog,
          authorizer,
          config,
          refuseStart: (entity, on) =>
            options.external?.refuseStart(entity, on) ?? Promise.resolve(),
        },
        body,
        credentials,
        {
          catalogCredentials: await catalogCredentials(credentials),
          field: name => `body field ${name}`,
        },
      );
      const record = await commands.start({
        resolved,
        cluster,
        image: body.image,
        version: body.version,
        startedBy: actorOf(credentials),
      });
      await auditorEvent.success({
        meta: { rolloutId: record.id, entityRef, cluster },
      });
      res.status(201).json(toApiRollout(record, undefined, redact));
    } catch (error) {
      await auditorEvent.fail({
        error: error as Error,
        meta: { body: sanitizeBody(req.body) },
      });
      throw redactError(error);
    }
  });

  router.post('/rollouts/:id/:control', async (req, res) => {
    try {
      await auditedControl(
        { httpAuth, auditor },
        req,
        CONTROLS,
        async ({ credentials, control, audit }) => {
          const body = parse(
            controlBodySchema,
            await readJsonBody(req, res),
            'body',
          );
          const record = await loadRollout(req.params.id);
          const target = {
            entityRef: record.entityRef,
            owners: ownersLoader(record.entityRef, credentials),
          };
          const wanted: ResourcePermission<'catalog-entity'>[] = [
            canaryControlPermissions[control],
          ];
          // Skipping an approval gate is approving it; a retry starts a rollout.
          if (control === 'promote' && skippedApprovals(record).length > 0) {
            wanted.push(canaryRolloutApprovePermission);
          }
          if (control === 'retry') wanted.push(canaryRolloutCreatePermission);
          await authorizer.require(
            wanted,
            target,
            credentials,
            control === 'promote' && wanted.length > 1
              ? 'promote past an approval gate of'
              : control,
          );
          const actor = actorOf(credentials);
          if (control === 'retry') {
            const fresh = await retry(record, actor, credentials);
            await audit.success({
              meta: { entityRef: record.entityRef, newRolloutId: fresh.id },
            });
            res.status(201).json(toApiRollout(fresh, undefined, redact));
            return;
          }
          const updated = await commands.control(
            record.id,
            control,
            actor,
            body.reason,
          );
          await audit.success({
            meta: { entityRef: record.entityRef, phase: updated.phase },
          });
          res.json(toApiRollout(updated, undefined, redact));
        },
      );
    } catch (error) {
      throw redactError(error);
    }
  });

  /**
   * A new rollout with the old one's image and version, resolved again from
   * the entity as it is now: annotations, policy, cluster and (in the
   * engine) the binding.
   */
  async function retry(
    record: RolloutRecord,
    actor: string,
    credentials: BackstageCredentials,
  ): Promise<RolloutRecord> {
    const verdict = controlVerdict(record, 'retry');
    if (verdict.verdict === 'refused') {
      throw new ConflictError(
        `Cannot retry rollout ${record.id} (${record.phase}): ${verdict.reason}`,
      );
    }
    const entity = await catalog.getEntityByRef(record.entityRef, {
      credentials: await catalogCredentials(credentials),
    });
    if (!entity) {
      throw new NotFoundError(`No entity ${record.entityRef} in the catalog`);
    }
    const resolution = resolveTarget(entity, config);
    if (!resolution.ok) {
      throw new InputError(
        `${
          record.entityRef
        } is no longer set up for canaries: ${resolution.problems
          .map(p => `${p.key}: ${p.message}`)
          .join('; ')}`,
      );
    }
    if (!resolution.resolved.target.clusters.includes(record.cluster)) {
      throw new InputError(
        `${record.entityRef} no longer runs on cluster ${
          record.cluster
        } (coalmine.io/cluster names ${resolution.resolved.target.clusters.join(
          ', ',
        )}); start a new rollout instead`,
      );
    }
    return commands.start({
      resolved: resolution.resolved,
      cluster: record.cluster,
      image: record.spec.request.image ?? record.canary.image,
      version: record.spec.request.version,
      startedBy: actor,
      retryOf: record.id,
    });
  }

  return router;
}

function sanitizeBody(body: unknown) {
  if (!body || typeof body !== 'object') return null;
  const b = body as Record<string, unknown>;
  const pick = (k: string) =>
    typeof b[k] === 'string' ? (b[k] as string).slice(0, 512) : null;
  return {
    entityRef: pick('entityRef'),
    cluster: pick('cluster'),
    image: pick('image'),
    version: pick('version'),
  };
}
