import {
  createApiFactory,
  createComponentExtension,
  createPlugin,
  createRoutableExtension,
  discoveryApiRef,
  fetchApiRef,
} from '@backstage/core-plugin-api';
import { CanaryClient, canaryApiRef } from './api';
import { entityContentRouteRef, rootRouteRef } from './routes';

/**
 * The Coalmine canary plugin for the legacy frontend system.
 * @public
 */
export const canaryPlugin = createPlugin({
  id: 'canary',
  apis: [
    createApiFactory({
      api: canaryApiRef,
      deps: { discoveryApi: discoveryApiRef, fetchApi: fetchApiRef },
      factory: ({ discoveryApi, fetchApi }) =>
        new CanaryClient({ discoveryApi, fetchApi }),
    }),
  ],
  routes: {
    root: rootRouteRef,
    entityContent: entityContentRouteRef,
  },
});

/**
 * The Canary tab of an entity page: live rollout, analysis, charts,
 * events, controls and history.
 * @public
 */
export const EntityCanaryContent = canaryPlugin.provide(
  createRoutableExtension({
    name: 'EntityCanaryContent',
    // Prefetched at idle once the app has loaded (see alpha.tsx).
    component: () =>
      import(
        /* webpackPrefetch: true */ './components/EntityCanaryContent'
      ).then(m => m.EntityCanaryContent),
    mountPoint: entityContentRouteRef,
  }),
);

/**
 * Overview card: phase, weight and last verdict, linking to the tab.
 * @public
 */
export const EntityCanaryCard = canaryPlugin.provide(
  createComponentExtension({
    name: 'EntityCanaryCard',
    component: {
      lazy: () =>
        import('./components/EntityCanaryCard').then(m => m.EntityCanaryCard),
    },
  }),
);

/**
 * Every active and recent rollout across the organisation.
 * @public
 */
export const CanaryPage = canaryPlugin.provide(
  createRoutableExtension({
    name: 'CanaryPage',
    component: () => import('./components/CanaryPage').then(m => m.CanaryPage),
    mountPoint: rootRouteRef,
  }),
);
