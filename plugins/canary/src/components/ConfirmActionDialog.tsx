import { ReactNode, useEffect, useState } from 'react';
import {
  Button,
  CircularProgress,
  Dialog,
  DialogActions,
  DialogContent,
  DialogContentText,
  DialogTitle,
  TextField,
} from '@material-ui/core';
import { Alert } from '@material-ui/lab';
import { describeError } from '../lib/errors';

/**
 * Asks before an action, says what it will do, runs it and stays open with
 * the server's reason when it fails. Closes itself only on success.
 */
export function ConfirmActionDialog(props: {
  open: boolean;
  title: string;
  description: ReactNode;
  /** Extra fields between the description and the reason. */
  children?: ReactNode;
  /** Offer a free-text reason, recorded with the action. */
  askReason?: boolean;
  /** Disable Confirm, e.g. while a field is invalid. */
  confirmDisabled?: boolean;
  onCancel: () => void;
  onConfirm: (reason: string) => Promise<void>;
}) {
  const { open, onCancel, onConfirm } = props;
  const [reason, setReason] = useState('');
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string>();

  useEffect(() => {
    if (open) {
      setReason('');
      setError(undefined);
      setPending(false);
    }
  }, [open]);

  const confirm = async () => {
    setPending(true);
    setError(undefined);
    try {
      await onConfirm(reason.trim());
    } catch (e) {
      setError(describeError(e));
    } finally {
      setPending(false);
    }
  };

  const titleId = 'canary-confirm-title';
  return (
    <Dialog
      open={open}
      onClose={pending ? undefined : onCancel}
      aria-labelledby={titleId}
      data-testid="canary-confirm-dialog"
      maxWidth="sm"
      fullWidth
    >
      <DialogTitle id={titleId}>{props.title}</DialogTitle>
      <DialogContent>
        <DialogContentText component="div">
          {props.description}
        </DialogContentText>
        {props.children}
        {props.askReason && (
          <TextField
            id="canary-action-reason"
            label="Reason (optional)"
            value={reason}
            onChange={e => setReason(e.target.value)}
            fullWidth
            margin="dense"
            helperText="Recorded in the rollout's events and the audit log."
            disabled={pending}
          />
        )}
        {error && (
          <Alert
            severity="error"
            data-testid="canary-action-error"
            style={{ marginTop: 16 }}
          >
            {error}
          </Alert>
        )}
      </DialogContent>
      <DialogActions>
        <Button onClick={onCancel} disabled={pending}>
          Cancel
        </Button>
        <Button
          onClick={confirm}
          color="primary"
          variant="contained"
          disabled={pending || props.confirmDisabled}
          startIcon={pending ? <CircularProgress size={16} /> : undefined}
        >
          Confirm
        </Button>
      </DialogActions>
    </Dialog>
  );
}
