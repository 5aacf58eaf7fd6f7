import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import {
  MockFetchApi,
  mockApis,
  registerMswTestHooks,
} from '@backstage/test-utils';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { Route, Routes } from 'react-router-dom';
import { CanaryClient } from './api';
import { EntityCanaryContent, canaryPlugin } from './plugin';
import { details, rollout, series, status } from './__testUtils__/fixtures';
import { renderWithEntity } from './__testUtils__/renderWithEntity';

const base = 'http://backstage.test/api/canary';

describe('legacy canary plugin', () => {
  const server = setupServer();
  registerMswTestHooks(server);

  it('is the canary plugin with its routes', () => {
    expect(canaryPlugin.getId()).toBe('canary');
    expect(Object.keys(canaryPlugin.routes)).toEqual(['root', 'entityContent']);
  });

  it('drives the tab over HTTP and shows the server reason for a refused control', async () => {
    const controls: string[] = [];
    server.use(
      http.get(`${base}/entities/component/default/checkout`, () =>
        HttpResponse.json(status()),
      ),
      http.get(`${base}/rollouts/r-2`, () => HttpResponse.json(details())),
      http.get(`${base}/rollouts/r-2/series`, () =>
        HttpResponse.json({ series }),
      ),
      http.post(`${base}/rollouts/r-2/abort`, () => {
        controls.push('abort');
        return HttpResponse.json(
          {
            error: {
              name: 'NotAllowedError',
              message:
                'user:default/guest may not canary.rollout.abort component:default/checkout',
            },
            response: { statusCode: 403 },
          },
          { status: 403, statusText: 'Forbidden' },
        );
      }),
      http.post(`${base}/rollouts/r-2/pause`, async ({ request }) => {
        controls.push(`pause ${JSON.stringify(await request.json())}`);
        return HttpResponse.json(rollout({ phase: 'Paused' }));
      }),
    );
    const canaryApi = new CanaryClient({
      discoveryApi: mockApis.discovery({ baseUrl: 'http://backstage.test' }),
      fetchApi: new MockFetchApi(),
    });
    // As in an app: the routable extension sits on a route, like
    // <EntityLayout.Route path="/canary"> does.
    await renderWithEntity(
      <Routes>
        <Route
          path="/*"
          element={<EntityCanaryContent pollIntervals={{ activeMs: 60_000 }} />}
        />
      </Routes>,
      { canaryApi },
    );

    expect(await screen.findByTestId('canary-phase')).toHaveAttribute(
      'data-phase',
      'Progressing',
    );
    expect(await screen.findByTestId('gate-error-rate')).toHaveAttribute(
      'data-verdict',
      'fail',
    );
    expect(await screen.findByTestId('chart-error-rate')).toBeInTheDocument();

    const abort = screen.getByRole('button', { name: 'Abort' });
    await waitFor(() => expect(abort).toBeEnabled());
    await userEvent.click(abort);
    let dialog = await screen.findByRole('dialog', {
      name: 'Abort this rollout?',
    });
    await userEvent.click(
      within(dialog).getByRole('button', { name: 'Confirm' }),
    );
    expect(
      await within(dialog).findByTestId('canary-action-error'),
    ).toHaveTextContent(
      'may not canary.rollout.abort component:default/checkout (403 Forbidden)',
    );
    await userEvent.click(
      within(dialog).getByRole('button', { name: 'Cancel' }),
    );
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());

    await userEvent.click(screen.getByRole('button', { name: 'Pause' }));
    dialog = await screen.findByRole('dialog', { name: 'Pause this rollout?' });
    await userEvent.click(
      within(dialog).getByRole('button', { name: 'Confirm' }),
    );
    expect(await screen.findByTestId('canary-action-result')).toHaveTextContent(
      'Rollout paused: the rollout is now paused at 25 %.',
    );
    expect(controls).toEqual(['abort', 'pause {}']);
  });
});
