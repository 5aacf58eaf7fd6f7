import { createRouteRef } from '@backstage/core-plugin-api';

/** The organisation-wide Canary page (legacy frontend system). @public */
export const rootRouteRef = createRouteRef({ id: 'canary' });

/** The Canary tab on an entity page (legacy frontend system). @public */
export const entityContentRouteRef = createRouteRef({
  id: 'canary:entity-content',
});
