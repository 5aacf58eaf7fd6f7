import {
  ApiBlueprint,
  PageBlueprint,
  createFrontendPlugin,
  createRouteRef,
  discoveryApiRef,
  fetchApiRef,
} from '@backstage/frontend-plugin-api';
import {
  EntityCardBlueprint,
  EntityContentBlueprint,
} from '@backstage/plugin-catalog-react/alpha';
import { Content } from '@backstage/core-components';
import CallSplitIcon from '@material-ui/icons/CallSplit';
import { isCanaryAvailable } from '@coalmine/backstage-plugin-canary-common';
import { CanaryClient, canaryApiRef } from './api';

/** The organisation-wide Canary page (new frontend system). @alpha */
export const canaryPageRouteRef = createRouteRef();

/** The client on discoveryApi and fetchApi. @alpha */
export const canaryApi = ApiBlueprint.make({
  params: defineParams =>
    defineParams({
      api: canaryApiRef,
      deps: { discoveryApi: discoveryApiRef, fetchApi: fetchApiRef },
      factory: ({ discoveryApi, fetchApi }) =>
        new CanaryClient({ discoveryApi, fetchApi }),
    }),
});

/** The Canary tab, on entities with the `coalmine.io/policy` annotation. @alpha */
export const canaryEntityContent = EntityContentBlueprint.make({
  params: {
    path: 'canary',
    title: 'Canary',
    filter: isCanaryAvailable,
    // Prefetched at idle once the app has loaded: a click on the tab then
    // waits for the status call, not for the tab's code.
    loader: () =>
      import(
        /* webpackPrefetch: true */ './components/EntityCanaryContent'
      ).then(m => <m.EntityCanaryContent />),
  },
});

/** The overview card, on the same entities. @alpha */
export const canaryEntityCard = EntityCardBlueprint.make({
  params: {
    filter: isCanaryAvailable,
    loader: () =>
      import('./components/EntityCanaryCard').then(m => <m.EntityCanaryCard />),
  },
});

/** Every active and recent rollout, at `/canary`. @alpha */
export const canaryPage = PageBlueprint.make({
  params: {
    path: '/canary',
    title: 'Canary',
    icon: <CallSplitIcon fontSize="inherit" />,
    routeRef: canaryPageRouteRef,
    loader: () =>
      import('./components/CanaryRollouts').then(m => (
        <Content>
          <m.CanaryRollouts />
        </Content>
      )),
  },
});

/**
 * The Coalmine canary plugin for the new frontend system; picked up by
 * feature discovery as this entry point's default export.
 * @alpha
 */
export default createFrontendPlugin({
  pluginId: 'canary',
  title: 'Canary',
  icon: <CallSplitIcon fontSize="inherit" />,
  routes: { root: canaryPageRouteRef },
  extensions: [canaryApi, canaryEntityContent, canaryEntityCard, canaryPage],
});
