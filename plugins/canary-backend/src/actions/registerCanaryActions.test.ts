import {
  TestDatabases,
  mockCredentials,
  mockServices,
} from '@backstage/backend-test-utils';
import { actionsRegistryServiceMock } from '@backstage/backend-test-utils/alpha';
import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { ConfigReader } from '@backstage/config';
import { Entity } from '@backstage/catalog-model';
import { ConflictError } from '@backstage/errors';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { RolloutStore } from '../store/RolloutStore';
import { readCanaryConfig } from '../config/CanaryConfig';
import { registerCanaryActions } from './registerCanaryActions';
import { RolloutAuthorizer } from '../service/authorize';
import {
  FakeCommands,
  checkout,
  recordingAuditor,
  storefront,
} from './__testUtils__/fixtures';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3'] });

const config = readCanaryConfig(
  new ConfigReader({
    kubernetes: {
      clusterLocatorMethods: [
        {
          type: 'config',
          clusters: [{ name: 'sandbox', url: 'http://127.0.0.1:1' }],
        },
      ],
    },
    canary: {
      policies: {
        standard: { trafficProvider: 'istio', steps: [10, 50, 100] },
      },
    },
  }),
);

const jane = mockCredentials.user('user:default/jane');

async function setUp(
  deny: string[] = [],
  refuseStart?: (entity: Entity, cluster: string) => Promise<void>,
) {
  const store = await RolloutStore.create(
    await databases.init('SQLITE_3'),
    resolvePackagePath(
      '@coalmine/backstage-plugin-canary-backend',
      'migrations',
    ),
  );
  // Like an owner-only policy: jane may read everything, act only on checkout.
  const permissions = mockServices.permissions.mock();
  const asked: string[] = [];
  permissions.authorize.mockImplementation(async requests =>
    requests.map((r: any) => {
      asked.push(`${r.permission.name} ${r.resourceRef}`);
      const allowed =
        !deny.includes(r.permission.name) &&
        (r.permission.name === 'canary.rollout.read' ||
          r.resourceRef === 'component:default/checkout');
      return { result: allowed ? AuthorizeResult.ALLOW : AuthorizeResult.DENY };
    }),
  );
  const auditor = recordingAuditor();
  const commands = new FakeCommands(store);
  const registry = actionsRegistryServiceMock();
  registerCanaryActions(registry, {
    catalog: catalogServiceMock({ entities: [checkout, storefront] }),
    permissions,
    authorizer: new RolloutAuthorizer(permissions, config.servicePrincipals),
    auditor: auditor.service,
    store,
    config,
    commands,
    refuseStart,
  });
  return { registry, store, asked, audits: auditor.events, commands };
}

