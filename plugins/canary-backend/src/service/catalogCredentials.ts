import type {
  AuthService,
  BackstageCredentials,
} from '@backstage/backend-plugin-api';

/** The credentials the plugin reads the catalog with for a caller. */
export type CatalogCredentials = (
  credentials: BackstageCredentials,
) => Promise<BackstageCredentials>;

/**
 * Whose credentials read the catalog for a caller: a user's own (the
 * catalog shows them what they may see), the plugin's for a service
 * principal. A CI token restricted to the canary plugin cannot reach the
 * catalog, and Backstage lets an unrestricted one see everything anyway;
 * what a service may do with rollouts is decided by the canary permissions
 * and `canary.servicePrincipals`, never by the catalog read. Without `auth`
 * (tests), the caller's own.
 */
export function catalogCredentialsFor(
  auth: AuthService | undefined,
): CatalogCredentials {
  return async credentials =>
    (credentials.principal as { type?: string }).type === 'service' && auth
      ? auth.getOwnServiceCredentials()
      : credentials;
}
