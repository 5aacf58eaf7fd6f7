import { useEffect, useRef, useState } from 'react';
import { useApi } from '@backstage/core-plugin-api';
import {
  Rollout,
  RolloutControl,
  canaryControlPermissions,
} from '@coalmine/backstage-plugin-canary-common';
import { canaryApiRef } from '../api';
import { useCanaryPermission } from '../hooks/useCanaryPermission';
import {
  CONTROL_LABELS,
  CONTROL_QUESTIONS,
  describeControl,
  describeControlResult,
} from '../lib/controls';
import { ConfirmActionDialog } from './ConfirmActionDialog';
import { PermissionedButton } from './PermissionedButton';

/**
 * One control of a rollout (Promote, Abort, …): checks its permission,
 * asks for confirmation, calls the backend and reports the outcome.
 */
export function ControlButton(props: {
  control: RolloutControl;
  rollout: Rollout;
  onDone: (message: string, result: Rollout) => void;
}) {
  const { control, rollout, onDone } = props;
  const canaryApi = useApi(canaryApiRef);
  const permission = useCanaryPermission(canaryControlPermissions[control]);
  const [open, setOpen] = useState(false);
  const dangerous = control === 'abort';

  // A notification's approval link (…/canary?approve=<rollout id>) opens this
  // rollout's Approve dialog, once, when the user may approve.
  const linked = useRef(false);
  useEffect(() => {
    if (linked.current || control !== 'approve' || !permission.allowed) return;
    const wanted = new URLSearchParams(window.location.search).get('approve');
    if (wanted === rollout.id) {
      linked.current = true;
      setOpen(true);
    }
  }, [control, permission.allowed, rollout.id]);

  return (
    <>
      <PermissionedButton
        id={`canary-control-${control}`}
        label={CONTROL_LABELS[control]}
        permission={permission}
        color={dangerous ? 'secondary' : 'primary'}
        variant={
          control === 'promote' || control === 'approve'
            ? 'contained'
            : 'outlined'
        }
        onClick={() => setOpen(true)}
      />
      <ConfirmActionDialog
        open={open}
        title={CONTROL_QUESTIONS[control]}
        description={describeControl(control, rollout)}
        askReason
        onCancel={() => setOpen(false)}
        onConfirm={async reason => {
          const result = await canaryApi.controlRollout(
            rollout.id,
            control,
            reason ? { reason } : {},
          );
          setOpen(false);
          onDone(describeControlResult(control, result), result);
        }}
      />
    </>
  );
}
