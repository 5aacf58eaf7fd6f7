import type {
  ActionsRegistryActionOptions,
  ActionsRegistryService,
} from '@backstage/backend-plugin-api/alpha';
import type { Rollout } from '@coalmine/backstage-plugin-canary-common';
import { canaryTabLink } from '../notifications/RolloutNotifier';
import {
  CanaryUseCaseDeps,
  OfferedControl,
  activeRollouts,
  canaryStatus,
  controlRollout,
  startRollout,
} from './useCases';

/** The zod the registry hands to schema builders (Backstage's own, zod 4's v3 API). */
type Z = Parameters<
  ActionsRegistryActionOptions<any, any>['schema']['input']
>[0];

/** What an assistant needs of a rollout: where it stands and where to look. */
const rolloutSchema = (z: Z) =>
  z.object({
    id: z.string(),
    entityRef: z.string(),
    cluster: z.string(),
    namespace: z.string(),
    phase: z
      .string()
      .describe(
        'Pending, Progressing, Paused, AwaitingApproval, Promoting, Succeeded, RollingBack, RolledBack, Aborted or Failed',
      ),
    weight: z.number().describe('percent of traffic on the canary'),
    step: z.number().describe('current step, 1-based; 0 before the first'),
    steps: z.array(z.number()).describe('the weights of the schedule'),
    canaryVersion: z.string().optional(),
    canaryImage: z.string().optional(),
    stableVersion: z.string().optional(),
    message: z.string().optional(),
    lastVerdict: z
      .string()
      .optional()
      .describe('the last analysis decision and why'),
    startedBy: z.string(),
    createdAt: z.string(),
    finishedAt: z.string().optional(),
    link: z.string().describe("the component's Canary tab in Backstage"),
  });
/** The output shape of {@link rolloutSchema}, written out so the compiler need not infer it. */
interface RolloutSummary {
  id: string;
  entityRef: string;
  cluster: string;
  namespace: string;
  phase: string;
  weight: number;
  step: number;
  steps: number[];
  canaryVersion?: string;
  canaryImage?: string;
  stableVersion?: string;
  message?: string;
  lastVerdict?: string;
  startedBy: string;
  createdAt: string;
  finishedAt?: string;
  link: string;
}

function summary(r: Rollout): RolloutSummary {
  return {
    id: r.id,
    entityRef: r.entityRef,
    cluster: r.cluster,
    namespace: r.namespace,
    phase: r.phase,
    weight: r.weight,
    step: r.stepIndex + 1,
    steps: r.steps.map(s => s.weight),
    ...(r.canary.version ? { canaryVersion: r.canary.version } : {}),
    ...(r.canary.image ? { canaryImage: r.canary.image } : {}),
    ...(r.stable.version ? { stableVersion: r.stable.version } : {}),
    ...(r.message ? { message: r.message } : {}),
    ...(r.lastAnalysis
      ? { lastVerdict: `${r.lastAnalysis.action}: ${r.lastAnalysis.reason}` }
      : {}),
    startedBy: r.startedBy,
    createdAt: r.createdAt,
    ...(r.finishedAt ? { finishedAt: r.finishedAt } : {}),
    link: canaryTabLink(r.entityRef),
  };
}

const entityRefField = (z: Z) =>
  z
    .string()
    .min(1)
    .max(512)
    .describe(
      'the component, e.g. component:default/checkout (kind and namespace may be left out)',
    );

const controlInput = (z: Z) =>
  z.object({
    rolloutId: z
      .string()
      .max(64)
      .optional()
      .describe('the rollout; or give entityRef for its active rollout'),
    entityRef: entityRefField(z).optional(),
    cluster: z
      .string()
      .max(255)
      .optional()
      .describe('with entityRef, when it rolls out on several clusters'),
    reason: z
      .string()
      .max(1000)
      .optional()
      .describe('recorded with the action'),
  });

const statusInput = (z: Z) => z.object({ entityRef: entityRefField(z) });
const statusOutput = (z: Z) =>
  z.object({
    entityRef: z.string(),
    setUp: z
      .boolean()
      .describe('whether the component is configured for canaries'),
    problems: z.array(z.object({ key: z.string(), message: z.string() })),
    active: rolloutSchema(z).nullable(),
    recent: z.array(rolloutSchema(z)),
    link: z.string(),
  });
const listInput = (z: Z) =>
  z.object({
    entityRef: entityRefField(z).optional(),
    cluster: z.string().max(255).optional(),
  });
