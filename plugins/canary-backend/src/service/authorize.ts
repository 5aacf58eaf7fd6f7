import {
  BackstageCredentials,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import { NotAllowedError } from '@backstage/errors';
import {
  AuthorizeResult,
  ResourcePermission,
} from '@backstage/plugin-permission-common';
import type { CanaryConfig } from '../config/CanaryConfig';

/** The entity an action is about: its ref, and its owners when known. */
export interface ActionTarget {
  entityRef: string;
  /** Needed only when a service principal is limited by owner. */
  owners?: () => Promise<string[]>;
}

/**
 * Who may do what to a component's rollouts, in one place for the router
 * and any other entry point (actions, notifications): every named
 * permission on the entity (the permission framework; for service
 * principals their token's access restrictions), and for a service
 * principal listed under `canary.servicePrincipals`, the entities or owners
 * it is limited to.
 */
export class RolloutAuthorizer {
  constructor(
    private readonly permissions: PermissionsService,
    private readonly servicePrincipals: CanaryConfig['servicePrincipals'],
  ) {}

  /** The permissions among `wanted` the caller does not hold on the entity. */
  async missing(
    wanted: ResourcePermission<'catalog-entity'>[],
    entityRef: string,
    credentials: BackstageCredentials,
  ): Promise<ResourcePermission<'catalog-entity'>[]> {
    const decisions = await this.permissions.authorize(
      wanted.map(permission => ({ permission, resourceRef: entityRef })),
      { credentials },
    );
    return wanted.filter(
      (_, i) => decisions[i].result !== AuthorizeResult.ALLOW,
    );
  }

  /**
   * Throws NotAllowedError naming what is missing, unless the caller holds
   * every permission and is within its configured scope.
   */
  async require(
    wanted: ResourcePermission<'catalog-entity'>[],
    target: ActionTarget,
    credentials: BackstageCredentials,
    doing: string,
  ): Promise<void> {
    const missing = await this.missing(wanted, target.entityRef, credentials);
    if (missing.length > 0) {
      throw new NotAllowedError(
        `You may not ${doing} rollouts of ${
          target.entityRef
        }: it needs ${missing.map(p => p.name).join(' and ')}`,
      );
    }
    await this.requireScope(target, credentials, doing);
  }

  /** The `canary.servicePrincipals` limit of a service principal, if it has one. */
  async requireScope(
    target: ActionTarget,
    credentials: BackstageCredentials,
    doing: string,
  ): Promise<void> {
    const principal = credentials.principal as {
      type: string;
      subject?: string;
    };
    if (principal.type !== 'service' || !principal.subject) return;
    const scope = this.servicePrincipals[principal.subject];
    if (!scope) return;
    const ref = target.entityRef.toLocaleLowerCase('en-US');
    if (scope.entities.some(e => e.toLocaleLowerCase('en-US') === ref)) {
      return;
    }
    if (scope.owners.length > 0 && target.owners) {
      const owners = (await target.owners()).map(o =>
        o.toLocaleLowerCase('en-US'),
      );
      if (
        scope.owners.some(o => owners.includes(o.toLocaleLowerCase('en-US')))
      ) {
        return;
      }
    }
    throw new NotAllowedError(
      `Service principal ${principal.subject} may not ${doing} rollouts of ${target.entityRef}: canary.servicePrincipals.${principal.subject} limits it to other entities or owners`,
    );
  }
}
