import { useState } from 'react';
import { useApi } from '@backstage/core-plugin-api';
import {
  ExternalControlState,
  Rollout,
  canaryControlPermissions,
} from '@coalmine/backstage-plugin-canary-common';
import { canaryApiRef } from '../api';
import { useCanaryPermission } from '../hooks/useCanaryPermission';
import { phaseLabel } from '../lib/phases';
import { ConfirmActionDialog } from './ConfirmActionDialog';
import { PermissionedButton } from './PermissionedButton';

/**
 * One control of a rollout Flagger or Argo Rollouts runs: the backend says
 * whether the controller offers it now (and why not); the entity-scoped
 * permission decides whether this user may press it. Either reason
 * disables the button and is shown under it.
 */
export function ExternalControlButton(props: {
  state: ExternalControlState;
  rollout: Rollout;
  onDone: (message: string, result: Rollout) => void;
}) {
  const { state, rollout, onDone } = props;
  const canaryApi = useApi(canaryApiRef);
  const permission = useCanaryPermission(
    canaryControlPermissions[
      state.control === 'promote-full' ? 'promote' : state.control
    ],
  );
  const [open, setOpen] = useState(false);
  const effective = state.enabled
    ? permission
    : { allowed: false, loading: false, reason: state.reason };
  return (
    <>
      <PermissionedButton
        id={`canary-control-${state.control}`}
        label={state.label}
        permission={effective}
        color={state.control === 'abort' ? 'secondary' : 'primary'}
        variant={
          state.control === 'promote' || state.control === 'approve'
            ? 'contained'
            : 'outlined'
        }
        onClick={() => setOpen(true)}
      />
      <ConfirmActionDialog
        open={open}
        title={`${state.label}?`}
        description={`${state.description}.`}
        askReason
        onCancel={() => setOpen(false)}
        onConfirm={async reason => {
          const result = await canaryApi.controlRollout(
            rollout.id,
            state.control,
            reason ? { reason } : {},
          );
          setOpen(false);
          onDone(
            `${state.label} sent to ${
              rollout.controller?.kind === 'flagger'
                ? 'Flagger'
                : 'Argo Rollouts'
            }: now ${phaseLabel(result.phase).toLowerCase()} at ${
              result.weight
            } %.`,
            result,
          );
        }}
      />
    </>
  );
}