describe('canary actions in the actions registry', () => {
  it('offers status, active rollouts, start, promote, abort and approve with their schemas', async () => {
    const { registry } = await setUp();
    const { actions } = await registry.list();
    expect(actions.map(a => [a.name, a.attributes.readOnly])).toEqual([
      ['get-canary-status', true],
      ['list-active-rollouts', true],
      ['start-rollout', false],
      ['promote-rollout', false],
      ['abort-rollout', false],
      ['approve-rollout', false],
    ]);
    const start = actions.find(a => a.name === 'start-rollout')!;
    expect(start.schema.input).toMatchObject({
      type: 'object',
      required: ['entityRef'],
      properties: { image: { type: 'string' }, version: { type: 'string' } },
    });
  });

  it('starts, reads, approves and promotes with the caller as actor, every change audited', async () => {
    const { registry, audits, asked } = await setUp();
    const started = await registry.invoke({
      id: 'test:start-rollout',
      input: {
        entityRef: 'checkout',
        image: 'shop/checkout:v2',
        version: 'v2',
      },
      credentials: jane,
    });
    const rollout = (started.output as any).rollout;
    expect(rollout).toMatchObject({
      entityRef: 'component:default/checkout',
      cluster: 'sandbox',
      phase: 'Pending',
      canaryImage: 'shop/checkout:v2',
      startedBy: 'user:default/jane',
      steps: [10, 50, 100],
      link: '/catalog/default/component/checkout/canary',
    });

    const status = await registry.invoke({
      id: 'test:get-canary-status',
      input: { entityRef: 'component:default/checkout' },
      credentials: jane,
    });
    expect(status.output).toMatchObject({
      entityRef: 'component:default/checkout',
      setUp: true,
      problems: [],
      active: { id: rollout.id, phase: 'Pending' },
    });

    const list = await registry.invoke({
      id: 'test:list-active-rollouts',
      input: {},
      credentials: jane,
    });
    expect((list.output as any).rollouts.map((r: any) => r.id)).toEqual([
      rollout.id,
    ]);

    const approved = await registry.invoke({
      id: 'test:approve-rollout',
      input: { entityRef: 'checkout', reason: 'looks fine' },
      credentials: jane,
    });
    expect((approved.output as any).rollout.phase).toBe('Progressing');
    const promoted = await registry.invoke({
      id: 'test:promote-rollout',
      input: { rolloutId: rollout.id },
      credentials: jane,
    });
    expect((promoted.output as any).rollout.phase).toBe('Promoting');

    expect(audits).toEqual([
      expect.objectContaining({
        eventId: 'rollout-start',
        outcome: 'success',
        actor: 'user:default/jane',
        via: 'actions-registry',
      }),
      expect.objectContaining({
        eventId: 'rollout-control',
        control: 'approve',
        outcome: 'success',
      }),
      expect.objectContaining({
        eventId: 'rollout-control',
        control: 'promote',
        outcome: 'success',
      }),
    ]);
    expect(asked).toEqual(
      expect.arrayContaining([
        'canary.rollout.create component:default/checkout',
        'canary.rollout.approve component:default/checkout',
        'canary.rollout.promote component:default/checkout',
      ]),
    );
  });

  it('asks for approve too when a promotion would skip an approval gate, as the REST API does', async () => {
    const { registry, store, commands } = await setUp([
      'canary.rollout.approve',
    ]);
    // The schedule 10 → 50 (approval) → 100, at its first step.
    const r = await commands.startFor(
      'component:default/checkout',
      'user:default/jane',
      undefined,
      [{ weight: 10 }, { weight: 50, approval: true }, { weight: 100 }],
    );
    await store.commit(r.id, 0, {
      phase: 'Progressing',
      stepIndex: 0,
      weight: 10,
    });
    await expect(
      registry.invoke({
        id: 'test:promote-rollout',
        input: { rolloutId: r.id },
        credentials: jane,
      }),
    ).rejects.toMatchObject({
      name: 'NotAllowedError',
      message:
        'You may not promote past an approval gate of rollouts of component:default/checkout: it needs canary.rollout.approve',
    });
    expect((await store.get(r.id))!.phase).toBe('Progressing');
  });

  it("refuses what the REST API refuses: another team's component, unknown entities, bad input", async () => {
    const { registry, audits, store } = await setUp();
    await expect(
      registry.invoke({
        id: 'test:start-rollout',
        input: { entityRef: 'storefront' },
        credentials: jane,
      }),
    ).rejects.toMatchObject({
      name: 'NotAllowedError',
      message:
        'You may not start rollouts of component:default/storefront: it needs canary.rollout.create',
    });
    await expect(
      registry.invoke({
        id: 'test:get-canary-status',
        input: { entityRef: 'component:default/nope' },
        credentials: jane,
      }),
    ).rejects.toMatchObject({ name: 'NotFoundError' });
    await expect(
      registry.invoke({
        id: 'test:start-rollout',
        input: { entityRef: 'checkout', image: 'has spaces' },
        credentials: jane,
      }),
    ).rejects.toMatchObject({ name: 'InputError' });
    await expect(
      registry.invoke({
        id: 'test:abort-rollout',
        input: {},
        credentials: jane,
      }),
    ).rejects.toMatchObject({
      name: 'InputError',
      message: 'Give rolloutId, or entityRef for its active rollout',
    });

    // storefront has an active rollout someone else started: jane may see it, not abort it.
    const other = await new FakeCommands(store).startFor(
      'component:default/storefront',
      'user:default/platform',
    );
    const list = await registry.invoke({
      id: 'test:list-active-rollouts',
      input: { entityRef: 'storefront' },
      credentials: jane,
    });
    expect((list.output as any).rollouts.map((r: any) => r.id)).toEqual([
      other.id,
    ]);
    await expect(
      registry.invoke({
        id: 'test:abort-rollout',
        input: { entityRef: 'component:default/storefront' },
        credentials: jane,
      }),
    ).rejects.toMatchObject({
      name: 'NotAllowedError',
      message:
        'You may not abort rollouts of component:default/storefront: it needs canary.rollout.abort',
    });
    expect((await store.get(other.id))!.phase).toBe('Pending');
    expect(audits.map(a => [a.eventId, a.outcome])).toEqual([
      ['rollout-start', 'fail'],
      ['rollout-control', 'fail'],
      ['rollout-control', 'fail'],
    ]);
  });

  it('refuses to start where Flagger or Argo Rollouts manages the workload, as the REST API does', async () => {
    const refused: string[] = [];
    const { registry, audits, store } = await setUp(
      [],
      async (entity, cluster) => {
        refused.push(`${entity.metadata.name}@${cluster}`);
        throw new ConflictError(
          'checkout is managed by Flagger (Canary shop/checkout); control it from the Canary tab',
        );
      },
    );
    await expect(
      registry.invoke({
        id: 'test:start-rollout',
        input: { entityRef: 'checkout' },
        credentials: jane,
      }),
    ).rejects.toMatchObject({
      name: 'ConflictError',
      message: expect.stringContaining('managed by Flagger'),
    });
    expect(refused).toEqual(['checkout@sandbox']);
    expect(
      await store.list({ entityRefs: ['component:default/checkout'] }),
    ).toEqual([]);
    expect(audits.map(a => [a.eventId, a.outcome])).toEqual([
      ['rollout-start', 'fail'],
    ]);
  });
});
