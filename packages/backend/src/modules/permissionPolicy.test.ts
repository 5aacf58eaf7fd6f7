import { AuthorizeResult } from '@backstage/plugin-permission-common';
import {
  canaryRolloutAbortPermission,
  canaryRolloutReadPermission,
} from '@coalmine/backstage-plugin-canary-common';
import { mockCredentials, mockServices } from '@backstage/backend-test-utils';
import { CoalmineDemoPolicy } from './permissionPolicy';

const guestCredentials = mockCredentials.user('user:development/guest');
const guest = { credentials: guestCredentials, info: {} as any };

describe('CoalmineDemoPolicy', () => {
  const policy = new CoalmineDemoPolicy(
    mockServices.userInfo({
      userEntityRef: 'user:development/guest',
      ownershipEntityRefs: ['user:development/guest', 'group:default/guests'],
    }),
  );

  it('lets everyone read rollouts', async () => {
    const decision = await policy.handle(
      { permission: canaryRolloutReadPermission },
      guest as any,
    );
    expect(decision.result).toBe(AuthorizeResult.ALLOW);
  });

  it('lets users act only on components they own', async () => {
    const decision = await policy.handle(
      { permission: canaryRolloutAbortPermission },
      guest as any,
    );
    expect(decision).toEqual({
      result: AuthorizeResult.CONDITIONAL,
      pluginId: 'catalog',
      resourceType: 'catalog-entity',
      conditions: {
        rule: 'IS_ENTITY_OWNER',
        resourceType: 'catalog-entity',
        params: {
          claims: ['user:development/guest', 'group:default/guests'],
        },
      },
    });
  });

  it('lets service principals (CI with a static token) act', async () => {
    const decision = await policy.handle({
      permission: canaryRolloutAbortPermission,
    });
    expect(decision.result).toBe(AuthorizeResult.ALLOW);
  });
});
