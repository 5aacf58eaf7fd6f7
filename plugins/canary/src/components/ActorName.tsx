import { EntityRefLink } from '@backstage/plugin-catalog-react';

/**
 * Who did something: a link to the user or group in the catalog, or the
 * name as it is for the engine (`coalmine`) and service principals.
 */
export function ActorName(props: { actor: string }) {
  if (/^(user|group):[^/]+\/.+/.test(props.actor)) {
    return <EntityRefLink entityRef={props.actor} hideIcon disableTooltip />;
  }
  return <>{props.actor}</>;
}
