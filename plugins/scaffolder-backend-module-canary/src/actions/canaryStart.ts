import { AuthService, DiscoveryService } from '@backstage/backend-plugin-api';
import { ResponseError } from '@backstage/errors';
import { createTemplateAction } from '@backstage/plugin-scaffolder-node';
import type { Rollout } from '@coalmine/backstage-plugin-canary-common';

/**
 * `canary:start`: starts a canary rollout of a component, as the user who
 * runs the template. It calls the canary backend's REST API with a token
 * on the user's behalf, so the rollout is checked against
 * `canary.rollout.create` on that component and audited like any start.
 *
 * @public
 */
export function createCanaryStartAction(options: {
  discovery: DiscoveryService;
  auth: AuthService;
}) {
  const { discovery, auth } = options;
  return createTemplateAction({
    id: 'canary:start',
    supportsDryRun: true,
    description:
      'Starts a canary rollout of a component with its Coalmine policy, with the permissions of the user running the template.',
    examples: [
      {
        description: 'Roll out the image the previous steps built',
        example: [
          'steps:',
          '  - id: canary',
          '    name: Start the canary',
          '    action: canary:start',
          '    input:',
          '      entityRef: component:default/checkout',
          '      image: registry.example.com/shop/checkout:${{ parameters.version }}',
          '      version: ${{ parameters.version }}',
        ].join('\n'),
      },
    ],
    schema: {
      input: {
        entityRef: z =>
          z
            .string()
            .min(1)
            .describe('The component, e.g. component:default/checkout'),
        cluster: z =>
          z
            .string()
            .min(1)
            .optional()
            .describe("The cluster; default: the component's first cluster"),
        image: z =>
          z
            .string()
            .min(1)
            .regex(/^[^\s]+$/, 'must be an image reference without spaces')
            .optional()
            .describe('New canary image'),
        version: z =>
          z
            .string()
            .min(1)
            .max(63)
            .optional()
            .describe('Version label of the canary'),
      },
      output: {
        rolloutId: z => z.string().describe('The id of the started rollout'),
        phase: z => z.string().describe('Its phase right after the start'),
        cluster: z => z.string().describe('The cluster it runs on'),
      },
    },
    async handler(ctx) {
      const { entityRef, cluster, image, version } = ctx.input;
      if (ctx.isDryRun) {
        ctx.logger.info(
          `Dry run: would start a canary rollout of ${entityRef}${
            image ? ` with ${image}` : ''
          }`,
        );
        ctx.output('rolloutId', 'dry-run');
        ctx.output('phase', 'Pending');
        ctx.output('cluster', cluster ?? '');
        return;
      }
      const { token } = await auth.getPluginRequestToken({
        onBehalfOf: await ctx.getInitiatorCredentials(),
        targetPluginId: 'canary',
      });
      const baseUrl = await discovery.getBaseUrl('canary');
      const response = await fetch(`${baseUrl}/rollouts`, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${token}`,
          'Content-Type': 'application/json',
        },
        body: JSON.stringify({ entityRef, cluster, image, version }),
        signal: ctx.signal,
      });
      if (!response.ok) {
        // The canary backend's reason (not allowed, not set up, already active …).
        const error = await ResponseError.fromResponse(response);
        throw new Error(
          `Could not start a canary rollout of ${entityRef}: ${
            error.body?.error?.message ?? error.message
          }`,
        );
      }
      const rollout = (await response.json()) as Rollout;
      ctx.logger.info(
        `Started canary rollout ${rollout.id} of ${rollout.entityRef} on ${rollout.cluster} (${rollout.phase})`,
      );
      ctx.output('rolloutId', rollout.id);
      ctx.output('phase', rollout.phase);
      ctx.output('cluster', rollout.cluster);
    },
  });
}
