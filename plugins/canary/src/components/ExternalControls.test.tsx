import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { EntityCanaryContent } from './EntityCanaryContent';
import { fakeCanaryApi } from '../__testUtils__/fakeCanaryApi';
import { details, rollout, status } from '../__testUtils__/fixtures';
import { renderWithEntity } from '../__testUtils__/renderWithEntity';

const argoRollout = rollout({
  id: 'ext.abc',
  policy: 'argo-rollouts',
  phase: 'AwaitingApproval',
  weight: 20,
  controller: {
    kind: 'argo-rollouts',
    apiVersion: 'argoproj.io/v1alpha1',
    objectKind: 'Rollout',
    name: 'rollouts-demo',
    namespace: 'demo',
    cluster: 'sandbox',
  },
  controls: [
    {
      control: 'promote',
      label: 'Promote',
      enabled: true,
      description:
        'kubectl argo rollouts promote: clears status.pauseConditions',
    },
    {
      control: 'approve',
      label: 'Approve',
      enabled: false,
      reason: 'Argo Rollouts has no approval gates',
      description: 'no such control',
    },
  ],
});

function api() {
  return fakeCanaryApi({
    getEntityStatus: jest.fn(async () =>
      status({ target: null, active: argoRollout, history: [argoRollout] }),
    ),
    getRollout: jest.fn(async () => details({ rollout: argoRollout })),
    controlRollout: jest.fn(async () => ({
      ...argoRollout,
      weight: 40,
      phase: 'Paused',
    })),
  });
}

describe('controls of another controller', () => {
  it('shows who runs the canary, the controller’s reason for a missing control, and promotes through the backend', async () => {
    const canaryApi = api();
    await renderWithEntity(<EntityCanaryContent />, { canaryApi });
    expect(
      await screen.findByText(
        /Run by Argo Rollouts \(Rollout demo\/rollouts-demo on sandbox\)/,
      ),
    ).toBeInTheDocument();
    expect(screen.getByTestId('canary-control-approve')).toBeDisabled();
    expect(
      screen.getByText('Argo Rollouts has no approval gates'),
    ).toBeInTheDocument();
    await waitFor(() =>
      expect(screen.getByTestId('canary-control-promote')).toBeEnabled(),
    );
    await userEvent.click(screen.getByTestId('canary-control-promote'));
    await userEvent.click(
      await screen.findByRole('button', { name: 'Confirm' }),
    );
    await waitFor(() =>
      expect(canaryApi.controlRollout).toHaveBeenCalledWith(
        'ext.abc',
        'promote',
        {},
      ),
    );
  });

  it('disables the controls for a user without the permission, saying which one', async () => {
    await renderWithEntity(<EntityCanaryContent />, {
      canaryApi: api(),
      deny: ['canary.rollout.promote'],
    });
    await waitFor(() =>
      expect(
        screen.getByText(/You need canary.rollout.promote on this component/),
      ).toBeInTheDocument(),
    );
    expect(screen.getByTestId('canary-control-promote')).toBeDisabled();
  });
});
