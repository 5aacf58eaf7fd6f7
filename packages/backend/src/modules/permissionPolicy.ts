import {
  coreServices,
  createBackendModule,
  UserInfoService,
} from '@backstage/backend-plugin-api';
import {
  AuthorizeResult,
  isResourcePermission,
  PolicyDecision,
} from '@backstage/plugin-permission-common';
import {
  PermissionPolicy,
  PolicyQuery,
  PolicyQueryUser,
} from '@backstage/plugin-permission-node';
import { policyExtensionPoint } from '@backstage/plugin-permission-node/alpha';
import {
  catalogConditions,
  createCatalogConditionalDecision,
} from '@backstage/plugin-catalog-backend/alpha';
import { canaryRolloutReadPermission } from '@coalmine/backstage-plugin-canary-common';

/**
 * The demo's permission policy.
 *
 * Everyone may read everything, including every rollout. Acting on a rollout
 * (`canary.rollout.create`, `.promote`, `.abort`, …) is allowed only on
 * components the user owns — directly or through a group.
 *
 * Service principals (CI with a static token) never reach a policy:
 * Backstage allows them whatever their token's `accessRestrictions` do not
 * exclude. The demo's token is restricted to the canary plugin and to
 * `canary.rollout.read`, `.create` and `.abort` (app-config.yaml), and
 * `canary.servicePrincipals` limits which components it may act on.
 */
export class CoalmineDemoPolicy implements PermissionPolicy {
  constructor(private readonly userInfo: UserInfoService) {}

  async handle(
    request: PolicyQuery,
    user?: PolicyQueryUser,
  ): Promise<PolicyDecision> {
    const { permission } = request;
    if (
      permission.name.startsWith('canary.rollout.') &&
      permission.name !== canaryRolloutReadPermission.name &&
      isResourcePermission(permission, 'catalog-entity') &&
      user
    ) {
      const { ownershipEntityRefs } = await this.userInfo.getUserInfo(
        user.credentials,
      );
      return createCatalogConditionalDecision(
        permission,
        catalogConditions.isEntityOwner({ claims: ownershipEntityRefs }),
      );
    }
    return { result: AuthorizeResult.ALLOW };
  }
}

export default createBackendModule({
  pluginId: 'permission',
  moduleId: 'coalmine-demo-policy',
  register(reg) {
    reg.registerInit({
      deps: { policy: policyExtensionPoint, userInfo: coreServices.userInfo },
      async init({ policy, userInfo }) {
        policy.setPolicy(new CoalmineDemoPolicy(userInfo));
      },
    });
  },
});
