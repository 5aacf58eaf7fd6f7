import { ReactNode } from 'react';
import { Box, Button, FormHelperText, Tooltip } from '@material-ui/core';
import type { CanaryPermission } from '../hooks/useCanaryPermission';

/**
 * A button that is disabled, never hidden, when the user lacks the
 * permission, with the reason as a tooltip and as text under it (which
 * also describes the button to screen readers).
 */
export function PermissionedButton(props: {
  label: string;
  id: string;
  permission: CanaryPermission;
  onClick: () => void;
  color?: 'primary' | 'secondary' | 'default';
  variant?: 'contained' | 'outlined' | 'text';
  startIcon?: ReactNode;
}) {
  const { permission } = props;
  const reasonId = `${props.id}-reason`;
  const button = (
    <Button
      color={props.color ?? 'default'}
      variant={props.variant ?? 'outlined'}
      disabled={!permission.allowed}
      onClick={props.onClick}
      startIcon={props.startIcon}
      aria-describedby={permission.reason ? reasonId : undefined}
      data-testid={props.id}
    >
      {props.label}
    </Button>
  );
  return (
    <Box
      display="inline-flex"
      flexDirection="column"
      mr={1}
      mb={1}
      maxWidth={320}
    >
      {permission.reason ? (
        <Tooltip title={permission.reason}>
          {/* A disabled button gets no pointer events; the span carries the tooltip. */}
          <span>{button}</span>
        </Tooltip>
      ) : (
        button
      )}
      {permission.reason && !permission.loading && (
        <FormHelperText id={reasonId}>{permission.reason}</FormHelperText>
      )}
    </Box>
  );
}
