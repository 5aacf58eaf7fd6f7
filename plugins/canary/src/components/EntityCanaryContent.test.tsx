import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { EntityCanaryContent } from './EntityCanaryContent';
import { fakeCanaryApi } from '../__testUtils__/fakeCanaryApi';
import {
  bareEntity,
  details,
  finishedRollout,
  responseError,
  rollout,
  status,
  target,
} from '../__testUtils__/fixtures';
import { renderWithEntity } from '../__testUtils__/renderWithEntity';

const fast = { activeMs: 50, idleMs: 50 };

describe('EntityCanaryContent', () => {
  it('asks for the policy annotation on a component without it', async () => {
    const canaryApi = fakeCanaryApi();
    await renderWithEntity(<EntityCanaryContent />, {
      canaryApi,
      entity: bareEntity,
    });
    expect(screen.getByText(/Missing Annotation/i)).toBeInTheDocument();
    expect(screen.getAllByText(/coalmine\.io\/policy/).length).toBeGreaterThan(
      0,
    );
    expect(canaryApi.getEntityStatus).not.toHaveBeenCalled();
  });

  it('explains a configuration error with the key to change', async () => {
    const canaryApi = fakeCanaryApi({
      getEntityStatus: jest.fn(async () =>
        status({
          target: null,
          active: null,
          history: [],
          problems: [
            {
              key: 'coalmine.io/policy',
              message:
                'policy "fast" is not in canary.policies (known: standard, careful)',
            },
          ],
        }),
      ),
    });
    await renderWithEntity(<EntityCanaryContent />, { canaryApi });
    const problems = await screen.findByTestId('canary-problems');
    expect(problems).toHaveTextContent('cannot run rollouts');
    const problem = within(problems)
      .getByText(/is not in canary.policies/)
      .closest('li');
    expect(problem).toHaveAttribute('data-key', 'coalmine.io/policy');
    expect(problem).toHaveTextContent('coalmine.io/policy');
    expect(
      screen.queryByRole('button', { name: 'Start' }),
    ).not.toBeInTheDocument();
  });

  it('shows the backend unreachable with a retry that recovers', async () => {
    const getEntityStatus = jest
      .fn()
      .mockRejectedValueOnce(new Error('Failed to fetch'))
      .mockResolvedValue(status({ active: null, history: [] }));
    const canaryApi = fakeCanaryApi({ getEntityStatus });
    await renderWithEntity(
      <EntityCanaryContent pollIntervals={{ idleMs: 60_000 }} />,
      { canaryApi },
    );
    const panel = await screen.findByTestId('canary-unreachable');
    expect(panel).toHaveTextContent('Could not reach the Coalmine backend');
    expect(panel).toHaveTextContent('Failed to fetch');
    await userEvent.click(screen.getByRole('button', { name: 'Try again' }));
    expect(await screen.findByText('No rollout yet')).toBeInTheDocument();
  });

  it('tells a refused read apart from an unreachable backend', async () => {
    const canaryApi = fakeCanaryApi({
      getEntityStatus: jest.fn(async () => {
        throw await responseError(
          403,
          'Forbidden',
          'NotAllowedError',
          'You may not read rollouts of component:default/checkout',
        );
      }),
    });
    await renderWithEntity(
      <EntityCanaryContent pollIntervals={{ idleMs: 60_000 }} />,
      { canaryApi },
    );
    const panel = await screen.findByTestId('canary-forbidden');
    expect(panel).toHaveTextContent(
      'You may not see the rollouts of this component (canary.rollout.read)',
    );
    expect(screen.queryByTestId('canary-unreachable')).toBeNull();
  });

  it('offers Start when there has been no rollout yet and starts one', async () => {
    const canaryApi = fakeCanaryApi({
      getEntityStatus: jest.fn(async () =>
        status({ active: null, history: [] }),
      ),
      startRollout: jest.fn(async () =>
        rollout({ phase: 'Pending', weight: 0, stepIndex: -1 }),
      ),
    });
    await renderWithEntity(
      <EntityCanaryContent pollIntervals={{ idleMs: 60_000 }} />,
      { canaryApi },
    );
    const empty = await screen.findByTestId('canary-empty');
    // The controls are found the same way as on a rollout.
    expect(
      within(empty).getByRole('group', { name: 'Rollout controls' }),
    ).toBeInTheDocument();
    expect(empty).toHaveTextContent('5 % → 25 % → 50 % → 100 %');
    expect(
      await within(empty).findByTestId('canary-pipeline-snippet'),
    ).toHaveTextContent(
      'curl -fsS -X POST http://backstage.test/api/canary/rollouts',
    );
    await userEvent.click(within(empty).getByRole('button', { name: 'Start' }));
    const dialog = await screen.findByRole('dialog', {
      name: 'Start a canary rollout?',
    });
    await userEvent.type(
      within(dialog).getByLabelText('New canary image (optional)'),
      'shop/checkout:1.5.0',
    );
    await userEvent.click(
      within(dialog).getByRole('button', { name: 'Confirm' }),
    );
    await waitFor(() =>
      expect(canaryApi.startRollout).toHaveBeenCalledWith({
        entityRef: target.entityRef,
        image: 'shop/checkout:1.5.0',
        cluster: 'sandbox',
      }),
    );
    expect(await screen.findByTestId('canary-action-result')).toHaveTextContent(
      'Rollout started on sandbox',
    );
    await waitFor(() =>
      expect(screen.queryByRole('dialog')).not.toBeInTheDocument(),
    );
  });

  it('shows the active rollout: phase, steps, split, versions and where it runs', async () => {
    const canaryApi = fakeCanaryApi();
    await renderWithEntity(
      <EntityCanaryContent pollIntervals={{ activeMs: 60_000 }} />,
      {
        canaryApi,
      },
    );
    const phase = await screen.findByTestId('canary-phase');
    expect(phase).toHaveAttribute('data-phase', 'Progressing');
    expect(phase).toHaveTextContent('Progressing');
    expect(screen.getByTestId('canary-weight')).toHaveTextContent('25 %');
    expect(screen.getByTestId('canary-weight')).toHaveAttribute(
      'data-weight',
      '25',
    );
    expect(screen.getByTestId('canary-actual-weight')).toHaveTextContent(
      '24.6 %',
    );
    const steps = screen.getByTestId('canary-steps');
    expect(steps).toHaveTextContent('5 %');
    expect(steps).toHaveTextContent('approval');
    expect(screen.getByTestId('canary-step-1')).toHaveAttribute(
      'aria-current',
      'step',
    );
    expect(screen.getByTestId('canary-stable-version')).toHaveTextContent(
      'v1.3.0',
    );
    expect(screen.getByTestId('canary-stable-version')).toHaveTextContent(
      'shop/checkout:1.3.0',
    );
    expect(screen.getByTestId('canary-canary-version')).toHaveTextContent(
      'v1.4.0',
    );
    // The pods the cluster reports for each version.
    expect(screen.getByTestId('canary-stable-version')).toHaveTextContent(
      '8/8 pods available',
    );
    expect(screen.getByTestId('canary-canary-version')).toHaveTextContent(
      '1/2 pods available',
    );
    expect(screen.getByTestId('canary-location')).toHaveTextContent(
      'sandbox / shop',
    );
    expect(screen.getByTestId('canary-next-step')).toHaveTextContent(/^in /);
    expect(screen.getByTestId('canary-elapsed')).not.toHaveTextContent('–');
    expect(screen.getByTestId('canary-live')).toHaveAttribute(
      'data-live',
      'fast',
    );
  });

  it("says when the cluster did not report a version's pods", async () => {
    const active = rollout();
    const canaryApi = fakeCanaryApi({
      getEntityStatus: jest.fn(async () =>
        status({
          active: {
            ...active,
            canary: { ...active.canary, pods: undefined },
          },
        }),
      ),
    });
    await renderWithEntity(
      <EntityCanaryContent pollIntervals={{ activeMs: 60_000 }} />,
      { canaryApi },
    );
    const canary = await screen.findByTestId('canary-canary-version');
    expect(canary).toHaveTextContent(
      'pods not known: the cluster did not report them',
    );
    expect(canary).not.toHaveTextContent('pods available');
    expect(screen.getByTestId('canary-stable-version')).toHaveTextContent(
      '8/8 pods available',
    );
  });

  it('explains every gate and draws a chart per gated metric', async () => {
    const canaryApi = fakeCanaryApi();
    await renderWithEntity(
      <EntityCanaryContent pollIntervals={{ activeMs: 60_000 }} />,
      {
        canaryApi,
      },
    );
    const errorGate = await screen.findByTestId('gate-error-rate');
    expect(errorGate).toHaveAttribute('data-verdict', 'fail');
    expect(screen.getByTestId('gate-error-rate-evidence')).toHaveTextContent(
      'canary error rate 4.1 % vs stable 0.3 %: rollback',
    );
    expect(errorGate).toHaveTextContent('4.1 %');
    expect(errorGate).toHaveTextContent('≤ 1 %');
    expect(screen.getByTestId('gate-latency-p99')).toHaveAttribute(
      'data-verdict',
      'pass',
    );
    expect(screen.getByTestId('gate-latency-p99-evidence')).toHaveTextContent(
      ': ok',
    );
    expect(screen.getByTestId('canary-decision')).toHaveAttribute(
      'data-action',
      'rollback',
    );
    const ticks = within(
      screen.getByTestId('canary-decision-strip'),
    ).getAllByRole('listitem');
    expect(ticks.map(tick => tick.getAttribute('data-action'))).toEqual([
      'advance',
      'rollback',
    ]);

    const chart = await screen.findByTestId('chart-error-rate');
    expect(chart).toHaveTextContent(
      'error-rate: canary 4.1 % vs stable 0.3 %, bound ≤ 1 %',
    );
    expect(chart.querySelector('.recharts-reference-line')).not.toBeNull();
    expect(chart.querySelector('.recharts-reference-area')).not.toBeNull();
    expect(chart.querySelectorAll('.recharts-line')).toHaveLength(2);
  });

  it('shows the events newest first with who did what', async () => {
    const canaryApi = fakeCanaryApi();
    await renderWithEntity(
      <EntityCanaryContent pollIntervals={{ activeMs: 60_000 }} />,
      {
        canaryApi,
      },
    );
    await waitFor(() =>
      expect(screen.getAllByTestId('canary-event')).toHaveLength(3),
    );
    const items = screen.getAllByTestId('canary-event');
    expect(items[0]).toHaveTextContent('Webhook load-test answered 200');
    expect(items[2]).toHaveTextContent('Rollout started');
    expect(
      within(items[2]).getByRole('link', { name: 'alice' }),
    ).toHaveAttribute('href', '/catalog/default/user/alice');
  });

  it('shows the controls the phase allows', async () => {
    const canaryApi = fakeCanaryApi();
    await renderWithEntity(
      <EntityCanaryContent pollIntervals={{ activeMs: 60_000 }} />,
      {
        canaryApi,
      },
    );
    const controls = await screen.findByRole('group', {
      name: 'Rollout controls',
    });
    await waitFor(() =>
      expect(
        within(controls).getByRole('button', { name: 'Abort' }),
      ).toBeEnabled(),
    );
    expect(
      within(controls).getByRole('button', { name: 'Pause' }),
    ).toBeEnabled();
    expect(
      within(controls).getByRole('button', { name: 'Promote' }),
    ).toBeEnabled();
    expect(
      within(controls).queryByRole('button', { name: 'Resume' }),
    ).toBeNull();
    expect(
      within(controls).queryByRole('button', { name: 'Retry' }),
    ).toBeNull();
    expect(
      within(controls).queryByRole('button', { name: 'Start' }),
    ).toBeNull();
  });

  it('offers Approve at a manual gate and Resume when paused', async () => {
    const getEntityStatus = jest.fn().mockResolvedValueOnce(
      status({
        active: rollout({
          phase: 'AwaitingApproval',
          stepIndex: 2,
          weight: 50,
        }),
      }),
    );
    const canaryApi = fakeCanaryApi({ getEntityStatus });
    const { unmount } = await renderWithEntity(
      <EntityCanaryContent pollIntervals={{ activeMs: 60_000 }} />,
      { canaryApi },
    );
    expect(
      await screen.findByRole('button', { name: 'Approve' }),
    ).toBeInTheDocument();
    expect(screen.getByTestId('canary-next-step')).toHaveTextContent(
      'waits for approval',
    );
    expect(screen.getByTestId('canary-callout')).toHaveTextContent(
      'Waiting for a person: approve to move on to 100 %',
    );
    expect(screen.getByRole('button', { name: 'Pause' })).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Resume' })).toBeNull();
    unmount();

    getEntityStatus.mockResolvedValue(
      status({ active: rollout({ phase: 'Paused' }) }),
    );
    await renderWithEntity(
      <EntityCanaryContent pollIntervals={{ activeMs: 60_000 }} />,
      {
        canaryApi,
      },
    );
    expect(
      await screen.findByRole('button', { name: 'Resume' }),
    ).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Pause' })).toBeNull();
  });

  it("opens the approval straight from a notification's link", async () => {
    const waiting = rollout({
      phase: 'AwaitingApproval',
      stepIndex: 2,
      weight: 50,
    });
    const canaryApi = fakeCanaryApi({
      getEntityStatus: jest.fn(async () => status({ active: waiting })),
    });
    window.history.pushState({}, '', `/?approve=${waiting.id}`);
    try {
      await renderWithEntity(
        <EntityCanaryContent pollIntervals={{ activeMs: 60_000 }} />,
        { canaryApi },
      );
      const dialog = await screen.findByRole('dialog');
      expect(dialog).toHaveTextContent(/approve/i);
    } finally {
      window.history.pushState({}, '', '/');
    }
  });

  it('does not open the approval for another rollout or without the permission', async () => {
    const waiting = rollout({
      phase: 'AwaitingApproval',
      stepIndex: 2,
      weight: 50,
    });
    const canaryApi = fakeCanaryApi({
      getEntityStatus: jest.fn(async () => status({ active: waiting })),
    });
    window.history.pushState({}, '', `/?approve=someone-elses`);
    try {
      const { unmount } = await renderWithEntity(
        <EntityCanaryContent pollIntervals={{ activeMs: 60_000 }} />,
        { canaryApi },
      );
      await screen.findByRole('button', { name: 'Approve' });
      expect(screen.queryByRole('dialog')).toBeNull();
      unmount();
      window.history.pushState({}, '', `/?approve=${waiting.id}`);
      await renderWithEntity(
        <EntityCanaryContent pollIntervals={{ activeMs: 60_000 }} />,
        { canaryApi, deny: ['canary.rollout.approve'] },
      );
      await screen.findByRole('button', { name: 'Approve' });
      await waitFor(() =>
        expect(screen.getByRole('button', { name: 'Approve' })).toBeDisabled(),
      );
      expect(screen.queryByRole('dialog')).toBeNull();
    } finally {
      window.history.pushState({}, '', '/');
    }
  });

  it('aborts after confirmation, with the reason, and shows the outcome', async () => {
    const canaryApi = fakeCanaryApi({
      controlRollout: jest.fn(async () =>
        rollout({ phase: 'Aborted', weight: 0 }),
      ),
    });
    await renderWithEntity(
      <EntityCanaryContent pollIntervals={{ activeMs: 60_000 }} />,
      {
        canaryApi,
      },
    );
    const abort = await screen.findByRole('button', { name: 'Abort' });
    await waitFor(() => expect(abort).toBeEnabled());
    await userEvent.click(abort);
    const dialog = await screen.findByRole('dialog', {
      name: 'Abort this rollout?',
    });
    expect(dialog).toHaveTextContent(
      'Send all traffic back to the stable version v1.3.0 now and scale the canary v1.4.0 down',
    );
    expect(canaryApi.controlRollout).not.toHaveBeenCalled();
    await userEvent.type(
      within(dialog).getByLabelText('Reason (optional)'),
      'error budget burnt',
    );
    await userEvent.click(
      within(dialog).getByRole('button', { name: 'Confirm' }),
    );
    await waitFor(() =>
      expect(canaryApi.controlRollout).toHaveBeenCalledWith('r-2', 'abort', {
        reason: 'error budget burnt',
      }),
    );
    expect(await screen.findByTestId('canary-action-result')).toHaveTextContent(
      'Abort requested: the rollout is now aborted at 0 %.',
    );
    // The status is read again at once rather than at the next poll.
    await waitFor(() =>
      expect(canaryApi.getEntityStatus).toHaveBeenCalledTimes(2),
    );
  });

  it('keeps the dialog open with the reason when the call fails', async () => {
    const canaryApi = fakeCanaryApi({
      controlRollout: jest.fn(async () => {
        throw await responseError(
          409,
          'Conflict',
          'ConflictError',
          'Rollout r-2 is already promoting',
        );
      }),
    });
    await renderWithEntity(
      <EntityCanaryContent pollIntervals={{ activeMs: 60_000 }} />,
      {
        canaryApi,
      },
    );
    const promote = await screen.findByRole('button', { name: 'Promote' });
    await waitFor(() => expect(promote).toBeEnabled());
    await userEvent.click(promote);
    const dialog = await screen.findByRole('dialog', {
      name: 'Promote the canary now?',
    });
    expect(dialog).toHaveTextContent('v1.4.0 becomes the stable version');
    await userEvent.click(
      within(dialog).getByRole('button', { name: 'Confirm' }),
    );
    const error = await within(dialog).findByTestId('canary-action-error');
    expect(error).toHaveTextContent(
      'Rollout r-2 is already promoting (409 Conflict)',
    );
    expect(screen.queryByTestId('canary-action-result')).toBeNull();
    await userEvent.click(
      within(dialog).getByRole('button', { name: 'Cancel' }),
    );
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
  });

  it('disables a control the user may not use and says why', async () => {
    const canaryApi = fakeCanaryApi();
    await renderWithEntity(
      <EntityCanaryContent pollIntervals={{ activeMs: 60_000 }} />,
      {
        canaryApi,
        deny: ['canary.rollout.abort'],
      },
    );
    const reason = await screen.findByText(
      'You need canary.rollout.abort on this component — ask its owner (group:default/payments)',
    );
    const abort = screen.getByRole('button', { name: 'Abort' });
    expect(abort).toBeDisabled();
    expect(abort).toHaveAccessibleDescription(reason.textContent!);
    await waitFor(() =>
      expect(screen.getByRole('button', { name: 'Pause' })).toBeEnabled(),
    );
    expect(canaryApi.controlRollout).not.toHaveBeenCalled();
  });

  it('lets the user pick the cluster when the component runs on several', async () => {
    const canaryApi = fakeCanaryApi({
      getEntityStatus: jest.fn(async () =>
        status({
          active: null,
          history: [],
          target: { ...target, clusters: ['eu-west', 'us-east'] },
        }),
      ),
      startRollout: jest.fn(async () => rollout({ cluster: 'us-east' })),
    });
    await renderWithEntity(
      <EntityCanaryContent pollIntervals={{ idleMs: 60_000 }} />,
      { canaryApi },
    );
    const start = await screen.findByRole('button', { name: 'Start' });
    await waitFor(() => expect(start).toBeEnabled());
    await userEvent.click(start);
    const dialog = await screen.findByRole('dialog', {
      name: 'Start a canary rollout?',
    });
    await userEvent.click(
      within(dialog).getByRole('button', { name: /Cluster/ }),
    );
    await userEvent.click(
      await screen.findByRole('option', { name: 'us-east' }),
    );
    await userEvent.click(
      within(dialog).getByRole('button', { name: 'Confirm' }),
    );
    await waitFor(() =>
      expect(canaryApi.startRollout).toHaveBeenCalledWith({
        entityRef: target.entityRef,
        cluster: 'us-east',
      }),
    );
    expect(await screen.findByTestId('canary-action-result')).toHaveTextContent(
      'Rollout started on us-east',
    );
  });

  it('checks the version label before starting', async () => {
    const canaryApi = fakeCanaryApi({
      getEntityStatus: jest.fn(async () =>
        status({ active: null, history: [] }),
      ),
    });
    await renderWithEntity(
      <EntityCanaryContent pollIntervals={{ idleMs: 60_000 }} />,
      {
        canaryApi,
      },
    );
    const start = await screen.findByRole('button', { name: 'Start' });
    await waitFor(() => expect(start).toBeEnabled());
    await userEvent.click(start);
    const dialog = await screen.findByRole('dialog', {
      name: 'Start a canary rollout?',
    });
    const version = within(dialog).getByLabelText('Version label (optional)');
    await userEvent.type(version, 'v1.5 beta');
    expect(
      within(dialog).getByRole('button', { name: 'Confirm' }),
    ).toBeDisabled();
    expect(dialog).toHaveTextContent('at most 63 characters');
    await userEvent.clear(version);
    await userEvent.type(version, 'v1.5.0-beta');
    expect(
      within(dialog).getByRole('button', { name: 'Confirm' }),
    ).toBeEnabled();
  });

  it('disables Start without canary.rollout.create', async () => {
    const canaryApi = fakeCanaryApi({
      getEntityStatus: jest.fn(async () =>
        status({ active: null, history: [] }),
      ),
    });
    await renderWithEntity(
      <EntityCanaryContent pollIntervals={{ idleMs: 60_000 }} />,
      {
        canaryApi,
        deny: ['canary.rollout.create'],
      },
    );
    await screen.findByText(/You need canary.rollout.create on this component/);
    expect(screen.getByRole('button', { name: 'Start' })).toBeDisabled();
  });

  it('follows a running rollout without a reload, then slows down once it is done', async () => {
    // The backend's answer changes while the tab is open, as a rollout would.
    let current = status();
    const getEntityStatus = jest.fn(async () => current);
    const canaryApi = fakeCanaryApi({ getEntityStatus });
    const { unmount } = await renderWithEntity(
      <EntityCanaryContent pollIntervals={{ activeMs: 100, idleMs: 60_000 }} />,
      { canaryApi },
    );
    expect(await screen.findByTestId('canary-weight')).toHaveTextContent(
      '25 %',
    );

    current = status({ active: rollout({ stepIndex: 2, weight: 50 }) });
    await waitFor(
      () =>
        expect(screen.getByTestId('canary-weight')).toHaveTextContent('50 %'),
      {
        timeout: 10_000,
      },
    );

    current = status({
      active: null,
      history: [
        rollout({
          phase: 'Succeeded',
          stepIndex: 3,
          weight: 100,
          finishedAt: '2026-11-22T10:09:00.000Z',
          updatedAt: '2026-11-22T10:09:00.000Z',
        }),
        finishedRollout(),
      ],
    });
    await waitFor(
      () =>
        expect(screen.getByTestId('canary-phase')).toHaveAttribute(
          'data-phase',
          'Succeeded',
        ),
      { timeout: 10_000 },
    );
    expect(screen.getByTestId('canary-live')).toHaveAttribute(
      'data-live',
      'slow',
    );
    expect(screen.getByRole('button', { name: 'Start' })).toBeInTheDocument();
    // Once finished the tab polls at the idle interval (a minute here):
    // no more calls arrive during ten active intervals.
    const callsWhenDone = getEntityStatus.mock.calls.length;
    await new Promise(resolve => setTimeout(resolve, 1000));
    expect(getEntityStatus.mock.calls.length).toBe(callsWhenDone);
    unmount();
  }, 30_000);

  it('stops polling when the tab is closed', async () => {
    const canaryApi = fakeCanaryApi();
    const { unmount } = await renderWithEntity(
      <EntityCanaryContent pollIntervals={fast} />,
      {
        canaryApi,
      },
    );
    await waitFor(
      () =>
        expect(canaryApi.getEntityStatus.mock.calls.length).toBeGreaterThan(2),
      {
        timeout: 10_000,
      },
    );
    unmount();
    const callsAtUnmount = canaryApi.getEntityStatus.mock.calls.length;
    await new Promise(resolve => setTimeout(resolve, 300));
    expect(canaryApi.getEntityStatus.mock.calls.length).toBe(callsAtUnmount);
  }, 30_000);

  it('keeps the controls group while a rollout finishes by itself', async () => {
    const canaryApi = fakeCanaryApi({
      getEntityStatus: jest.fn(async () =>
        status({ active: rollout({ phase: 'Promoting', weight: 100 }) }),
      ),
    });
    await renderWithEntity(
      <EntityCanaryContent pollIntervals={{ activeMs: 60_000 }} />,
      { canaryApi },
    );
    const group = await screen.findByRole('group', {
      name: 'Rollout controls',
    });
    expect(group).toHaveTextContent(
      'Nothing to press while the rollout is promoting',
    );
    expect(within(group).queryByRole('button')).toBeNull();
  });

  it('offers Retry and Start after a rollback', async () => {
    const rolledBack = rollout({
      phase: 'RolledBack',
      weight: 0,
      finishedAt: '2026-11-22T10:05:00.000Z',
      message: 'error-rate failed 2 times: rolled back',
    });
    const canaryApi = fakeCanaryApi({
      getEntityStatus: jest.fn(async () =>
        status({ active: null, history: [rolledBack, finishedRollout()] }),
      ),
      controlRollout: jest.fn(async () =>
        rollout({ id: 'r-3', phase: 'Pending', weight: 0 }),
      ),
    });
    await renderWithEntity(
      <EntityCanaryContent pollIntervals={{ idleMs: 60_000 }} />,
      {
        canaryApi,
      },
    );
    expect(await screen.findByTestId('canary-phase')).toHaveAttribute(
      'data-phase',
      'RolledBack',
    );
    expect(screen.getByTestId('canary-message')).toHaveTextContent(
      'rolled back',
    );
    expect(screen.getByTestId('canary-callout')).toHaveTextContent(
      'v1.4.0 was rolled back; all traffic is on v1.3.0.',
    );
    const retry = screen.getByRole('button', { name: 'Retry' });
    await waitFor(() => expect(retry).toBeEnabled());
    expect(screen.getByRole('button', { name: 'Start' })).toBeInTheDocument();
    await userEvent.click(retry);
    const dialog = await screen.findByRole('dialog', {
      name: 'Retry this rollout?',
    });
    await userEvent.click(
      within(dialog).getByRole('button', { name: 'Confirm' }),
    );
    await waitFor(() =>
      expect(canaryApi.controlRollout).toHaveBeenCalledWith('r-2', 'retry', {}),
    );
    expect(await screen.findByTestId('canary-action-result')).toHaveTextContent(
      'New rollout started',
    );
  });

  it('lists past rollouts and fetches their analysis on demand', async () => {
    const past = finishedRollout();
    const canaryApi = fakeCanaryApi({
      getRollout: jest.fn(async (id: string) =>
        id === 'r-1'
          ? details({
              rollout: past,
              events: [
                {
                  id: 9,
                  rolloutId: 'r-1',
                  time: '2026-11-21T09:10:00.000Z',
                  type: 'control',
                  message: 'Promoted by hand',
                  actor: 'user:default/bob',
                  data: { control: 'promote' },
                },
              ],
            })
          : details(),
      ),
    });
    await renderWithEntity(
      <EntityCanaryContent pollIntervals={{ activeMs: 60_000 }} />,
      {
        canaryApi,
      },
    );
    const row = await screen.findByTestId('canary-history-row-r-1');
    expect(row).toHaveTextContent('v1.2.0 → v1.3.0');
    expect(row).toHaveTextContent('Succeeded');
    expect(row).toHaveTextContent('12 min 30 s');
    expect(canaryApi.getRollout).not.toHaveBeenCalledWith('r-1');
    await userEvent.click(
      screen.getByRole('button', { name: 'Show analysis of rollout r-1' }),
    );
    const panel = await screen.findByTestId('canary-history-details-r-1');
    expect(canaryApi.getRollout).toHaveBeenCalledWith('r-1');
    expect(
      await within(panel).findByTestId('canary-history-decider'),
    ).toHaveTextContent('Promoted by user:default/bob');
    expect(
      within(panel).getByTestId('history-gate-error-rate'),
    ).toBeInTheDocument();
  });
});
