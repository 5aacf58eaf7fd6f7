import { screen } from '@testing-library/react';
import { EntityCanaryCard } from './EntityCanaryCard';
import { fakeCanaryApi } from '../__testUtils__/fakeCanaryApi';
import {
  analysisResult,
  bareEntity,
  rollout,
  status,
} from '../__testUtils__/fixtures';
import { renderWithEntity } from '../__testUtils__/renderWithEntity';

describe('EntityCanaryCard', () => {
  it('shows phase, weight and the last verdict with a link to the tab', async () => {
    const canaryApi = fakeCanaryApi({
      getEntityStatus: jest.fn(async () =>
        status({ active: rollout({ lastAnalysis: analysisResult() }) }),
      ),
    });
    await renderWithEntity(
      <EntityCanaryCard pollIntervals={{ activeMs: 60_000 }} />,
      {
        canaryApi,
      },
    );
    expect(await screen.findByTestId('canary-card-phase')).toHaveAttribute(
      'data-phase',
      'Progressing',
    );
    expect(screen.getByTestId('canary-card-weight')).toHaveTextContent('25 %');
    expect(screen.getByTestId('canary-card-verdict')).toHaveTextContent(
      'Last verdict: rollback — error-rate failing',
    );
    expect(
      screen.getByRole('link', { name: 'Open the Canary tab' }),
    ).toHaveAttribute('href', '/catalog/default/component/checkout/canary');
  });

  it('counts passing gates when nothing fails', async () => {
    const checks = analysisResult().checks;
    const canaryApi = fakeCanaryApi({
      getEntityStatus: jest.fn(async () =>
        status({
          active: rollout({
            lastAnalysis: analysisResult({
              action: 'advance',
              checks: [{ ...checks[0], verdict: 'inconclusive' }, checks[1]],
            }),
          }),
        }),
      ),
    });
    await renderWithEntity(
      <EntityCanaryCard pollIntervals={{ activeMs: 60_000 }} />,
      {
        canaryApi,
      },
    );
    expect(await screen.findByTestId('canary-card-verdict')).toHaveTextContent(
      'advance — 1 of 2 gates pass',
    );
  });

  it('says how to opt in on a component without the annotation', async () => {
    const canaryApi = fakeCanaryApi();
    await renderWithEntity(<EntityCanaryCard />, {
      canaryApi,
      entity: bareEntity,
    });
    expect(screen.getByText('coalmine.io/policy')).toBeInTheDocument();
    expect(canaryApi.getEntityStatus).not.toHaveBeenCalled();
  });

  it('shows the error when the backend cannot be reached', async () => {
    const canaryApi = fakeCanaryApi({
      getEntityStatus: jest.fn(async () => {
        throw new Error('connect ECONNREFUSED');
      }),
    });
    await renderWithEntity(
      <EntityCanaryCard pollIntervals={{ idleMs: 60_000 }} />,
      {
        canaryApi,
      },
    );
    expect((await screen.findAllByText(/ECONNREFUSED/)).length).toBeGreaterThan(
      0,
    );
  });
});
