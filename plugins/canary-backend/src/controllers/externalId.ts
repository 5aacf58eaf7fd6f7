import { InputError } from '@backstage/errors';
import type { ExternalControllerKind } from '@coalmine/backstage-plugin-canary-common';

/**
 * The API id of a rollout another controller runs: `ext.` and the
 * controller object it is read from, base64url-encoded. The id names the
 * entity only as a hint: every use re-discovers the entity's objects and
 * refuses an id whose object is not among them.
 */
export interface ExternalRolloutId {
  kind: ExternalControllerKind;
  entityRef: string;
  cluster: string;
  namespace: string;
  name: string;
}

const PREFIX = 'ext.';

export function isExternalRolloutId(id: string): boolean {
  return id.startsWith(PREFIX);
}

export function encodeExternalRolloutId(id: ExternalRolloutId): string {
  return `${PREFIX}${Buffer.from(
    JSON.stringify([id.kind, id.entityRef, id.cluster, id.namespace, id.name]),
  ).toString('base64url')}`;
}

export function decodeExternalRolloutId(text: string): ExternalRolloutId {
  try {
    const [kind, entityRef, cluster, namespace, name] = JSON.parse(
      Buffer.from(text.slice(PREFIX.length), 'base64url').toString('utf8'),
    );
    if (
      (kind === 'flagger' || kind === 'argo-rollouts') &&
      [entityRef, cluster, namespace, name].every(
        v => typeof v === 'string' && v.length > 0 && v.length < 300,
      )
    ) {
      return { kind, entityRef, cluster, namespace, name };
    }
  } catch {
    // fall through to the error below
  }
  throw new InputError(
    `path parameter id: "${text.slice(0, 80)}" is not a rollout id`,
  );
}