const listOutput = (z: Z) => z.object({ rollouts: z.array(rolloutSchema(z)) });
const oneRollout = (z: Z) => z.object({ rollout: rolloutSchema(z) });
const startInput = (z: Z) =>
  z.object({
    entityRef: entityRefField(z),
    cluster: z.string().min(1).max(255).optional(),
    image: z
      .string()
      .min(1)
      .max(512)
      .regex(/^[^\s]+$/, 'must be an image reference without spaces')
      .optional()
      .describe('new canary image, e.g. shop/checkout:v2'),
    version: z
      .string()
      .min(1)
      .max(63)
      .regex(
        /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/,
        'must be a valid Kubernetes label value',
      )
      .optional()
      .describe('version label of the canary'),
  });

const CONTROLS: Array<{
  control: OfferedControl;
  title: string;
  description: string;
}> = [
  {
    control: 'promote',
    title: 'Promote a canary rollout',
    description:
      'Skips the remaining steps: the canary becomes the stable version. Needs canary.rollout.promote on the component.',
  },
  {
    control: 'abort',
    title: 'Abort a canary rollout',
    description:
      'Stops the rollout and sends all traffic back to the stable version. Needs canary.rollout.abort on the component.',
  },
  {
    control: 'approve',
    title: 'Approve the next step of a canary rollout',
    description:
      'Lets a rollout waiting at an approval gate (phase AwaitingApproval) continue. Needs canary.rollout.approve on the component.',
  },
];

/**
 * Offers Coalmine's status and controls to the actions registry (served to
 * assistants over MCP by @backstage/plugin-mcp-actions-backend). Every
 * action runs with the caller's credentials, is checked with the same
 * entity-scoped permissions as the REST API, and mutating ones are audited.
 */
export function registerCanaryActions(
  actionsRegistry: ActionsRegistryService,
  deps: CanaryUseCaseDeps,
): void {
  actionsRegistry.register({
    name: 'get-canary-status',
    title: "Get a component's canary status",
    description:
      "Where a component's canary rollout stands: the active rollout (phase, weight, last analysis verdict), recent rollouts, and configuration problems. Needs canary.rollout.read.",
    attributes: { readOnly: true, idempotent: true, destructive: false },
    schema: {
      input: statusInput,
      output: statusOutput,
    },
    action: async ({ input, credentials }) => {
      const status = await canaryStatus(deps, input.entityRef, credentials);
      return {
        output: {
          entityRef: status.entityRef,
          setUp: status.target !== null,
          problems: status.problems.map(p => ({
            key: p.key,
            message: p.message,
          })),
          active: status.active ? summary(status.active) : null,
          recent: status.history.slice(0, 5).map(summary),
          link: canaryTabLink(status.entityRef),
        },
      };
    },
  });

  actionsRegistry.register({
    name: 'list-active-rollouts',
    title: 'List active canary rollouts',
    description:
      'Every canary rollout that has not finished, across the components the caller may read; optionally for one component or cluster.',
    attributes: { readOnly: true, idempotent: true, destructive: false },
    schema: {
      input: listInput,
      output: listOutput,
    },
    action: async ({ input, credentials }) => ({
      output: {
        rollouts: (await activeRollouts(deps, input, credentials)).map(summary),
      },
    }),
  });

  actionsRegistry.register({
    name: 'start-rollout',
    title: 'Start a canary rollout',
    description:
      'Starts a canary rollout of a component with its policy, optionally with a new canary image and version label. Needs canary.rollout.create on the component.',
    attributes: { readOnly: false, idempotent: false, destructive: false },
    schema: {
      input: startInput,
      output: oneRollout,
    },
    action: async ({ input, credentials }) => ({
      output: {
        rollout: summary(
          await startRollout(deps, input, credentials, 'actions-registry'),
        ),
      },
    }),
  });

  for (const { control, title, description } of CONTROLS) {
    actionsRegistry.register({
      name: `${control}-rollout`,
      title,
      description,
      attributes: {
        readOnly: false,
        idempotent: false,
        destructive: control !== 'approve',
      },
      schema: {
        input: controlInput,
        output: oneRollout,
      },
      action: async ({ input, credentials }) => ({
        output: {
          rollout: summary(
            await controlRollout(
              deps,
              control,
              input,
              credentials,
              'actions-registry',
            ),
          ),
        },
      }),
    });
  }
}
