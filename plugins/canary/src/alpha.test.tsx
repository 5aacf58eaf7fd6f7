import { screen, waitFor } from '@testing-library/react';
import {
  createExtensionTester,
  mockApis,
  renderTestApp,
} from '@backstage/frontend-test-utils';
import { ApiBlueprint } from '@backstage/frontend-plugin-api';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { catalogApiRef, entityRouteRef } from '@backstage/plugin-catalog-react';
import {
  EntityCardBlueprint,
  EntityContentBlueprint,
} from '@backstage/plugin-catalog-react/alpha';
import {
  catalogApiMock,
  createTestEntityPage,
} from '@backstage/plugin-catalog-react/testUtils';
import plugin, {
  canaryApi,
  canaryEntityCard,
  canaryEntityContent,
  canaryPage,
} from './alpha';
import { canaryApiRef, CanaryClient } from './api';
import { fakeCanaryApi } from './__testUtils__/fakeCanaryApi';
import { annotatedEntity, bareEntity } from './__testUtils__/fixtures';

describe('canary plugin for the new frontend system', () => {
  it('is the default export with the plugin id and its four extensions', () => {
    expect(plugin.pluginId).toBe('canary');
    expect(plugin.getExtension('api:canary')).toBeDefined();
    expect(plugin.getExtension('entity-content:canary')).toBeDefined();
    expect(plugin.getExtension('entity-card:canary')).toBeDefined();
    expect(plugin.getExtension('page:canary')).toBeDefined();
  });

  it('provides the client on discoveryApi and fetchApi', () => {
    const factory = createExtensionTester(canaryApi).get(
      ApiBlueprint.dataRefs.factory,
    );
    expect(factory.api.id).toBe(canaryApiRef.id);
    const client = factory.factory({
      discoveryApi: mockApis.discovery(),
      fetchApi: mockApis.fetch(),
    });
    expect(client).toBeInstanceOf(CanaryClient);
  });

  it('mounts the Canary tab on an annotated entity', async () => {
    const api = fakeCanaryApi();
    renderTestApp({
      extensions: [
        createTestEntityPage({ entity: annotatedEntity }),
        canaryEntityContent,
      ],
      apis: [
        [canaryApiRef, api],
        mockApis.permission({ authorize: AuthorizeResult.ALLOW }),
      ],
    });
    expect(await screen.findByTestId('canary-phase')).toHaveAttribute(
      'data-phase',
      'Progressing',
    );
    await waitFor(() =>
      expect(screen.getByRole('button', { name: 'Abort' })).toBeEnabled(),
    );
    expect(api.getEntityStatus).toHaveBeenCalledWith(
      {
        kind: 'component',
        namespace: 'default',
        name: 'checkout',
      },
      // The first load may share a request the card already sent.
      { notBefore: expect.any(Number) },
    );
  });

  it('keeps the tab and card off entities without the annotation', () => {
    const api = fakeCanaryApi();
    // The filter functions the catalog uses to decide where they show.
    const tab = createExtensionTester(canaryEntityContent).get(
      EntityContentBlueprint.dataRefs.filterFunction,
    );
    expect(tab?.(annotatedEntity)).toBe(true);
    expect(tab?.(bareEntity)).toBe(false);
    const card = createExtensionTester(canaryEntityCard).get(
      EntityCardBlueprint.dataRefs.filterFunction,
    );
    expect(card?.(bareEntity)).toBe(false);
    expect(api.getEntityStatus).not.toHaveBeenCalled();
  });

  it('mounts the overview card', async () => {
    renderTestApp({
      extensions: [
        createTestEntityPage({ entity: annotatedEntity }),
        canaryEntityCard,
      ],
      apis: [[canaryApiRef, fakeCanaryApi()]],
    });
    expect(await screen.findByTestId('canary-card-weight')).toHaveTextContent(
      '25 %',
    );
  });

  it('mounts the organisation page at /canary', async () => {
    renderTestApp({
      extensions: [canaryPage],
      initialRouteEntries: ['/canary'],
      mountedRoutes: { '/catalog/:namespace/:kind/:name': entityRouteRef },
      apis: [
        [canaryApiRef, fakeCanaryApi()],
        [catalogApiRef, catalogApiMock()],
      ],
    });
    expect(await screen.findByText('Rollouts (2)')).toBeInTheDocument();
  });
});
