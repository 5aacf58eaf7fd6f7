import { screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { renderInTestApp } from '@backstage/test-utils';
import { entityRouteRef } from '@backstage/plugin-catalog-react';
import { events } from '../__testUtils__/fixtures';
import { EventTimeline } from './EventTimeline';

const tick = (id: number, action: string) => ({
  id,
  rolloutId: 'r-2',
  time: `2026-11-22T10:0${id}:30.000Z`,
  type: 'analysis',
  message: `Analysis: ${action}`,
  actor: 'coalmine',
  data: { action },
});

describe('EventTimeline', () => {
  it('hides passing analysis ticks until asked, keeps the ones that changed something', async () => {
    await renderInTestApp(
      <EventTimeline
        events={[
          ...events,
          tick(4, 'advance'),
          tick(5, 'advance'),
          tick(6, 'rollback'),
        ]}
      />,
      { mountedRoutes: { '/catalog/:namespace/:kind/:name': entityRouteRef } },
    );
    const types = () =>
      screen
        .getAllByTestId('canary-event')
        .map(item => item.getAttribute('data-event-type'));
    expect(types()).toEqual(['analysis', 'webhook', 'step', 'phase']);
    expect(screen.getByText('Analysis: rollback')).toBeInTheDocument();
    // People link to their catalog page; the engine is named as it is.
    expect(screen.getByRole('link', { name: 'alice' })).toHaveAttribute(
      'href',
      '/catalog/default/user/alice',
    );
    expect(screen.getAllByText(/· coalmine/).length).toBeGreaterThan(0);

    await userEvent.click(
      screen.getByLabelText('Show 2 passing analysis ticks'),
    );
    expect(types()).toHaveLength(6);
  });

  it('says when nothing happened yet', async () => {
    await renderInTestApp(<EventTimeline events={[]} />);
    expect(screen.getByText('No events yet.')).toBeInTheDocument();
  });
});
