import { ReactElement } from 'react';
import type { Entity } from '@backstage/catalog-model';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { permissionApiRef } from '@backstage/plugin-permission-react';
import {
  EntityProvider,
  entityRouteRef,
} from '@backstage/plugin-catalog-react';
import {
  TestApiProvider,
  mockApis,
  renderInTestApp,
} from '@backstage/test-utils';
import { SWRConfig } from 'swr';
import { discoveryApiRef } from '@backstage/core-plugin-api';
import { SignalApi, signalApiRef } from '@backstage/plugin-signals-react';
import { canaryApiRef, CanaryApi } from '../api';
import { annotatedEntity } from './fixtures';

/**
 * Renders an element of the legacy plugin inside a test app, on an entity,
 * with a canary API and a permission policy.
 */
export function renderWithEntity(
  element: ReactElement,
  options: {
    canaryApi: CanaryApi;
    entity?: Entity;
    /** Names of the permissions to deny; everything else is allowed. */
    deny?: string[];
    /** The app's Signals API; without it the app has no Signals. */
    signalApi?: SignalApi;
  },
) {
  const deny = new Set(options.deny ?? []);
  return renderInTestApp(
    <TestApiProvider
      apis={[
        ...(options.signalApi
          ? [[signalApiRef, options.signalApi] as const]
          : []),
        [canaryApiRef, options.canaryApi],
        [
          discoveryApiRef,
          mockApis.discovery({ baseUrl: 'http://backstage.test' }),
        ],
        [
          permissionApiRef,
          mockApis.permission({
            authorize: request =>
              deny.has(request.permission.name)
                ? AuthorizeResult.DENY
                : AuthorizeResult.ALLOW,
          }),
        ],
      ]}
    >
      {/* usePermission caches answers in SWR; a fresh cache per render keeps
          one test's policy from leaking into the next. */}
      <SWRConfig value={{ provider: () => new Map() }}>
        <EntityProvider entity={options.entity ?? annotatedEntity}>
          {element}
        </EntityProvider>
      </SWRConfig>
    </TestApiProvider>,
    { mountedRoutes: { '/catalog/:namespace/:kind/:name': entityRouteRef } },
  );
}
